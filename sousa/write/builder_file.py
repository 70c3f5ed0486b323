"""The self-contained builder file that goes into every staging folder (`layout.BUILDER_PATH`).

`sousa/read/builder.py` imports the format and its feature type from the modules of `INLINED`
(`sousa.layout`, …), like every other module; the copy in a Hub repo must load where `sousa` is
not installed. `standalone_builder()` produces it: the builder up to its first import from
`sousa`, then the top-level statements of the `INLINED` modules that the builder needs,
directly or through each other (each module without its docstring, its `from __future__` line
and its imports of the others), then the rest of the builder without its imports from `sousa`.
An aliased import (`from .x import a as b`) becomes `b = a`. To inline one more module, add
its name to `INLINED`, after the modules it imports.

Same source files, same bytes. Checked as it is produced, by the syntax tree: the result
imports nothing from `sousa`; no top-level name is bound by two of the pieces to different
things (an inlined module's globals would otherwise be silently replaced); it uses only the
public API of `datasets` (`private_datasets_uses`) and has at most `MAX_LINES` lines. A
`ValueError` says which rule a source file breaks.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "sousa"
# Modules as paths under the package, without `.py`; dependency order: a module after those it
# imports (layout imports tar_format).
INLINED = ("tar_format", "layout", "read/flac_audio")
# Modules whose classes implement another library's protocol (`datasets` calls a feature
# type's `encode_example`, `cast_storage`, …): their methods are kept, called by name or not.
PROTOCOLS = ("read/flac_audio",)
BUILDER = "read/builder.py"  # under the package folder, like INLINED's
HEADER = "# Produced by sousa.write.builder_file: sousa/read/builder.py, the parts of sousa/{}.\n"
MAX_LINES = 600
# The modules of `datasets` whose exported names are its public API.
PUBLIC_MODULES = ("datasets", "datasets.features", "datasets.distributed", "datasets.exceptions")
# Names the builder may import from elsewhere, each with why: (module, name) → reason.
ALLOWED = {
    ("datasets.features.features", "register_feature"): (
        "no public way to name a custom feature type in a cached dataset_info.json; "
        "imported guarded (builder.register_flac_audio): without it, streaming is unchanged"
    ),
}


def standalone_builder(package_dir: Path | None = None) -> bytes:
    """The builder of `package_dir` (default: this package) with its format modules inlined."""
    package_dir = package_dir or Path(__file__).parents[1]
    paths = (*(f"{name}.py" for name in INLINED), BUILDER)
    return _produce(tuple((package_dir / path).read_text(encoding="utf-8") for path in paths))


@functools.lru_cache(maxsize=4)
def _produce(sources: tuple[str, ...]) -> bytes:
    """The standalone builder from the sources of `INLINED` and then of the builder."""
    body = _strip(sources[-1], BUILDER, keep_docstring=True, mark=_MARK)
    if body.count(_MARK) != 1:
        raise ValueError(f"{BUILDER} imports none of {', '.join(INLINED)}: nothing to inline")
    tree = ast.parse(body.replace(_MARK, ""))
    needed = _uses(tree)
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    imported = {n for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                for n in _binds(node)}  # fmt: skip
    parts: dict[str, str] = {}
    for name, source in reversed(list(zip(INLINED, sources))):  # users before what they use
        source = _strip(source, f"{name}.py", keep_docstring=False)
        called = None if name in PROTOCOLS else attributes
        parts[name] = _needed_part(source, needed, imported, called)
    bindings: dict[str, tuple[str, object]] = {}
    inlined = []
    for name in (name for name in INLINED if parts[name]):
        _bind(bindings, parts[name], f"{name}.py")
        inlined.append(f"# ---- sousa/{name}.py, the part used here, inlined ----\n{parts[name]}")
    _bind(bindings, body.replace(_MARK, ""), BUILDER)
    code = "".join(inlined) + "# ---- end of inlined code ----\n"
    used = ", sousa/".join(f"{name}.py" for name in INLINED if parts[name])
    text = HEADER.format(used) + body.replace(_MARK, code)
    _check_self_contained(text)
    problems = private_datasets_uses(text)
    if problems:
        raise ValueError(f"the standalone builder uses private datasets names: {problems}")
    if text.count("\n") > MAX_LINES:
        raise ValueError(
            f"the standalone builder has {text.count(chr(10))} lines: over {MAX_LINES}"
        )
    return text.encode("utf-8")


def _binds(node: ast.stmt) -> set[str]:
    """The names a top-level statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return set()


