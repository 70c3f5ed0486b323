"""How well each epoch's order mixes, and what it costs: `sousa.load(seed=, epoch=)` and the card's
recipe, against their unshuffled streams.

    python benchmarks/run.py epochs [--samples 1600] [--rounds 3] [--limit 400]

Writes a demo of `--samples` samples (1 s stereo 24-bit clips), packages it with a shard size
that gives train 5 `audio` shards (the shape issue 22 measured), and measures:

mixing, for `sousa.load` (`audio`, `midi`) and the card's recipe (`epoch_dataset`): the share
of epoch 0's adjacent pairs and batches of 16 found again in epoch 1, the mean total variation
distance of epoch 1's batches' `skill_tier` / `rudiment_slug` mix to the split's, and whether
each epoch is the split once; speed: samples/s over the first `--limit` samples of each stream,
audio decoded, shuffled (epoch 1) and not, each in a child process, interleaved (medians, and
peak RSS). The recipe is the card's code (it needs `make .venv/.native-audio`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from harness import CHILD_ENV, HERE, PY, demo_source, interleaved, run_measured

BATCH = 16
CLASSES = ("skill_tier", "rudiment_slug")


def staging_folder(work: Path, samples: int) -> Path:
    """The demo packaged so that train has 5 audio shards (the size found from a dry plan)."""
    from sousa.write.pipeline import PackageOptions, package_dataset, plan_package

    source = demo_source(work, n_samples=samples, seconds=1.0)
    out = source.with_name(f"{source.name}-epochs-staging")
    _, plan = plan_package(PackageOptions(source=source, out=out))
    train = sum(s.size for s in plan.shards if s.kind == "audio" and s.split == "train")
    package_dataset(PackageOptions(source=source, out=out, shard_size=train // 5 + 2**20))
    return out


def in_config(staging: Path, config: str) -> dict[str, dict]:
    """Train's rows that have the config's file, by sample id."""
    import pyarrow.parquet as pq

    rows = pq.read_table(staging / "data/train-00000-of-00001.parquet").to_pylist()
    return {row["sample_id"]: row for row in rows if row[f"{config}_shard"] is not None}


def recurring(first: list, second: list, size: int) -> float:
    def groups(order):
        if size == 2:
            return {frozenset(pair) for pair in zip(order, order[1:])}
        return {frozenset(order[i : i + size]) for i in range(0, len(order) - size + 1, size)}

    return len(groups(first) & groups(second)) / max(1, len(groups(first)))


def batch_tvd(order: list[str], labels: dict[str, dict], column: str) -> float:
    """Mean over the batches of BATCH of the total variation distance to the split's mix."""
    split = Counter(labels[sid][column] for sid in order)
    distances = []
    for start in range(0, len(order) - BATCH + 1, BATCH):
        batch = Counter(labels[sid][column] for sid in order[start : start + BATCH])
        keys = split.keys() | batch.keys()
        distances.append(sum(abs(batch[k] / BATCH - split[k] / len(order)) for k in keys) / 2)
    return round(statistics.fmean(distances), 3)


def mixing(orders: list[list[str]], labels: dict[str, dict]) -> dict:
    """`labels`: the split's samples that have the config's file, by sample id."""
    whole = sorted(labels)
    return {
        "pairs_recurring": round(recurring(orders[0], orders[1], 2), 4),
        "batches_recurring": round(recurring(orders[0], orders[1], BATCH), 4),
        **{f"tvd_{c}": batch_tvd(orders[1], labels, c) for c in CLASSES},
        "epochs_whole": all(sorted(order) == whole for order in orders),
    }


