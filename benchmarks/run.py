"""The one entry point of the benchmarks: run one, keep its results as JSON, render the figures.

    python benchmarks/run.py packing --gb 1        # or loaders, loading, memory, pushing
    python benchmarks/run.py render                # BENCHMARKS.md's figures from results/
    python benchmarks/run.py --results DIR NAME …  # a trial run: results elsewhere, no render

A benchmark is any other module here whose `main(argv) -> dict` returns its results: numbers,
a `title`, `tables` (`header`, `rows`, optional `note`; without them every number is a row)
and an optional `key` (the file name). This adds the command, date, commit, machine and load
average, writes `results/{key}.json` and re-renders BENCHMARKS.md's "Current figures".
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from harness import HERE, machine
from render import RESULTS, update

NOT_BENCHMARKS = {"harness", "render", "run"}


def rounded(value):
    """`value` with every float rounded to 4 decimals (the files stay small and readable)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return [rounded(v) for v in value] if isinstance(value, list) else value


def main(argv: list[str]) -> int:
    results_dir = RESULTS
    if argv[:1] == ["--results"]:
        results_dir, argv = Path(argv[1]), argv[2:]
    names = {p.stem for p in HERE.glob("*.py")} - NOT_BENCHMARKS
    if not argv or argv[0] not in names | {"render"}:
        print(__doc__, file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    if name != "render":
        start = os.getloadavg()[0]
        results = importlib.import_module(name).main(rest)
        record = {
            "benchmark": name,
            "command": shlex.join(["python", "benchmarks/run.py", *argv]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": [round(start, 1), round(os.getloadavg()[0], 1)],
            "machine": machine(),
            "title": name,
            **results,
        }
        results_dir.mkdir(parents=True, exist_ok=True)
        path = results_dir / f"{results.get('key', name)}.json"
        text = json.dumps(rounded(record), indent=1, ensure_ascii=False)
        path.write_text(re.sub(r"\[[^\[\]{}]*\]", lambda m: " ".join(m[0].split()), text) + "\n")
        print(f"wrote {path}", file=sys.stderr)
    if results_dir == RESULTS:
        update()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
