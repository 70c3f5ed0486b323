"""Loading against its baselines in one run (issue 16): `python benchmarks/loading.py`.

Contract: generates (or reuses, under `--work`) SOUSA-shaped demo folders with
`sousa.demo.write_demo` and stages them with `sousa.package`; then, for each clip shape,
runs every loader of `LOADERS` and `DATALOADERS` interleaved (the order rotates each round),
`--rounds` times, with the page cache warm, and reports medians of samples/s and the ratios
the issue sets targets for. Prints one markdown table and writes it as the "Loading (issue 16)"
block of `--out`. Each loader reads the `train` split's audio shards (or its source files)
and decodes every FLAC to float32; the clock starts after imports (torch, datasets,
torchcodec, webdataset are imported by every loader, so none pays them on the clock).

Loaders run in a child process per clip shape, `python benchmarks/loading.py --child
KIND,KIND… ROOT LIMIT ROUNDS`, every loader once a round in rotated order; its last stdout line
is `{"wall": {kind: [samples/s of each round]}, "cpu": {kind: [samples per CPU second]}}` (CPU:
user + system of the child and its DataLoader workers). Peak RSS is measured with the child alone
(`--memory`: `sousa.load` over half and all of train, 100,000 samples in all).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLIT = "train"
CROP_SECONDS = 2.0  # the card recipe's crop
BATCH = 16
SHAPES = {  # name: write_demo arguments, shard size, samples each loader reads
    "5 s stereo 24-bit": ({"n_samples": 300, "seconds": 5.0}, "100MB", 128),
    "1.5 s mono 16-bit": (
        {"n_samples": 2000, "seconds": 1.5, "channels": 1, "subtype": "PCM_16"},
        "40MB",
        640,
    ),
}
MEMORY_SHAPE = ({"n_samples": 100_000, "seconds": 0.05}, None)  # all of train, and half


# -- the loaders (run in a child process) --------------------------------------------------------


def shards(root: Path) -> list[Path]:
    return sorted((root / "audio").glob(f"{SPLIT}-*.tar"))


def tar_samples(paths: list[Path]):
    """tarfile + soundfile: each sample's float32 array and parsed labels, shard by shard."""
    import soundfile as sf

    for path in paths:
        with tarfile.open(path, "r|") as tar:
            sample, key = {}, None
            for member in tar:
                stem, ext = member.name.split(".", 1)
                if stem != key and sample:
                    yield sample
                    sample = {}
                key, data = stem, tar.extractfile(member).read()
                if ext == "flac":
                    sample["audio"], sample["rate"] = sf.read(io.BytesIO(data), dtype="float32")
                elif ext == "json":
                    sample["labels"] = json.loads(data)
            if sample:
                yield sample


def webdataset_samples(paths: list[Path]):
    """The webdataset library + soundfile: float32 arrays and parsed labels."""
    import soundfile as sf
    import webdataset as wds

    for sample in wds.WebDataset([str(p) for p in paths], shardshuffle=False, empty_check=False):
        audio, rate = sf.read(io.BytesIO(sample["flac"]), dtype="float32")
        yield {"audio": audio, "rate": rate, "labels": json.loads(sample["json"])}


def crop(audio, rate: int, labels: dict) -> dict:
    """The card recipe's worker step: a random 2 s mono crop (zero-padded) and four labels."""
    import torch

    wave = torch.from_numpy(audio.mean(1) if audio.ndim == 2 else audio)
    length = int(CROP_SECONDS * rate)
    start = random.randint(0, max(0, len(wave) - length))
    wave = torch.nn.functional.pad(wave[start : start + length], (0, max(0, length - len(wave))))
    keep = ("sample_id", "rudiment_slug", "skill_tier", "tempo_bpm")
    return {"audio": wave} | {k: labels[k] for k in keep}


