"""The import graph of `sousa/` keeps the layering README.md's map states, and has no circle.

Read from the source with `ast` (every import, at module level or inside a function or an
`if TYPE_CHECKING:`), so it holds whatever a run happens to import.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sousa"

# What every side shares stands at the top of the package, beside the front doors.
SHARED = {"sousa", "layout", "tar_format", "limits", "errors", "progress", "staged", "epochs"}
FRONT_DOORS = {"package", "peek", "seed_api"}  # command lines and the seed's API: use any side
SIDES = {"write", "read", "hub", "card", "demo"}
# Which side may import which, besides itself and what is shared (README, "Layout of this
# repository"): packaging writes the card (the staged builder is write/builder_file.py's copy
# of read/ modules, read as text, not imported).
MAY_USE = {"write": {"card"}}


def module_name(path: Path) -> str:
    """`sousa/write/plan.py` → `sousa.write.plan`; a package's `__init__` is the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """The `sousa` modules that module `name` imports, anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from . import pulls` imports the module sousa.hub.pulls
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def group(name: str) -> str:
    """`shared`, `front door`, or the side a module belongs to (`write`, `read`, …)."""
    parts = name.split(".")
    if len(parts) == 1 or (len(parts) == 2 and parts[1] in SHARED):
        return "shared"
    if len(parts) == 2 and parts[1] in FRONT_DOORS | {"__main__"}:
        return "front door"
    assert parts[1] in SIDES, f"{name}: a module of no known layer; add it to the map and here"
    return parts[1]


def allowed(importer: str, imported: str) -> bool:
    side, target = group(importer), group(imported)
    if side == "front door" or target == "shared":
        return True
    if side == "shared":
        return False
    rel = imported.split(".", 1)[1]
    return target == side or any(rel == m or rel.startswith(m + ".") for m in MAY_USE.get(side, ()))


def test_no_import_runs_up_or_across_a_layer():
    """Shared modules import only shared ones; a side imports itself, what is shared, and
    what `MAY_USE` names; only the front doors (the CLIs, `seed_api`) reach every side."""
    wrong = sorted(
        f"{name} imports {dep}"
        for name in MODULES
        for dep in imports(name)
        if not allowed(name, dep)
    )
    assert not wrong, "\n".join(wrong)


def test_the_import_graph_has_no_circle():
    """No module imports, directly or through others, a module that imports it."""
    graph = {name: imports(name) for name in MODULES}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name) :] + [name]
            raise AssertionError("import circle: " + " → ".join(cycle))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_checker_sees_imports_of_every_form():
    """The parser resolves relative imports, `from . import x` and the package itself."""
    assert "sousa.hub.pulls" in imports("sousa.hub.push")
    assert "sousa.limits" in imports("sousa.hub.push")  # from .. import limits
    assert "sousa.layout" in imports("sousa.write.plan")  # from ..layout import …
    assert "sousa.sousa" not in MODULES and "sousa" in imports("sousa.write.pipeline")
    assert not allowed("sousa.hub.push", "sousa.write.staging")
    assert not allowed("sousa.layout", "sousa.write.plan")
    assert allowed("sousa.write.pipeline", "sousa.card.readme")
    assert not allowed("sousa.card.readme", "sousa.write.pipeline")
