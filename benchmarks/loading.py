"""Loading against its baselines in one run (issue 16).

    python benchmarks/run.py loading [--rounds 3]

For each clip shape (`SHAPES`: a demo folder staged with `sousa.package`), every loader of
`loaders.LOADERS` and `loaders.DATALOADERS` runs in one child process per shape (imports paid
once, before the clocks), interleaved, the order rotated each round, `--rounds` times, page
cache warm. Reports the medians of samples/s, per wall second and per CPU second (the
DataLoader workers included; steadier on a shared machine), and the ratios issue 16 sets
targets for.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import HERE, demo_source, staging
from loaders import DATALOADERS, LOADERS, measure

MONO = {"channels": 1, "subtype": "PCM_16"}
SHAPES = {  # name: write_demo arguments, shard size, samples each loader reads
    "5 s stereo 24-bit": ({"n_samples": 300, "seconds": 5.0}, "100MB", 128),
    "1.5 s mono 16-bit": ({"n_samples": 2000, "seconds": 1.5} | MONO, "40MB", 640),
}
RATIOS = (  # label, loader, baseline, target
    ("`sousa.load` / tarfile + soundfile", "sousa", "tar", "≥ 0.95 (5 s), ≥ 0.9 (1.5 s)"),
    ("`sousa.load` / webdataset + soundfile", "sousa", "webdataset", "≥ 1.0"),
    ("native + torchcodec / `sousa.load`", "native", "sousa", "(measured)"),
    ("DataLoader(2 workers) + recipe: `sousa.load` / tarfile", "dl_sousa_batched",
     "dl_tar_batched", "≥ 0.9"),
    ("DataLoader(2 workers), no batching: `sousa.load` / tarfile", "dl_sousa", "dl_tar",
     "(measured)"),
)  # fmt: skip


def tables(medians: dict[str, dict[str, dict[str, float]]]) -> list[dict]:
    """The issue's ratios (per wall second, then per CPU second), then the rates."""
    shapes = list(medians)
    rows = []
    for per, suffix in (("rate", ""), ("cpu", ", per CPU second")):
        for label, a, b, target in RATIOS:
            cells = [f"{medians[s][a][per] / medians[s][b][per]:.2f}" for s in shapes]
            rows.append([label + suffix, target, *cells])
    rates = [
        [kind, *(f"{medians[s][kind]['rate']:.0f} / {medians[s][kind]['cpu']:.0f}" for s in shapes)]
        for kind in LOADERS + DATALOADERS
    ]
    return [
        {"header": ["ratio (same run, medians)", "target", *shapes], "rows": rows},
        {"header": ["samples per wall s / per CPU s (medians)", *shapes], "rows": rates},
    ]


def main(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="run.py loading", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", type=Path, default=HERE / "work")
    args = p.parse_args(argv)
    medians = {}
    for name, (demo, shard_size, limit) in SHAPES.items():
        root = staging(demo_source(args.work, **demo), shard_size)
        medians[name] = measure([*LOADERS, *DATALOADERS], root, args.rounds, limit)
    return {"title": "Loading (issue 16)", "medians": medians, "tables": tables(medians)}
