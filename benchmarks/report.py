"""Write benchmark results into BENCHMARKS.md: markdown tables and marked blocks.

A block is the text between ``<!-- sousa-bench:extra-begin NAME -->`` and
``<!-- sousa-bench:extra-end NAME -->`` (a script's own block), or between
``<!-- sousa-bench:begin NAME -->`` and ``<!-- sousa-bench:end NAME -->`` (one `run.py`
configuration). Replacing a block leaves every byte outside it as it was; a block not yet in
the file is added before the first configuration section (extra blocks) or at the end.
"""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
SECTION = "<!-- sousa-bench:begin "


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table, one string a line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markers(name: str, extra: bool = True) -> tuple[str, str]:
    """The begin and end marker lines of block `name`."""
    kind = "extra-" if extra else ""
    return f"<!-- sousa-bench:{kind}begin {name} -->", f"<!-- sousa-bench:{kind}end {name} -->"


def _pattern(name: str, extra: bool) -> re.Pattern[str]:
    begin, end = markers(name, extra)
    return re.compile(re.escape(begin) + r"\n(?P<body>.*?)" + re.escape(end), re.S)


def read_block(path: Path, name: str, extra: bool = True) -> str | None:
    """The text inside block `name` of `path` (None if the file or block is missing)."""
    found = _pattern(name, extra).search(path.read_text()) if path.exists() else None
    return found["body"] if found else None


def replace_block(path: Path, name: str, body: str, extra: bool = True) -> None:
    """Put `body` (ending in a newline) inside block `name` of `path`, atomically."""
    begin, end = markers(name, extra)
    block = f"{begin}\n{body}{end}"
    text = path.read_text() if path.exists() else ""
    pattern = _pattern(name, extra)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    elif extra and SECTION in text:
        at = text.index(SECTION)
        text = f"{text[:at]}{block}\n\n{text[at:]}"
    else:
        text = f"{text.rstrip(chr(10))}\n\n{block}\n" if text else f"{block}\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_extra(path: Path, name: str, title: str, body: str) -> None:
    """Replace (or add) the block `name`: a `title` line, a blank line, then `body`."""
    replace_block(path, name, f"{title}\n\n{body}")
