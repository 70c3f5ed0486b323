"""The shard-writing phase alone against GNU tar of the same media files, interleaved.

    python benchmarks/shard_floor.py SOURCE_DIR [--rounds 5] [--workers 1] [--work DIR]

Plans SOURCE_DIR once (as `python -m sousa.package` does), then each round, in alternating
order and with a warm page cache: `write_shards` of every planned shard (headers, labels JSON,
padding, sha256) in this process's workers, and `tar -cf` of the same audio and MIDI files
(`-T` list, in shard order). Prints each run and the medians of wall and CPU time (CPU:
this process, its threads and its waited-for workers; steadier than wall time on a busy
machine): what the shard writer costs above the copy floor.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import rotated, warm_cache

from sousa.write.pipeline import PackageOptions, plan_package
from sousa.write.shard_pool import write_shards


def _cpu() -> float:
    """User + system CPU seconds of this process and of the children it has waited for."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("source", type=Path)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()))
    args = p.parse_args(argv)
    _, plan = plan_package(PackageOptions(source=args.source))
    members = [m.source for s in plan.shards for m in s.iter_members() if m.source]
    root = str(args.source.resolve())
    listing = args.work / "shard-floor-members.txt"
    listing.write_text("".join(f"{Path(m).relative_to(root)}\n" for m in members))
    out = args.work / "shard-floor-out"
    runs: dict[str, list[float]] = {"tar": [], "shards": []}
    cpu: dict[str, list[float]] = {"tar": [], "shards": []}
    for r in range(args.rounds):
        for name in rotated(list(runs), r):
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            warm_cache(Path(m) for m in members)
            start, cpu_start = time.perf_counter(), _cpu()
            if name == "tar":
                tar = ["tar", "-cf", str(out / "all.tar"), "-C", root, "-T", str(listing)]
                subprocess.run(tar, check=True)
            else:
                write_shards(plan.shards, out, args.workers)
            runs[name].append(time.perf_counter() - start)
            cpu[name].append(_cpu() - cpu_start)
            print(
                f"round {r + 1} {name:6s} {runs[name][-1]:6.2f} s, cpu {cpu[name][-1]:6.2f} s",
                file=sys.stderr,
            )
    shutil.rmtree(out, ignore_errors=True)
    tar, shards = (statistics.median(runs[k]) for k in ("tar", "shards"))
    tar_cpu, shards_cpu = (statistics.median(cpu[k]) for k in ("tar", "shards"))
    print(
        f"{len(members)} media files, {len(plan.shards)} shards, workers {args.workers}, "
        f"medians of {args.rounds}: tar {tar:.2f} s (cpu {tar_cpu:.2f} s), shards {shards:.2f} s "
        f"(cpu {shards_cpu:.2f} s): {shards / tar:.2f} x tar's time, {shards_cpu / tar_cpu:.2f} "
        "x its cpu"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
