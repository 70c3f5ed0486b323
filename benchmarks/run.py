"""Benchmark packing and loading in one run, on the same files, and update BENCHMARKS.md.

    python benchmarks/run.py --gb 1
    python benchmarks/run.py --samples 100000 --seconds 0.05

Generates (or reuses) a SOUSA-shaped dataset with `sousa.demo.write_demo`, then, interleaved
over `--rounds` rounds with a warm page cache: GNU tar, the seed plan's algorithm and
`python -m sousa.package --workers 1/2` (packing); the plain soundfile loop, `sousa.load` and
native `datasets.load_dataset` (loading one split, half of it and all of it). Prints the
tables and verdicts and writes this configuration's section of `--out`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

from harness import (
    CommandFailed,
    files_under,
    interleaved,
    remove,
    rotated,
    run_measured,
    warm_cache,
)
from run_section import console_summary, machine_info, update_file

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable
SECONDS_PER_GB_SAMPLE = 5.0
# FLAC + MIDI bytes of one 5 s demo sample: stereo 24-bit FLAC, MIDI for every other sample, as
# the generator writes them (measured ≈ 1,040 kB; a little low so `--gb 1` ≥ 1 GB). Results
# before 2026-11-27 were measured on the older mono 16-bit demo (≈ 292 kB a sample).
BYTES_PER_5S_SAMPLE = 1_030_000
MIN_LOAD_FRACTION = 0.15
CHILD_ENV = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--gb", type=float, help="dataset size in GB of media (5 s samples)")
    size.add_argument("--samples", type=int, help="number of samples (with --seconds)")
    p.add_argument("--seconds", type=float, default=5.0, help="audio length with --samples")
    p.add_argument("--work", type=Path, default=HERE / "work", help="data + scratch folder")
    p.add_argument("--rounds", type=int, default=3, help="measured rounds (medians reported)")
    p.add_argument("--skip-native", action="store_true", help="skip native load_dataset")
    p.add_argument("--skip-packing", action="store_true", help="measure loading only")
    p.add_argument(
        "--shard-size",
        default=None,
        help="the loaders' staging shard size (default sousa.package's); DataLoader workers "
        "need a split of ≥ 2 shards",
    )
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="report file")
    args = p.parse_args(argv)
    if args.gb is not None:
        args.samples = math.ceil(args.gb * 1e9 / BYTES_PER_5S_SAMPLE)
        args.seconds = SECONDS_PER_GB_SAMPLE
    return args


def config_key(args: argparse.Namespace) -> tuple[str, str]:
    """(section key, title) of this configuration."""
    if args.gb is not None:
        return f"gb{args.gb:g}", f"{args.gb:g} GB: {args.samples:,} samples × {args.seconds:g} s"
    return (
        f"samples{args.samples}-s{args.seconds:g}",
        f"{args.samples:,} samples × {args.seconds:g} s",
    )


# -- the dataset --------------------------------------------------------------------------------


def ensure_dataset(work: Path, key: str, samples: int, seconds: float) -> Path:
    """Generate the source folder, or reuse it when its recorded parameters match."""
    src, stamp = work / f"data-{key}", work / f"data-{key}.json"
    params = {"n_samples": samples, "seconds": seconds, "seed": 0}
    if src.is_dir() and stamp.exists() and json.loads(stamp.read_text()) == params:
        print(f"reusing {src}", file=sys.stderr)
        return src
    from sousa.demo import write_demo

    remove(stamp)
    print(f"generating {samples:,} samples × {seconds:g} s into {src} …", file=sys.stderr)
    start = time.perf_counter()
    write_demo(src, progress=True, **params)
    print(f"generated in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    stamp.write_text(json.dumps(params))
    return src


def describe_dataset(src: Path, samples: int, seconds: float) -> dict:
    audio, midi = files_under([src / "audio"]), files_under([src / "midi"])
    media_bytes = sum(p.stat().st_size for p in audio + midi)
    return {
        "samples": samples,
        "seconds": seconds,
        "audio_files": len(audio),
        "midi_files": len(midi),
        "media_files": len(audio) + len(midi),
        "media_bytes": media_bytes,
    }


def ensure_staging(src: Path, work: Path, key: str, shard_size: str | None = None) -> Path:
    """A staging folder of `src` for the loaders (sousa.package reuses it when current)."""
    staging = (
        work / f"staging-{key}" if shard_size is None else work / f"staging-{key}-{shard_size}"
    )
    cmd = [PY, "-m", "sousa.package", str(src), "--out", str(staging), "--quiet"]
    run_measured(cmd + (["--shard-size", shard_size] if shard_size else []), CHILD_ENV)
    return staging


# -- packing ------------------------------------------------------------------------------------


def packing_commands(src: Path, out: Path) -> dict[str, tuple[list[str], Path]]:
    """name → (command, output path to delete before and after the run)."""
    package = [PY, "-m", "sousa.package", str(src), "--quiet", "--out"]
    return {
        "tar": (["tar", "-cf", str(out / "gnu.tar"), "-C", str(src), "audio", "midi"], out),
        "seed": ([PY, str(HERE / "seed_algorithm.py"), str(src), str(out / "seed")], out),
        "workers1": ([*package, str(out / "w1"), "--workers", "1"], out),
        "workers2": ([*package, str(out / "w2"), "--workers", "2"], out),
        "import": ([PY, "-c", "import sousa.package"], out),
    }


def measure_packing(src: Path, work: Path, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Every packer once per round, rotated; the page cache warmed before every run."""
    out = work / "pack-out"
    inputs = files_under([src / "audio", src / "midi", src / "labels"]) + [src / "splits.json"]
    commands = packing_commands(src, out)
    results = {name: {"wall": [], "max_rss_mb": [], "tree_rss_mb": []} for name in commands}
    for r, name in interleaved(list(commands), rounds):
        cmd, scratch = commands[name]
        remove(scratch)
        scratch.mkdir(parents=True)
        warm_cache(inputs)
        m = run_measured(cmd, CHILD_ENV)
        remove(scratch)
        for field in results[name]:
            results[name][field].append(getattr(m, field))
        print(f"  round {r + 1} {name:9s} {m.wall:7.2f} s {m.max_rss_mb:6.0f} MB", file=sys.stderr)
    return results


