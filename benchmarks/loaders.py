"""The loaders every loading benchmark runs, and each one alone in its own process.

    python benchmarks/run.py loaders [--rounds 3]

Each decodes every FLAC of a staging folder's `train` to float32: `tar` (`tarfile` +
`soundfile`: the floor), `webdataset` (+ `soundfile`), `sousa` (`sousa.load(streaming=True)`;
`sousa_threads`: `decode_threads=2`), `native` (`load_dataset` + torchcodec), `dl_tar` /
`dl_sousa` (`DataLoader(num_workers=2)` over a tarfile `IterableDataset` / `sousa.load`),
`*_batched` (with the card's recipe: a random 2 s crop, batches of 16). As a benchmark: each
alone in a fresh process over half and all of train, interleaved: samples/s, peak RSS. Child:
`loaders.py KIND,… ROOT LIMIT ROUNDS`, loaders in one process (imports before the clocks); last
line `{"wall": {kind: [samples/s]}, "cpu": {kind: [per CPU s]}}`.
"""

from __future__ import annotations

import io
import json
import random
import sys
import tarfile
import time
from pathlib import Path

SPLIT = "train"
CROP_SECONDS, BATCH = 2.0, 16  # the card recipe's crop and batch
LOADERS = ("tar", "webdataset", "sousa", "native")
DATALOADERS = ("dl_tar", "dl_sousa", "dl_tar_batched", "dl_sousa_batched")
SHAPE = {"n_samples": 300, "seconds": 5.0}, "100MB"  # demo arguments, shard size


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

    if kind == "tar":
        return tar_samples(shards(root))
    if kind == "webdataset":
        return webdataset_samples(shards(root))
    if kind in ("sousa", "sousa_threads"):
        threads = 2 if kind == "sousa_threads" else 0
        return sousa.load(str(root), split=SPLIT, streaming=True, decode_threads=threads)
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
    batch = BATCH if kind.endswith("_batched") else None
    return torch.utils.data.DataLoader(ds, num_workers=2, batch_size=batch)


def timed(kind: str, root: Path, limit: int) -> tuple[float, float]:
    """(samples per wall second, per CPU second) of one pass of `kind` (≤ `limit` samples)."""
    import gc

    from harness import cpu_seconds

    samples_of = loader_samples(kind, root)
    start, cpu, n = time.perf_counter(), cpu_seconds(), 0
    items = iter(samples_of)
    for item in items:
        n += len(item["audio"]) if kind.endswith("_batched") else 1
        if limit and n >= limit:
            break
    wall = time.perf_counter() - start
    del items, samples_of
    gc.collect()
    return n / wall, n / (cpu_seconds() - cpu)


def child(kinds: list[str], root: Path, limit: int, rounds: int) -> None:
    import datasets  # noqa: F401  (imports before the clocks)
    import torch  # noqa: F401

    if "native" in kinds:  # only what the loaders need: peak RSS is each one's own
        import torchcodec.decoders  # noqa: F401
    if "webdataset" in kinds:
        import webdataset  # noqa: F401
    from harness import interleaved

    rates: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    for _, kind in interleaved(kinds, rounds):
        wall, per_cpu = timed(kind, root, limit)
        rates[kind].append(wall)
        cpu[kind].append(per_cpu)
        print(f"  {kind:17s} {wall:8.1f} samples/s {per_cpu:8.1f} per CPU s", file=sys.stderr)
    print(json.dumps({"wall": rates, "cpu": cpu}))


def measure(kinds, root: Path, rounds: int, limit: int = 0) -> dict[str, dict[str, float]]:
    """kind → median samples/s (wall, CPU) over the rounds, all kinds in one child process,
    and that process's peak RSS in MB (GNU time)."""
    from harness import CHILD_ENV, PY, files_under, run_measured, summary, warm_cache

    warm_cache(files_under([root]))
    cmd = [PY, __file__, ",".join(kinds), str(root), str(limit), str(rounds)]
    m = run_measured(cmd, CHILD_ENV)
    rates = json.loads(m.stdout.strip().splitlines()[-1])
    return {
        k: {"rate": summary(v)["median"], "cpu": summary(rates["cpu"][k])["median"]}
        | {"rss": m.max_rss_mb}
        for k, v in rates["wall"].items()
    }


def main(argv: list[str]) -> dict:
    import argparse

    import pyarrow.parquet as pq
    from harness import HERE, demo_source, rotated, staging, summary

    p = argparse.ArgumentParser(prog="run.py loaders", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", type=Path, default=HERE / "work")
    args = p.parse_args(argv)
    root = staging(demo_source(args.work, **SHAPE[0]), SHAPE[1])
    n = pq.ParquetFile(root / f"data/{SPLIT}-00000-of-00001.parquet").metadata.num_rows
    kinds = [*LOADERS, "sousa_threads", *DATALOADERS]
    runs: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for limit in (n // 2, n):
            for kind in rotated(kinds, r):
                m = measure([kind], root, 1, limit)[kind]
                for field in ("rate", "rss"):
                    runs.setdefault(f"{kind}@{limit}", {}).setdefault(field, []).append(m[field])
    rate = {k: f"{summary(r['rate'])['median']:.0f}" for k, r in runs.items()}
    rss = {k: f"{max(r['rss']):.0f}" for k, r in runs.items()}
    rows = [[k, *(d[f"{k}@{x}"] for d in (rate, rss) for x in (n // 2, n))] for k in kinds]
    header = ["loader, alone in a process", f"samples/s ({n // 2:,})", f"samples/s ({n:,})"]
    header += [f"peak RSS MB ({n // 2:,})", f"peak RSS MB ({n:,})"]
    note = f"train of `write_demo({SHAPE[0]})`, shards of {SHAPE[1]}"
    return {
        "title": "Each loader alone",
        "runs": runs,
        "tables": [{"header": header, "rows": rows, "note": note}],
    }


if __name__ == "__main__":
    child(sys.argv[1].split(","), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
