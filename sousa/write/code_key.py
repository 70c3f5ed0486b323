"""The code part of the reuse key: a digest of exactly the source files that make staged bytes.

Those are the modules `python -m sousa.package` runs to write a staging folder, found by
reading imports, not named by hand: every `sousa` module that `write/pipeline.py` imports,
directly or through another (at the top or inside a function), and the packages holding them;
plus the staged builder itself, as `write.builder_file.standalone_builder` produces it (so
whatever it inlines counts). The push side (`hub/`), the demo, the CLIs and the read side
(but for the builder) are not imported by the pipeline, so an edit to them keeps a packaged
folder current.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .builder_file import standalone_builder

PACKAGE = "sousa"
ENTRY = "write/pipeline.py"  # the library call that writes a staging folder


def output_modules(package_dir: Path | None = None) -> list[str]:
    """The `sousa` source files (relative to `package_dir`, sorted) the pipeline imports."""
    package_dir = package_dir or Path(__file__).parents[1]
    seen: set[str] = set()
    todo = [ENTRY]
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        parts = rel.split("/")[:-1]
        todo += [f"{'/'.join(parts[:i] + ['__init__.py'])}" for i in range(len(parts) + 1)]
        todo += _imported(package_dir, rel)
    return sorted(p for p in seen if (package_dir / p).is_file())


def code_fingerprint(package_dir: Path | None = None) -> str:
    """sha256 over `output_modules` (path and bytes) and the staged builder's bytes."""
    package_dir = package_dir or Path(__file__).parents[1]
    h = hashlib.sha256()
    for rel in output_modules(package_dir):
        h.update(f"{rel}\0".encode())
        h.update(hashlib.sha256((package_dir / rel).read_bytes()).digest())
    h.update(hashlib.sha256(standalone_builder(package_dir)).digest())
    return h.hexdigest()


_FROM_IMPORT = re.compile(
    r"^[ \t]*from[ \t]+(\.+[\w.]*|\w[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M
)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n]*)", re.M)


def _imported(package_dir: Path, rel: str) -> list[str]:
    """The `sousa` files that the module `rel` imports anywhere in its code (read as text, not
    parsed: a few ms for the package; an import written in a string counts too, which only
    widens the key)."""
    text = (package_dir / rel).read_text(encoding="utf-8")
    package = rel.split("/")[:-1]  # the package the module is in (for a package: itself)
    found: list[list[str]] = []
    for line in _IMPORT.findall(text):
        for name in line.split("#")[0].split(","):
            parts = name.split()[0].split(".") if name.split() else []
            if parts[:1] == [PACKAGE]:
                found.append(parts[1:])
    for source, names in _FROM_IMPORT.findall(text):
        dots = len(source) - len(source.lstrip("."))
        module = [p for p in source.lstrip(".").split(".") if p]
        if dots == 0 and module[:1] == [PACKAGE]:
            module = module[1:]
        elif dots and dots - 1 <= len(package):
            module = package[: len(package) - (dots - 1)] + module
        else:
            continue  # not ours
        words = re.findall(r"\w+", re.sub(r"#[^\n]*", "", names))
        found += [module, *([*module, w] for w in words if w != "as")]  # a name may be a module
    return [path for parts in found if (path := _file_of(package_dir, parts))]


def _file_of(package_dir: Path, parts: list[str]) -> str | None:
    """The file of module `parts` under `package_dir` (a module or a package), if any."""
    for rel in ("/".join([*parts, "__init__.py"]), "/".join(parts) + ".py"):
        if (package_dir / rel).is_file():
            return rel
    return None
