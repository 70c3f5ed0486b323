"""The code part of the reuse key: a digest of exactly the source files that make staged bytes.

Those are the modules `python -m sousa.package` runs to write a staging folder, found by
reading imports, not named by hand: every `sousa` module that `write/pipeline.py` imports,
directly or through another (at the top or inside a function), and the packages holding them;
plus the staged builder itself, as `read.builder_file.standalone_builder` produces it (so
whatever it inlines counts). The push side (`hub/`), the demo, the CLIs and the read side
(but for the builder) are not imported by the pipeline, so an edit to them keeps a packaged
folder current.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from ..read.builder_file import standalone_builder

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


def _imported(package_dir: Path, rel: str) -> list[str]:
    """The `sousa` files that the module `rel` imports anywhere in its code."""
    tree = ast.parse((package_dir / rel).read_text(encoding="utf-8"))
    package = rel.split("/")[:-1]  # the package the module is in (for a package: itself)
    found: list[list[str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == PACKAGE]
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        module = (node.module or "").split(".") if node.module else []
        if node.level == 0 and module[:1] == [PACKAGE]:
            module = module[1:]
        elif node.level and node.level - 1 <= len(package):
            module = package[: len(package) - (node.level - 1)] + module
        else:
            continue  # not ours
        found += [module, *([*module, a.name] for a in node.names)]  # a name may be a module
    return [path for parts in found if (path := _file_of(package_dir, parts))]


def _file_of(package_dir: Path, parts: list[str]) -> str | None:
    """The file of module `parts` under `package_dir` (a module or a package), if any."""
    for rel in ("/".join([*parts, "__init__.py"]), "/".join(parts) + ".py"):
        if (package_dir / rel).is_file():
            return rel
    return None