def _uses(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _needed_part(
    source: str, needed: set[str], imported: set[str], attributes: set[str] | None
) -> str:
    """The top-level statements of `source` that bind a name in `needed`, or that a kept one
    uses (`needed` grows with their names), in source order, each with the comment lines just
    above it; no import of a name the builder imports itself (`imported`); without the
    methods that neither the builder (`attributes`: the attribute names it uses; None: keep
    every method) nor the kept code calls, and without docstrings (the code is documented
    once, in its module)."""
    tree = ast.parse(source)
    kept: set[int] = set()
    grew = True
    while grew:
        grew = False
        for i, node in enumerate(tree.body):
            is_import = isinstance(node, (ast.Import, ast.ImportFrom))
            if i not in kept and _binds(node) & (needed - imported if is_import else needed):
                kept.add(i)
                needed |= _uses(node)
                grew = True
    lines = source.splitlines(keepends=True)
    dropped = _dropped_lines([tree.body[i] for i in kept], attributes, lines)
    out, previous = [], None
    for i in sorted(kept):
        node = tree.body[i]
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1
        block = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        kind = (
            "block" if block else "import" if isinstance(node, (ast.Import, ast.ImportFrom)) else ""
        )
        if previous is not None and "block" in (kind, previous):
            out.append("\n\n")
        elif previous is not None and kind != previous:
            out.append("\n")
        out.append("".join(lines[j] for j in range(first, node.end_lineno) if j not in dropped))
        previous = kind
    return "".join(out) + ("\n\n" if out else "")


def _dropped_lines(nodes: list[ast.stmt], attributes: set[str], lines: list[str]) -> set[int]:
    """Line indices of `nodes` to leave out: methods (not dunders) no kept code calls by
    name, and the docstrings of definitions that hold more than a docstring."""
    methods = (
        []
        if attributes is None
        else [
            item
            for node in nodes
            if isinstance(node, ast.ClassDef)
            for item in node.body
            if isinstance(item, ast.FunctionDef) and not item.name.startswith("__")
        ]
    )
    used = set(attributes or ())
    for node in nodes:
        used |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    for method in methods:  # a method's own calls count only if the method is kept
        used -= {n.attr for n in ast.walk(method) if isinstance(n, ast.Attribute)}
    alive, grew = set(), True
    while grew:
        grew = False
        for method in methods:
            if method.name in used and method.name not in alive:
                alive.add(method.name)
                used |= {n.attr for n in ast.walk(method) if isinstance(n, ast.Attribute)}
                grew = True
    dropped: set[int] = set()
    for method in (m for m in methods if m.name not in alive):
        first = min([method.lineno, *(d.lineno for d in method.decorator_list)]) - 1
        first -= 1 if first > 0 and not lines[first - 1].strip() else 0
        dropped |= set(range(first, method.end_lineno))
    for node in (n for top in nodes for n in ast.walk(top)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and len(body) > 1:
            doc = body[0]
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                blank = doc.end_lineno < len(lines) and not lines[doc.end_lineno].strip()
                dropped |= set(range(doc.lineno - 1, doc.end_lineno + blank))
    return dropped


_MARK = "\0INLINE\0"


def _sousa_module(node: ast.ImportFrom | ast.Import, path: str = "") -> str | None:
    """The `sousa` module an import statement imports from, as its path under the package
    without `.py` (`layout`, `read/flac_audio`), or None. `path`: the importing file's (under
    the package), against which a relative import is resolved."""
    if isinstance(node, ast.Import):
        hits = [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        return (hits[0].removeprefix(PACKAGE).strip(".").replace(".", "/") or ".") if hits else None
    if node.level >= 1:
        folder = path.split("/")[:-1]
        base = folder[: max(0, len(folder) - (node.level - 1))]
        return "/".join([*base, *(node.module or "").split(".")]).strip("/") or "."
    if (node.module or "").split(".")[0] == PACKAGE:
        return (node.module or "").removeprefix(PACKAGE).strip(".").replace(".", "/")
    return None


def _strip(source: str, where: str, keep_docstring: bool, mark: str = "") -> str:
    """`source` (of the file `where` under the package) without its imports of inlined modules
    (the first replaced by `mark`; an alias by `b = a`), and without its docstring and
    `from __future__` line unless `keep_docstring`."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cut: dict[int, tuple[int, str]] = {}  # first line index → (end index, replacement)
    for node in [] if keep_docstring else tree.body[:2]:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if is_doc or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            cut[node.lineno - 1] = (node.end_lineno, "")
    for node in _statements(tree.body):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or not _sousa_module(node, where):
            continue
        module = _sousa_module(node, where)
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


# The `GeneratorBasedBuilder` methods a builder is meant to define.
BUILDER_HOOKS = ("_info", "_split_generators", "_generate_examples")


def private_datasets_uses(text: str, datasets_module=None) -> list[str]:
    """Where the code `text` uses `datasets` beyond its public API, as "line N: what" strings:
    an import from a module not in `PUBLIC_MODULES` or of an `_x` name (but `ALLOWED`), a `._x`
    attribute of an object the code does not define (no class of it defines `_x`, no
    `self._x =` assigns it), an `_x` attribute of a `datasets.` module path.

    With the installed `datasets_module`, also: every `datasets.X` name used exists, and no
    `_x` method or attribute a class of `text` defines on a subclass of a `datasets` class
    shadows one of that class (but the `BUILDER_HOOKS`), e.g. an override of
    `IterableDataset._prepare_ex_iterable_for_iteration`."""
    tree = ast.parse(text)
    found: list[str] = []
    for node in _statements(tree.body):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "datasets":
            for alias in node.names:
                public = node.module in PUBLIC_MODULES and not alias.name.startswith("_")
                if not public and (node.module, alias.name) not in ALLOWED:
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "datasets" and alias.name not in PUBLIC_MODULES:
                    found.append(f"line {node.lineno}: import {alias.name}")
    owned = _owned_private_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        private = node.attr.startswith("_") and not node.attr.startswith("__")
        if private and node.attr not in owned:
            found.append(f"line {node.lineno}: .{node.attr}")
        path = _dotted(node)
        if path and path.startswith("datasets.") and not _is_attribute_of_public(path):
            found.append(f"line {node.lineno}: {path}")
    if datasets_module is not None:
        found += _against_installed(tree, datasets_module)
    return sorted(set(found), key=lambda s: int(s.split(":")[0].split()[1]))


def _owned_private_names(tree: ast.Module) -> set[str]:
    owned = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                owned |= _binds(item)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            owned |= {node.attr} if _dotted(node.value) == "self" else set()
    return {name for name in owned if name.startswith("_")}


def _dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def _is_attribute_of_public(path: str) -> bool:
    """`datasets.Features.from_dict`: a name of a public module (capitalised or not) and then
    attributes of that object. A lowercase segment after `datasets.` that is not a public
    module (`datasets.utils.x`) is a private module path."""
    parts = path.split(".")
    for i in range(2, len(parts) + 1):
        if ".".join(parts[:i]) in PUBLIC_MODULES:
            continue
        name = parts[i - 1]
        return not name.startswith("_") and not (name[0].islower() and i < len(parts))
    return True


def _against_installed(tree: ast.Module, datasets_module) -> list[str]:
    import importlib
    import inspect

    found = []
    for node in ast.walk(tree):
        path = _dotted(node) if isinstance(node, ast.Attribute) else None
        if path and path.startswith("datasets.") and not isinstance(node.ctx, ast.Store):
            obj = datasets_module
            for part in path.split(".")[1:2]:
                obj = getattr(obj, part, None)
            if obj is None:
                found.append(f"line {node.lineno}: {path} (not in datasets)")
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        bases = [_dotted(b) or "" for b in cls.bases]
        for base in (b for b in bases if b.startswith("datasets.")):
            module, _, name = base.rpartition(".")
            parent = getattr(importlib.import_module(module), name, None)
            if parent is None:
                continue
            source = "".join(inspect.getsource(k) for k in parent.__mro__ if _is_datasets(k))
            mine = {n for item in cls.body for n in _binds(item)}
            mine |= {
                n.attr
                for n in ast.walk(cls)
                if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
            }
            for name in sorted(n for n in mine if n.startswith("_") and not n.startswith("__")):
                if name not in BUILDER_HOOKS and (
                    hasattr(parent, name) or f"self.{name} " in source or f"self.{name}=" in source
                ):
                    found.append(f"line {cls.lineno}: {cls.name}.{name} shadows {base}'s")
    return found


def _is_datasets(cls) -> bool:
    return (getattr(cls, "__module__", "") or "").split(".")[0] == "datasets"
