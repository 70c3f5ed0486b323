"""Choose when a filter reads by range and when it streams whole shards, by measurement.

    python benchmarks/selective.py [--samples 1200 --seconds 1.5 --shard-size 20MB]

For a seeded random fraction of the train split (1 % … 50 %: what a label filter selects in
every shard once shards are mixed), time `sousa.load(filter={"sample_id": ids},
streaming=True)` with audio decoding off (equal in both paths, so left out), once forced to
range-read every shard (builder `REQUEST_COST` 0) and once forced to stream every shard
whole (`REQUEST_COST` huge); on the local staging folder (page cache warm) and over the
loopback Hub emulator (tests/hub_emulator.py). Then fits, per place,

    range time  = a × requests + c × bytes read      stream time = c × shard bytes

and prints the break-even request cost a / c in bytes of shard: the builder's
`REQUEST_COST` (range reads when bytes + requests × cost < shard bytes).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
FORCE = {"ranges": 0, "stream": 10**15}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, default=1200)
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--shard-size", default="20MB")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", type=Path, default=HERE / "work")
    return p.parse_args(argv)


def planned(staging: Path, ids: set) -> tuple[int, int, int]:
    """(requests, bytes read by range, bytes of the shards touched) for the audio config."""
    import json

    from sousa.read.ranges import plan_spans
    from sousa.tar_format import END_OF_ARCHIVE

    table = pq.read_table(staging / "data/train-00000-of-00001.parquet").to_pylist()
    sizes = json.loads((staging / "manifest.json").read_text())["files"]
    requests = read = shards = 0
    for shard in sorted({r["audio_shard"] for r in table if r["sample_id"] in ids}):
        in_shard = sorted(
            (r for r in table if r["audio_shard"] == shard), key=lambda r: r["audio_offset"]
        )
        rows = [r for r in in_shard if r["sample_id"] in ids]
        size = sizes[f"audio/{shard}"]["size"]
        spans = plan_spans(
            [r["audio_offset"] for r in rows],
            [r["midi_filename"] is not None for r in rows],
            [r["audio_size"] for r in rows],
            [r["audio_offset"] for r in in_shard],
            size - END_OF_ARCHIVE,
        )
        requests += len(spans)
        read += sum(s.end - s.start for s in spans)
        shards += size
    return requests, read, shards


def timed(root: str, ids: list[str], mode: str, where: str, rounds: int) -> float:
    from harness import summary

    import sousa
    import sousa.read.ranges as builder

    builder.REQUEST_COST[where] = FORCE[mode]
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        ds = sousa.load(root, split="train", streaming=True, filter={"sample_id": ids})
        n = sum(1 for _ in ds.decode(False))
        times.append(time.perf_counter() - start)
        assert n == len(ids), (n, len(ids))
    return summary(times)["median"]


def measure(root: str, staging: Path, where: str, rounds: int) -> list[dict]:
    ids_all = pq.read_table(staging / "data/train-00000-of-00001.parquet", columns=["sample_id"])
    ids_all = ids_all.column("sample_id").to_pylist()
    rows = []
    for fraction in FRACTIONS:
        ids = random.Random(0).sample(ids_all, max(1, round(fraction * len(ids_all))))
        requests, read, shards = planned(staging, set(ids))
        row = {"where": where, "fraction": fraction, "requests": requests, "read": read}
        row["shards"] = shards
        for mode in FORCE:
            row[mode] = timed(root, ids, mode, where, rounds)
        print(
            f"{where:6s} {fraction:5.0%} {requests:5d} requests {read / 1e6:7.1f} MB by range "
            f"{row['ranges']:6.2f} s | stream {shards / 1e6:7.1f} MB {row['stream']:6.2f} s",
            file=sys.stderr,
        )
        rows.append(row)
    return rows


def fit(rows: list[dict]) -> dict:
    """c: seconds per streamed shard byte; a: seconds per range request, taking a byte read
    by range to cost what a streamed byte does (requests and bytes rise together with the
    fraction, so fitting both is ill-conditioned); cost = a / c in bytes of shard."""
    c = sum(r["stream"] for r in rows) / sum(r["shards"] for r in rows)
    extra = [(r["ranges"] - c * r["read"], r["requests"]) for r in rows]
    a = sum(e * n for e, n in extra) / sum(n * n for _, n in extra)
    return {"a": a, "c": c, "cost": a / c}


def table(rows: list[dict], fits: dict) -> str:
    from report import table as render

    header = ["where", "fraction", "range requests", "MB by range", "range s", "shards MB"]
    header += ["stream s", "range / stream"]
    cells = [
        [r["where"], f"{r['fraction']:.0%}", str(r["requests"]), f"{r['read'] / 1e6:.1f}"]
        + [f"{r['ranges']:.2f}", f"{r['shards'] / 1e6:.1f}", f"{r['stream']:.2f}"]
        + [f"{r['ranges'] / r['stream']:.2f}"]
        for r in rows
    ]
    lines = [*render(header, cells), ""]
    for where, f in fits.items():
        lines.append(
            f"- {where}: streaming {1 / f['c'] / 1e6:,.0f} MB/s; a range request costs "
            f"{f['a'] * 1e3:.2f} ms = {f['cost'] / 1024:,.0f} KiB of streamed shard"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    from _pytest.monkeypatch import MonkeyPatch
    from run import ensure_dataset, ensure_staging

    args = parse_args(sys.argv[1:] if argv is None else argv)
    key = f"samples{args.samples}-s{args.seconds:g}"
    args.work.mkdir(parents=True, exist_ok=True)
    src = ensure_dataset(args.work, key, args.samples, args.seconds)
    staging = ensure_staging(src, args.work, key, args.shard_size)
    rows = measure(str(staging), staging, "local", args.rounds)

    from sousa.hub.push import push
    from tests.hub_emulator import emulated_hub

    monkeypatch = MonkeyPatch()
    try:
        with emulated_hub(monkeypatch, args.work / "hf_home"):
            push(staging, "user/selective")
            rows += measure("user/selective", staging, "remote", args.rounds)
    finally:
        monkeypatch.undo()
    fits = {where: fit([r for r in rows if r["where"] == where]) for where in ("local", "remote")}
    print(table(rows, fits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
