"""The self-contained builder file that goes into every staging folder (`layout.BUILDER_PATH`).

`sousa/read/builder.py` imports the format from `sousa.layout` and `sousa.tar_format`, and the
epoch order from `sousa.epochs`, like every other module; the copy in a Hub repo must load where
`sousa` is not installed. `standalone_builder()` produces it from those four files: the builder
up to its first import from `sousa`, then the code of `INLINED` (each without its docstring, its
`from __future__` line and its imports of the other), then the rest of the builder without
its imports from `sousa`. An aliased import (`from .x import a as b`) becomes `b = a`.

Same source files, same bytes. Checked as it is produced, by the syntax tree: the result
imports nothing from `sousa`, and no top-level name is bound by two of the pieces to
different things (an inlined module's globals would otherwise be silently replaced).
A `ValueError` says which rule a source file breaks.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "sousa"
INLINED = ("tar_format", "layout", "epochs")  # dependency order: layout imports tar_format
BUILDER = "read/builder.py"  # under the package folder, beside INLINED's `<name>.py`
HEADER = (
    "# Produced by sousa.read.builder_file from sousa/read/builder.py, sousa/layout.py, "
    "sousa/tar_format.py and sousa/epochs.py.\n"
)


def standalone_builder(package_dir: Path | None = None) -> bytes:
    """The builder of `package_dir` (default: this package) with its format modules inlined."""
    package_dir = package_dir or Path(__file__).parents[1]
    paths = (*(f"{name}.py" for name in INLINED), BUILDER)
    return _produce(tuple((package_dir / path).read_text(encoding="utf-8") for path in paths))


@functools.lru_cache(maxsize=4)
def _produce(sources: tuple[str, ...]) -> bytes:
    """The standalone builder from the sources of `INLINED` and then of the builder."""
    bindings: dict[str, tuple[str, object]] = {}
    inlined = []
    for name, source in zip(INLINED, sources):
        body = _strip(source, f"{name}.py", keep_docstring=False)
        _bind(bindings, body, f"{name}.py")
        inlined.append(f"# ---- sousa/{name}.py, inlined ----\n{body.strip()}\n")
    body = _strip(sources[-1], "builder.py", keep_docstring=True, mark=_MARK)
    if body.count(_MARK) != 1:
        raise ValueError(f"builder.py imports none of {', '.join(INLINED)}: nothing to inline")
    _bind(bindings, body.replace(_MARK, ""), "builder.py")
    code = "\n\n".join(inlined) + "# ---- end of inlined code ----\n"
    text = HEADER + body.replace(_MARK, code)
    _check_self_contained(text)
    return text.encode("utf-8")


_MARK = "\0INLINE\0"


def _sousa_module(node: ast.ImportFrom | ast.Import) -> str | None:
    """The `sousa` module an import statement imports from (its last part), or None."""
    if isinstance(node, ast.Import):
        hits = [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        return hits[0] if hits else None
    if node.level >= 1:  # the builder sits one level down (read/), the format at the top
        return node.module or "."
    if (node.module or "").split(".")[0] == PACKAGE:
        return (node.module or "").removeprefix(f"{PACKAGE}.")
    return None


def _strip(source: str, where: str, keep_docstring: bool, mark: str = "") -> str:
    """`source` without its imports of inlined modules (the first replaced by `mark`; an alias
    by `b = a`), and without its docstring and `from __future__` line unless `keep_docstring`."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cut: dict[int, tuple[int, str]] = {}  # first line index → (end index, replacement)
    for node in [] if keep_docstring else tree.body[:2]:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if is_doc or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            cut[node.lineno - 1] = (node.end_lineno, "")
    for node in _statements(tree.body):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or not _sousa_module(node):
            continue
        module = _sousa_module(node)
        if node not in tree.body or isinstance(node, ast.Import) or module not in INLINED:
            raise ValueError(
                f"{where}:{node.lineno}: imports {module!r} from {PACKAGE}; the standalone "
                f"builder can only inline top-level `from .x import ...` of {', '.join(INLINED)}"
            )
        aliases = "".join(f"{a.asname} = {a.name}\n" for a in node.names if a.asname)
        cut[node.lineno - 1] = (node.end_lineno, mark + aliases)
        mark = ""
    out, i = [], 0
    while i < len(lines):
        if i in cut:
            i, replacement = cut[i]
            out.append(replacement)
        else:
            out.append(lines[i])
            i += 1
    return "".join(out)


def _bind(bindings: dict[str, tuple[str, object]], source: str, where: str) -> None:
    """Record the top-level names `source` binds; a name bound differently before is refused."""
    for node in ast.parse(source).body:
        found: list[tuple[str, object]] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found = [(node.name, where)]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found = [(n.id, where) for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, ast.Import):
            found = [
                (a.asname, ("import", a.name)) if a.asname else (a.name.split(".")[0], "import")
                for a in node.names
            ]
        elif isinstance(node, ast.ImportFrom):
            found = [(a.asname or a.name, (node.module, a.name)) for a in node.names]
        for name, what in found:
            if bindings.setdefault(name, (where, what))[1] != what:
                raise ValueError(
                    f"{where} binds {name!r}, which {bindings[name][0]} also binds: "
                    "the standalone builder would mix them up; rename one"
                )


def _statements(body: list[ast.stmt]):
    """Every statement of `body`, nested ones included (imports are statements: no need to
    walk the expressions)."""
    for node in body:
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                yield from _statements(inner)


def _check_self_contained(text: str) -> None:
    for node in _statements(ast.parse(text).body):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and _sousa_module(node):
            raise ValueError(f"standalone builder line {node.lineno}: still imports from sousa")
