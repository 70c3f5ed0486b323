"""Peak memory of packing and of loading, and whether it stays flat as the samples grow.

    python benchmarks/run.py memory [--rounds 3] [--skip-packing] [--skip-loading]

Packing: `python -m sousa.package --workers 1` / `2` into a fresh folder, on ≈ 1 GB (971 × 5 s)
and on 100,000 × 0.05 s, interleaved: GNU time's peak RSS (largest process), medians; target
flat within 10 %. Loading: `sousa.load(streaming=True)` over half and all of train of the
100,000 samples, in a fresh process that imports `datasets` and torch first: peak RSS.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import (
    CHILD_ENV,
    HERE,
    PY,
    demo_source,
    interleaved,
    remove,
    run_measured,
    staging,
    summary,
)

SOURCES = {  # name: write_demo arguments
    "1 GB (971 × 5 s)": {"n_samples": 971, "seconds": 5.0, "seed": 0},
    "100,000 × 0.05 s": {"n_samples": 100_000, "seconds": 0.05, "seed": 0},
}


def packing(work: Path, rounds: int) -> dict[str, list[float]]:
    """`{source} --workers N` → peak RSS MB of each round."""
    runs: dict[str, list[float]] = {}
    names = [f"{s} --workers {w}" for s in SOURCES for w in (1, 2)]
    for _, name in interleaved(names, rounds):
        source, workers = name.rsplit(" --workers ", 1)
        src, out = demo_source(work, **SOURCES[source]), work / "memory-out"
        remove(out)
        cmd = [PY, "-m", "sousa.package", str(src), "--out", str(out), "--quiet"]
        m = run_measured([*cmd, "--workers", workers], CHILD_ENV)
        remove(out)
        runs.setdefault(name, []).append(m.max_rss_mb)
        print(f"  {name}: {m.max_rss_mb:.0f} MB", file=sys.stderr)
    return runs


def loading(work: Path) -> dict[int, float]:
    """Samples read → peak RSS MB of `sousa.load` streaming train (half, then all)."""
    import pyarrow.parquet as pq
    from loaders import SPLIT, measure

    root = staging(demo_source(work, **SOURCES["100,000 × 0.05 s"]))
    n = pq.ParquetFile(root / f"data/{SPLIT}-00000-of-00001.parquet").metadata.num_rows
    return {k: measure(["sousa"], root, 1, k)["sousa"]["rss"] for k in (n // 2, n)}


def main(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="run.py memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", type=Path, default=HERE / "work")
    p.add_argument("--skip-packing", action="store_true")
    p.add_argument("--skip-loading", action="store_true")
    args = p.parse_args(argv)
    results: dict = {"title": "Memory", "tables": []}
    if not args.skip_packing:
        runs = results["packing"] = packing(args.work, args.rounds)
        med = {name: summary(rss)["median"] for name, rss in runs.items()}
        rows = [[name, f"{rss:.0f}"] for name, rss in med.items()]
        small, big = SOURCES
        for w in (1, 2):
            ratio = med[f"{big} --workers {w}"] / med[f"{small} --workers {w}"]
            rows.append([f"{big} / {small}, `--workers {w}`", f"{ratio:.2f} × (flat: ≤ 1.10)"])
        results["tables"].append({"header": ["packing", "peak RSS MB (median)"], "rows": rows})
    if not args.skip_loading:
        rss = results["loading"] = loading(args.work)
        (half, a), (full, b) = sorted(rss.items())
        rows = [["half", f"{half:,}", f"{a:.0f}"], ["all", f"{full:,}", f"{b:.0f}"]] + [
            ["all / half", "", f"{b / a:.2f} (flat: ≤ 1.10; target ≤ 400 MB)"]
        ]
        header = ["`sousa.load` streaming train, 100,000 × 0.05 s", "samples", "peak RSS MB"]
        results["tables"].append({"header": header, "rows": rows})
    return results