def tar_dataset(root: Path, batched: bool):
    """A plain torch IterableDataset reading its worker's share of the shards with tarfile."""
    import torch.utils.data

    class TarShards(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            mine = shards(root)[info.id :: info.num_workers] if info else shards(root)
            for s in tar_samples(mine):
                yield crop(s["audio"], s["rate"], s["labels"]) if batched else s

    return TarShards()


def sousa_crop(example: dict) -> dict:
    audio = example["audio"]
    return crop(audio["array"], audio["sampling_rate"], example)


def loader_samples(kind: str, root: Path):
    import datasets
    import torch.utils.data

    import sousa

    batch = {"batch_size": BATCH} if kind.endswith("_batched") else {"batch_size": None}
    if kind == "tar":
        return tar_samples(shards(root))
    if kind == "webdataset":
        return webdataset_samples(shards(root))
    if kind == "sousa":
        return sousa.load(str(root), split=SPLIT, streaming=True)
    if kind == "native":
        ds = datasets.load_dataset(str(root), "audio", split=SPLIT, streaming=True)
        return (s["flac"].get_all_samples().data for s in ds)
    if kind.startswith("dl_tar"):
        ds = tar_dataset(root, kind.endswith("_batched"))
    elif kind.startswith("dl_sousa"):
        ds = sousa.load(str(root), split=SPLIT, streaming=True)
        ds = ds.map(sousa_crop, remove_columns=ds.column_names) if "batched" in kind else ds
    else:
        raise SystemExit(f"unknown loader {kind!r}")
    return torch.utils.data.DataLoader(ds, num_workers=2, **batch)


def cpu_seconds() -> float:
    """User + system CPU of this process and of its children waited for (DataLoader workers
    are joined when their iterator goes)."""
    import resource

    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(kind: str, root: Path, limit: int) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second) of one pass of `kind` over `root`
    (at most `limit` samples; 0: all). CPU counts the DataLoader workers too."""
    import gc

    samples_of = loader_samples(kind, root)
    start, cpu, n = time.perf_counter(), cpu_seconds(), 0
    items = iter(samples_of)
    for item in items:
        n += len(item["audio"]) if kind.endswith("_batched") else 1
        if limit and n >= limit:
            break
    wall = time.perf_counter() - start
    del items, samples_of, item
    gc.collect()
    return n / wall, n / (cpu_seconds() - cpu)


def child(kinds: list[str], root: Path, limit: int, rounds: int) -> None:
    """Every loader once per round in this process (imports paid once, before the clocks),
    the order rotated each round; prints {kind: [samples/s per round]}."""
    import datasets  # noqa: F401  (imports before the clocks)
    import torch  # noqa: F401

    if kinds != ["sousa"]:  # the memory runs import only what sousa.load needs
        import torchcodec.decoders  # noqa: F401
        import webdataset  # noqa: F401

    from harness import interleaved

    import sousa  # noqa: F401

    rates: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    for _, kind in interleaved(kinds, rounds):
        wall, per_cpu = timed(kind, root, limit)
        rates[kind].append(wall)
        cpu[kind].append(per_cpu)
        print(f"  {kind:17s} {wall:8.1f} samples/s {per_cpu:8.1f} per CPU s", file=sys.stderr)
    print(json.dumps({"wall": rates, "cpu": cpu}))


LOADERS = ("tar", "webdataset", "sousa", "native")
DATALOADERS = ("dl_tar", "dl_sousa", "dl_tar_batched", "dl_sousa_batched")


# -- the run -------------------------------------------------------------------------------------


def staged(work: Path, name: str, demo: dict, shard_size: str | None) -> Path:
    """A demo folder and its staging folder under `work`, made once for these arguments."""
    from sousa.demo import write_demo

    key = "-".join(f"{k}{v}" for k, v in sorted(demo.items()))
    src, out = work / f"src-{key}", work / f"staging-{key}-{shard_size}"
    stamp = work / f"{key}-{shard_size}.done"
    if not stamp.exists():
        print(f"generating {name} …", file=sys.stderr)
        write_demo(src, **demo)
        cmd = [sys.executable, "-m", "sousa.package", str(src), "--out", str(out), "--quiet"]
        subprocess.run(cmd + (["--shard-size", shard_size] if shard_size else []), check=True)
        stamp.touch()
    return out


def measure(kinds, root: Path, rounds: int, limit: int = 0) -> dict[str, dict[str, float]]:
    """kind → median samples/s over the rounds (one child process, loaders interleaved) and
    that process's peak RSS in MB (GNU time)."""
    from harness import files_under, run_measured, summary, warm_cache

    warm_cache(files_under([root]))
    cmd = [sys.executable, __file__, "--child", ",".join(kinds), str(root), str(limit)]
    m = run_measured([*cmd, str(rounds)], ENV)
    rates = json.loads(m.stdout.strip().splitlines()[-1])
    return {
        k: {
            "rate": summary(v)["median"],
            "cpu": summary(rates["cpu"][k])["median"],
            "rss": m.max_rss_mb,
        }
        for k, v in rates["wall"].items()
    }