# -- loading ------------------------------------------------------------------------------------


def choose_split(src: Path) -> tuple[str, int, int]:
    """(split, samples to load, total samples): validation/test if ≥ 15 %, else part of train."""
    sys.path.insert(0, str(HERE))
    from loaders import split_audio_paths

    counts = {s: len(split_audio_paths(src, s)) for s in ("train", "validation", "test")}
    total = sum(counts.values())
    split = max(("validation", "test"), key=counts.__getitem__)
    if counts[split] >= MIN_LOAD_FRACTION * total:
        return split, counts[split], total
    return "train", min(counts["train"], math.ceil(MIN_LOAD_FRACTION * total)), total


def sousa_load_available() -> str | None:
    """None when `sousa.load` can be imported, else why not."""
    try:
        import sousa

        if callable(getattr(sousa, "load", None)):
            return None
        return "sousa has no load()"
    except Exception as exc:  # an import error of a module being written right now
        return f"{type(exc).__name__}: {exc}"


def measure_loading(src: Path, staging: Path, rounds: int, skip_native: bool) -> dict[str, object]:
    """Each loader in a fresh process on half the split and on all of it, per round."""
    split, n_all, _ = choose_split(src)
    sys.path.insert(0, str(HERE))
    from loaders import split_audio_paths

    flac = split_audio_paths(src, split)[:n_all]
    flac_bytes = sum(p.stat().st_size for p in flac)
    loaders = {"soundfile": src, "soundfile_2p": src, "null_dl2": src}
    unavailable = sousa_load_available()
    if unavailable is None:
        loaders["sousa"] = staging
        loaders["sousa_threads"] = staging
        loaders["sousa_dl2"] = staging
        loaders["sousa_dl2_np"] = staging
    if not skip_native:
        loaders["native"] = staging
        loaders["native_dl2"] = staging
    warm = flac + files_under([staging])
    sizes = [n_all // 2, n_all]
    runs: dict[str, dict] = {}
    for r in range(rounds):
        for n in sizes:
            for kind in rotated(list(loaders), r):
                warm_cache(warm)
                cmd = [PY, str(HERE / "loaders.py"), kind, str(loaders[kind]), split, str(n)]
                m = run_measured(cmd, CHILD_ENV)
                child = json.loads(m.stdout.strip().splitlines()[-1])
                if child["samples"] != n:
                    raise CommandFailed(f"{kind} loaded {child['samples']} samples, wanted {n}")
                entry = runs.setdefault(
                    f"{kind}@{n}",
                    {"samples": n, "flac_bytes": flac_bytes * n / n_all, "seconds": []}
                    | {"wall": [], "max_rss_mb": []},
                )
                entry["seconds"].append(child["seconds"])
                entry["wall"].append(m.wall)
                entry["max_rss_mb"].append(m.max_rss_mb)
                print(
                    f"  round {r + 1} {kind:9s} {n:6d} samples {child['seconds']:7.2f} s "
                    f"{m.max_rss_mb:6.0f} MB",
                    file=sys.stderr,
                )
    loading: dict[str, object] = {
        "split": split,
        "samples_all": n_all,
        "samples_half": n_all // 2,
        "flac_bytes_all": flac_bytes,
        "runs": runs,
    }
    if unavailable is not None:
        loading["sousa_unavailable"] = unavailable
    return loading


# -- main ---------------------------------------------------------------------------------------


def command_line(argv: list[str]) -> str:
    return "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    key, title = config_key(args)
    args.work.mkdir(parents=True, exist_ok=True)
    src = ensure_dataset(args.work, key, args.samples, args.seconds)
    print("staging folder for the loaders …", file=sys.stderr)
    staging = ensure_staging(src, args.work, key, args.shard_size)
    results: dict = {
        "key": key,
        "title": title,
        "command": command_line(argv),
        "rounds": args.rounds,
        "machine": machine_info(args.work),
        "dataset": describe_dataset(src, args.samples, args.seconds),
    }
    if not args.skip_packing:
        print("packing …", file=sys.stderr)
        results["packing"] = measure_packing(src, args.work, args.rounds)
    print("loading …", file=sys.stderr)
    results["loading"] = measure_loading(src, staging, args.rounds, args.skip_native)
    print(console_summary(results))
    update_file(args.out, results)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
