"""Packing against GNU tar and the seed plan's algorithm, in one run on the same files.

    python benchmarks/run.py packing --gb 1
    python benchmarks/run.py packing --samples 7000 --seconds 1.5 --mono16   # issue 23's shape
    python benchmarks/run.py packing --samples 100000 --seconds 0.05

Each packer runs in a fresh process, interleaved, page cache warm, output removed: GNU `tar
-cf` of `audio/` and `midi/` (the copy floor), the seed plan's algorithm (below), `python -m
sousa.package --workers 1` and `2` (the whole command), the shard phase alone (`write_shards`
of the planned shards, `--shard-workers`, timed in a process that planned them: the writer
against the copy), `import sousa.package` (startup). Wall time is the whole process's (the
shard phase's own); peak RSS the largest process (GNU time) and the tree's sum (sampled); CPU
user + system, waited-for children included (steadier than wall time on a busy machine).

The seed plan's algorithm (its Tasks 2, 8, 9): pandas `iterrows` with a list-membership test
of each `profile_id`, then per split `exists()` + `stat()` + `tarfile.add` per sorted file,
1 GB shards; audio, then MIDI; shards only. The path relative to `{media}/` replaces the
seed's `Path(path).name`, which finds nothing in SOUSA's nested layout (same work per file).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tarfile
from pathlib import Path

from harness import (
    CHILD_ENV,
    HERE,
    PY,
    cpu_seconds,
    files_under,
    interleaved,
    remove,
    run_measured,
    summary,
    warm_cache,
)

BYTES_PER_5S_SAMPLE = 1_030_000  # stereo 24-bit demo FLAC + MIDI for half: `--gb 1` ≥ 1 GB
SEED_SHARD_BYTES = 1_000_000_000
LABELS = {
    "tar": "GNU `tar -cf` (copy floor)",
    "seed": "the seed plan's algorithm (`iterrows` + `tarfile.add`)",
    "workers1": "`python -m sousa.package --workers 1`",
    "workers2": "`python -m sousa.package --workers 2`",
    "shards": "the shard phase alone (`write_shards`, timed in its process)",
    "import": "`python -c 'import sousa.package'` (startup, included above)",
}


def seed_pack(src: Path, out: Path) -> int:
    """The seed plan's packing step over `src` into `out/{audio,midi}/`; returns files packed."""
    import pandas as pd

    packed = 0
    for media in ("audio", "midi"):
        samples = pd.read_parquet(src / "labels" / "samples.parquet")  # Task 8, per media type
        splits = json.loads((src / "splits.json").read_text())
        by_split: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
        for _, row in samples.iterrows() if f"{media}_path" in samples.columns else ():
            path = row[f"{media}_path"]
            if pd.isna(path) or not path:
                continue
            name = str(Path(path).relative_to(media))  # seed: Path(path).name
            if row["profile_id"] in splits.get("train_profile_ids", []):
                by_split["train"].append(name)
            elif row["profile_id"] in splits.get("val_profile_ids", []):
                by_split["validation"].append(name)
            elif row["profile_id"] in splits.get("test_profile_ids", []):
                by_split["test"].append(name)
            else:
                by_split["train"].append(name)
        shard_of: dict[str, tuple[str, str]] = {}  # the seed's ShardInfo per file
        for split, names in by_split.items():  # Task 2, `create_sharded_archives`
            (out / media).mkdir(parents=True, exist_ok=True)
            index, size = 0, 0
            tar = tarfile.open(out / media / f"{split}-{index:05d}.tar", "w")  # noqa: SIM115
            for name in sorted(names):
                file = src / media / name
                if not file.exists():
                    continue
                file_size = file.stat().st_size
                if size and size + file_size > SEED_SHARD_BYTES:
                    tar.close()
                    index, size = index + 1, 0
                    tar = tarfile.open(out / media / f"{split}-{index:05d}.tar", "w")  # noqa: SIM115
                tar.add(file, arcname=name)
                size += file_size
                shard_of[name] = (f"{split}-{index:05d}.tar", name)
            tar.close()
        packed += len(shard_of)
    return packed