def recipe(staging: Path) -> dict:
    """The card's recipe block, executed up to its training loop (the repo: the folder)."""
    text = (staging / "README.md").read_text()
    section = text.split("\n## Training\n", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    code = code.replace('"<user>/sousa"', repr(str(staging))).split("\nfor epoch in range(")[0]
    namespace = {"__name__": "benchmark"}
    exec(compile(code, "recipe.py", "exec"), namespace)
    return namespace


def sample_id(example: dict) -> str:
    return example["sample_id"] if "sample_id" in example else example["json"]["sample_id"]


def stream(variant: str, staging: Path):
    """The examples of one variant (audio decoded): `sousa` or `recipe`, `plain` or
    `shuffled` (epoch 1)."""
    kind, order = variant.split("_")
    if kind == "sousa":
        import sousa

        extra = {"seed": 0, "epoch": 1} if order == "shuffled" else {}
        return sousa.load(staging, "audio", split="train", streaming=True, **extra)
    g = recipe(staging)
    if order == "shuffled":
        return g["epoch_dataset"](1)
    from datasets import load_dataset

    ds = load_dataset(str(staging), "audio", split="train", streaming=True)
    return ds.map(g["to_tensors"], remove_columns=ds.column_names)


def child(variant: str, staging: Path, limit: int) -> None:
    """One timed pass (in this process) over the first `limit` samples: samples, seconds,
    peak RSS (MB)."""
    ds = stream(variant, staging)
    start, count = time.perf_counter(), 0
    for example in ds:
        if "audio" in example and isinstance(example["audio"], dict):
            example["audio"]["array"].sum()  # decoded by soundfile already
        count += 1
        if count == limit:
            break
    seconds = time.perf_counter() - start
    print(json.dumps({"samples": count, "seconds": seconds}))


def speed(staging: Path, rounds: int, limit: int) -> dict:
    variants = ("sousa_plain", "sousa_shuffled", "recipe_plain", "recipe_shuffled")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    env = CHILD_ENV | {"HF_HOME": str(staging.parent / "hf")}
    for _, variant in interleaved(variants, rounds):
        cmd = [PY, __file__, "--child", variant, "--staging", str(staging), "--limit", str(limit)]
        m = run_measured(cmd, env)
        runs[variant].append(json.loads(m.stdout.strip().splitlines()[-1]))
        runs[variant][-1]["rss_mb"] = m.max_rss_mb
    out = {}
    for variant, got in runs.items():
        out[variant] = {
            "samples_per_s": round(statistics.median(r["samples"] / r["seconds"] for r in got)),
            "peak_rss_mb": statistics.median(r["rss_mb"] for r in got),
        }
    for kind in ("sousa", "recipe"):
        ratio = out[f"{kind}_shuffled"]["samples_per_s"] / out[f"{kind}_plain"]["samples_per_s"]
        out[f"{kind}_shuffled_vs_plain"] = round(ratio, 2)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--limit", type=int, default=400, help="samples a speed run reads")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--staging", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.staging, args.limit)
        return {}
    import sousa

    args.work.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(args.work, args.samples)
    result: dict = {"samples": args.samples, "shards": {}, "mixing": {}}
    for config in ("audio", "midi"):
        result["shards"][config] = len(list((staging / config).glob("train-*.tar")))
        kw = {"split": "train", "streaming": True, "seed": 0}
        orders = [
            [sample_id(x) for x in sousa.load(staging, config, **kw, epoch=e)] for e in [0, 1]
        ]
        result["mixing"][f"sousa_{config}"] = mixing(orders, in_config(staging, config))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    g = recipe(staging)
    orders = [[sample_id(e) for e in g["epoch_dataset"](epoch)] for epoch in (0, 1)]
    result["mixing"]["recipe_audio"] = mixing(orders, in_config(staging, "audio"))
    speeds = result["speed"] = speed(staging, args.rounds, args.limit)
    head = ["epoch 0 → 1", "pairs again", "batches of 16 again"]
    head += [f"batch TVD `{c}`" for c in CLASSES] + ["each epoch the split once"]
    rows = [[k, *(str(v) for v in m.values())] for k, m in result["mixing"].items()]
    fast = [[k, str(v["samples_per_s"]), f"{v['peak_rss_mb']:.0f}"] for k, v in speeds.items()
            if isinstance(v, dict)]  # fmt: skip
    fast += [[k, f"{v:.2f} ×", ""] for k, v in speeds.items() if not isinstance(v, dict)]
    result["title"] = "Epochs: mixing between epochs, and its cost"
    note = f"train of {args.samples:,} samples × 1 s, shards {result['shards']}"
    result["tables"] = [
        {"header": head, "rows": rows, "note": note},
        {"header": ["stream (audio decoded)", "samples/s", "peak RSS MB"], "rows": fast},
    ]
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
