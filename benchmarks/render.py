"""BENCHMARKS.md's "Current figures" from `results/*.json`: `python benchmarks/run.py render`.

Each results file (see `run.py`) becomes a heading (its `title`), one line saying what was
run, when, on which commit and how loaded the machine was, and its `tables` as markdown. The
figures sit between two marker lines of BENCHMARKS.md; every byte outside them is left as is.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHMARKS_MD = HERE.parent / "BENCHMARKS.md"
BEGIN, END = "<!-- sousa-bench:current-begin -->", "<!-- sousa-bench:current-end -->"
ORDER = ("packing", "loaders", "loading", "memory", "pushing")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table, one string a line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


META = {"benchmark", "command", "date", "load_average", "machine", "key", "title", "remark"}


def rows_of(value, path: str = "") -> list[list[str]]:
    """Every leaf of nested results as `[path, value]`, for results that bring no tables."""
    if isinstance(value, dict):
        return [row for k, v in value.items() for row in rows_of(v, f"{path}.{k}".lstrip("."))]
    return [[path, json.dumps(value, ensure_ascii=False)]]


def section(record: dict) -> list[str]:
    """One results file as markdown."""
    m, load = record["machine"], record.get("load_average")
    load = f"load average {load[0]} → {load[1]}" if load else "load average not recorded"
    lines = [f"### {record['title']}", "", f"`{record['command']}`: {record['date']}, commit "]
    lines[-1] += f"{m['commit']}, {m['cores']} cores ({m['cpu']}), {load}."
    lines[-1] += f" {record['remark']}" if record.get("remark") else ""
    plain = {k: v for k, v in record.items() if k not in META}
    for t in record.get("tables") or [{"header": ["result", "value"], "rows": rows_of(plain)}]:
        lines += ["", *table(t["header"], t["rows"])]
        lines += [f"\n{t['note']}."] if t.get("note") else []
    return lines + [""]


def render(results: Path = RESULTS) -> str:
    """Every results file, ordered by benchmark (`ORDER`, then others), then by samples."""
    records = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    rank = {name: i for i, name in enumerate(ORDER)}
    records.sort(
        key=lambda r: (rank.get(r["benchmark"], len(ORDER)), r["benchmark"], r.get("samples", 0))
    )
    return "\n".join(line for r in records for line in section(r))


def update(path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between the markers of `path` with `render()`."""
    text = path.read_text()
    head, rest = text.split(BEGIN + "\n", 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{render()}{END}{tail}")