def shards_phase(src: Path, out: Path, workers: int) -> dict[str, float]:
    """Wall and CPU seconds (workers included) of `write_shards` of every planned shard."""
    import time

    from sousa.write.pipeline import PackageOptions, plan_package
    from sousa.write.shard_pool import write_shards

    _, plan = plan_package(PackageOptions(source=src, out=out))
    start, cpu = time.perf_counter(), cpu_seconds()
    write_shards(plan.shards, out, workers)
    return {"seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu}


def commands(src: Path, out: Path, shard_workers: int) -> dict[str, list[str]]:
    package = [PY, "-m", "sousa.package", str(src), "--quiet", "--out"]
    return {
        "tar": ["tar", "-cf", str(out / "gnu.tar"), "-C", str(src), "audio", "midi"],
        "seed": [PY, str(HERE / "packing.py"), "--seed-child", str(src), str(out / "seed")],
        "workers1": [*package, str(out / "w1"), "--workers", "1"],
        "workers2": [*package, str(out / "w2"), "--workers", "2"],
        "shards": [PY, str(HERE / "packing.py"), "--shards-child", str(src), str(out / "s")]
        + [str(shard_workers)],
        "import": [PY, "-c", "import sousa.package"],
    }


def measure(src: Path, out: Path, rounds: int, shard_workers: int) -> dict[str, dict]:
    inputs = files_under([src / "audio", src / "midi", src / "labels"])
    cmds = commands(src, out, shard_workers)
    runs = {name: {"wall": [], "cpu": [], "max_rss_mb": [], "tree_rss_mb": []} for name in cmds}
    for r, name in interleaved(list(cmds), rounds):
        remove(out)
        out.mkdir(parents=True)
        warm_cache(inputs)
        m = run_measured(cmds[name], CHILD_ENV)
        remove(out)
        for field, values in runs[name].items():
            values.append(getattr(m, field))
        if name == "shards":  # the phase, not the process
            phase = json.loads(m.stdout.splitlines()[-1])
            runs[name]["wall"][-1], runs[name]["cpu"][-1] = phase["seconds"], phase["cpu"]
        wall = runs[name]["wall"][-1]
        print(f"  round {r + 1} {name:9s} {wall:7.2f} s {m.max_rss_mb:6.0f} MB", file=sys.stderr)
    return runs


def table(runs: dict, files: int, size: int, samples: int) -> dict:
    med = {name: summary(runs[name]["wall"]) for name in LABELS if name in runs}
    tar = med["tar"]["median"]
    rows = []
    for name, wall in med.items():
        media = name != "import"
        rows.append(
            [LABELS[name], f"{wall['median']:.2f}", f"{wall['min']:.2f}–{wall['max']:.2f}"]
            + [f"{summary(runs[name]['cpu'])['median']:.2f}"]
            + [f"{size / 1e6 / wall['median']:,.0f}" if media else ""]
            + [f"{samples / wall['median']:,.0f}" if media else ""]
            + [f"{max(runs[name]['max_rss_mb']):.0f}", f"{max(runs[name]['tree_rss_mb']):.0f}"]
            + [f"{wall['median'] / tar:.2f}"]
        )
    header = ["packing", "wall s (median)", "min–max", "CPU s", "MB/s", "samples/s"]
    header += ["peak RSS MB, largest process", "peak RSS MB, tree", "× GNU tar"]
    seed = med["seed"]["median"] / med["workers2"]["median"]
    note = f"{samples:,} samples, {files:,} media files, {size / 1e6:,.1f} MB; "
    note += f"the seed plan's algorithm / `--workers 2`: {seed:.2f} ×"
    return {"header": header, "rows": rows, "note": note}


def main(argv: list[str]) -> dict:
    if argv and argv[0] == "--seed-child":
        print(f"seed algorithm: packed {seed_pack(Path(argv[1]), Path(argv[2]))} files")
        return {}
    if argv and argv[0] == "--shards-child":
        print(json.dumps(shards_phase(Path(argv[1]), Path(argv[2]), int(argv[3]))))
        return {}
    p = argparse.ArgumentParser(prog="run.py packing", description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--gb", type=float, help="GB of media (5 s stereo samples)")
    size.add_argument("--samples", type=int, help="number of samples (with --seconds)")
    p.add_argument("--seconds", type=float, default=5.0, help="clip length with --samples")
    p.add_argument("--mono16", action="store_true", help="mono 16-bit FLAC (else stereo 24)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--shard-workers", type=int, default=1, help="the shard phase's workers")
    p.add_argument("--work", type=Path, default=HERE / "work")
    args = p.parse_args(argv)
    from harness import demo_source

    if args.gb is not None:
        args.samples, args.seconds = math.ceil(args.gb * 1e9 / BYTES_PER_5S_SAMPLE), 5.0
    key = f"gb{args.gb:g}" if args.gb is not None else f"{args.samples}x{args.seconds:g}s"
    shape = {"channels": 1, "subtype": "PCM_16"} if args.mono16 else {}
    key += "-mono16" if args.mono16 else ""
    src = demo_source(args.work, n_samples=args.samples, seconds=args.seconds, seed=0, **shape)
    runs = measure(src, args.work / "pack-out", args.rounds, args.shard_workers)
    media = files_under([src / "audio", src / "midi"])
    files, size = len(media), sum(p.stat().st_size for p in media)
    title = f"Packing {args.samples:,} {'mono 16-bit ' * args.mono16}samples × {args.seconds:g} s"
    return {
        "key": f"packing-{key}",
        "title": title,
        "samples": args.samples,
        "media_files": files,
        "media_bytes": size,
        "runs": runs,
        "tables": [table(runs, files, size, args.samples)],
    }


if __name__ == "__main__":  # the seed algorithm's child process
    main(sys.argv[1:])
