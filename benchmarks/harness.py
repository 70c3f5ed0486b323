"""Measurement: run a command in a child process for its wall time, CPU time and peak memory;
interleave rounds; summarise a sample of timings; note the load average; warm the page cache.

Peak memory of a child is taken two ways:

- ``max_rss_mb``: GNU ``/usr/bin/time -f %M``, the maximum resident set size of the single
  largest process of the tree (the child, or any descendant it waited for, e.g. a worker);
- ``tree_rss_mb``: the largest *sum* of VmRSS over the whole process tree, sampled every
  20 ms from ``/proc`` (so it can miss short peaks; shared pages count once per process).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

GNU_TIME = "/usr/bin/time"
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Measurement:
    """One run of one command."""

    wall: float  # seconds, parent clock, process start to exit
    cpu: float  # seconds of user + system CPU of the child and every descendant it waited for
    max_rss_mb: float  # largest single process (GNU time %M)
    tree_rss_mb: float  # largest sampled sum over the process tree
    stdout: str
    stderr: str


class CommandFailed(RuntimeError):
    """A measured command exited non-zero (the message ends with its stderr's tail)."""


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (empty once it has gone)."""
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(k) for k in f.read().split())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return kids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    except (FileNotFoundError, ProcessLookupError):
        return 0


def tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over `root` and all its descendants, in KiB."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(_children(pid))
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> Measurement:
    """Run `cmd` under GNU time, output captured; raise CommandFailed if it exits non-zero."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [GNU_TIME, "-f", "%M", "-o", tf.name, *cmd]
        start, cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.Popen(
            full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        peak_tree = 0
        while proc.poll() is None:
            # the tree below GNU time (time itself is ~2 MB and not ours)
            peak_tree = max(peak_tree, sum(tree_rss_kb(c) for c in _children(proc.pid)))
            time.sleep(POLL_SECONDS)
        wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise CommandFailed(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
        max_rss_kb = int(Path(tf.name).read_text().split()[-1])
    return Measurement(wall, cpu, max_rss_kb / 1024, peak_tree / 1024, stdout, stderr)


def rotated(names: Sequence[str], round_index: int) -> list[str]:
    """The same names, starting one further each round (so no method always runs first)."""
    shift = round_index % len(names)
    return [*names[shift:], *names[:shift]]


def interleaved(names: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, name) for every name once a round, the order rotated each round (A B, B A, …)."""
    for r in range(rounds):
        for name in rotated(names, r):
            yield r, name


def summary(values: Iterable[float]) -> dict[str, float]:
    """Median, min and max of a non-empty sample (NaN for all three when it is empty)."""
    values = list(values)
    if not values:
        return dict.fromkeys(("median", "min", "max"), float("nan"))
    return {"median": median(values), "min": min(values), "max": max(values)}


def load_average() -> float:
    """The 1-minute load average now."""
    return os.getloadavg()[0]


def load_note(at_start: float) -> str:
    """`load average X at start, Y at end (N cores).` for a report, Y taken now."""
    return (
        f"load average {at_start:.1f} at start, {load_average():.1f} at end "
        f"({os.cpu_count()} cores)."
    )


def files_under(roots: Iterable[Path]) -> list[Path]:
    """Every regular file below `roots`, sorted."""
    return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())


def warm_cache(files: Iterable[Path]) -> int:
    """Read every file once (into the page cache) and flush dirty pages; returns bytes read."""
    total = 0
    for path in files:
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
    os.sync()  # earlier runs' outputs: write them back now, not during the next measurement
    return total


def remove(path: Path) -> None:
    """Remove a file or folder if present."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