ENV = None  # set in main: offline, no progress bars


def table(results: dict) -> str:
    """The issue's ratios (medians of samples/s, the same run), then the raw rates."""
    from report import table as render

    rows = []
    ratios = (
        ("`sousa.load` / tarfile + soundfile", "sousa", "tar", "≥ 0.95 (5 s), ≥ 0.9 (1.5 s)"),
        ("`sousa.load` / webdataset + soundfile", "sousa", "webdataset", "≥ 1.0"),
        ("native + torchcodec / `sousa.load`", "native", "sousa", "(measured)"),
        ("DataLoader(2 workers) + recipe: `sousa.load` / tarfile", "dl_sousa_batched",
         "dl_tar_batched", "≥ 0.9"),
        ("DataLoader(2 workers), no batching: `sousa.load` / tarfile", "dl_sousa", "dl_tar",
         "(measured)"),
    )  # fmt: skip
    for label, a, b, target in ratios:
        rows.append(
            [label, target, *(f"{r[a]['rate'] / r[b]['rate']:.2f}" for r in results.values())]
        )
    for label, a, b, target in ratios:  # the same per CPU second (workers included)
        cells = (f"{r[a]['cpu'] / r[b]['cpu']:.2f}" for r in results.values())
        rows.append([f"{label}, per CPU second", target, *cells])
    rates = [
        [kind, *(f"{r[kind]['rate']:.0f} / {r[kind]['cpu']:.0f}" for r in results.values())]
        for kind in LOADERS + DATALOADERS
    ]
    lines = render(["ratio (same run, medians)", "target", *results], rows)
    lines += ["", *render(["samples per wall s / per CPU s (medians)", *results], rates)]
    return "\n".join(lines) + "\n"


def memory_table(memory: dict) -> str:
    """Peak RSS of `sousa.load(streaming=True)` over half and all of train (datasets + torch
    imported), and all / half (target: flat within 10 %, ≤ 400 MB)."""
    from report import table as render

    header = ["`sousa.load` streaming train, 100,000 samples × 0.05 s", "samples", "peak RSS MB"]
    rows = render(
        header,
        [
            [("all" if n == max(memory) else "half"), f"{n:,}", f"{m['rss']:.0f}"]
            for n, m in memory.items()
        ],
    )
    half, full = (memory[n]["rss"] for n in sorted(memory))
    return "\n".join(rows) + f"\n\nall / half: {full / half:.2f}\n"


def main(argv: list[str] | None = None) -> int:
    global ENV
    import os

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1].split(","), Path(argv[2]), int(argv[3]), int(argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=HERE / "work")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--memory", action="store_true", help="also peak RSS at 100,000 samples")
    p.add_argument("--memory-only", action="store_true", help="only peak RSS at 100,000")
    p.add_argument("--out", type=Path, default=HERE.parent / "BENCHMARKS.md")
    args = p.parse_args(argv)
    ENV = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    args.work.mkdir(parents=True, exist_ok=True)
    from harness import load_average, load_note
    from report import write_extra

    if not args.memory_only:
        load = load_average()
        results = {}
        for name, (demo, shard_size, limit) in SHAPES.items():
            root = staged(args.work, name, demo, shard_size)
            print(f"{name}:", file=sys.stderr)
            results[name] = measure(list(LOADERS + DATALOADERS), root, args.rounds, limit)
        body = f"`python benchmarks/loading.py`, {load_note(load)}\n\n{table(results)}"
        print(body)
        write_extra(args.out, "loading-16", "## Loading (issue 16)", body)
    if args.memory or args.memory_only:
        load = load_average()
        root = staged(args.work, "100,000 × 0.05 s", *MEMORY_SHAPE)
        import pyarrow.parquet as pq

        n = pq.ParquetFile(root / f"data/{SPLIT}-00000-of-00001.parquet").metadata.num_rows
        memory = {half: measure(["sousa"], root, 1, half)["sousa"] for half in (n // 2, n)}
        body = f"`python benchmarks/loading.py --memory-only`, {load_note(load)}\n\n"
        body += memory_table(memory)
        print(body)
        write_extra(args.out, "loading-16-memory", "## Loading memory (issue 16)", body)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
