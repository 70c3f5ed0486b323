"""Measurement primitives: run a command and take its wall time and peak memory, warm the cache.

Peak memory is taken two ways for every command:

- ``max_rss_mb``: GNU ``/usr/bin/time -f %M``, the maximum resident set size of the single
  largest process of the tree (the child, or any descendant it waited for, e.g. a worker);
- ``tree_rss_mb``: the largest *sum* of VmRSS over the whole process tree, sampled every
  20 ms from ``/proc`` (so it can miss short peaks; shared pages count once per process).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

GNU_TIME = "/usr/bin/time"
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Measurement:
    """One run of one command."""

    wall: float  # seconds, parent clock, process start to exit
    max_rss_mb: float  # largest single process (GNU time %M)
    tree_rss_mb: float  # largest sampled sum over the process tree
    stdout: str


class CommandFailed(RuntimeError):
    """A measured command exited non-zero."""


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
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over `root` and all its descendants, in KiB."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(_children(pid))
    return total


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> Measurement:
    """Run `cmd` under GNU time; raise CommandFailed (with its stderr) if it fails."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [GNU_TIME, "-f", "%M", "-o", tf.name, *cmd]
        start = time.perf_counter()
        proc = subprocess.Popen(
            full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        peak_tree = 0
        while proc.poll() is None:
            # the tree below GNU time (time itself is ~2 MB and not ours)
            peak_tree = max(peak_tree, sum(tree_rss_kb(c) for c in _children(proc.pid)))
            time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - start
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise CommandFailed(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
        max_rss_kb = int(Path(tf.name).read_text().split()[-1])
    return Measurement(wall, max_rss_kb / 1024, peak_tree / 1024, stdout)


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


def _first_line(path: str, prefix: str) -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _disk(path: Path) -> str:
    try:
        out = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        device, fstype = out[0], out[1]
        name = Path(device).name
        rota = Path(f"/sys/block/{name}/queue/rotational")
        kind = {"0": "non-rotational", "1": "rotational (as reported; likely virtual)"}
        kind_text = kind.get(rota.read_text().strip(), "?") if rota.exists() else "?"
        return f"{device} ({fstype}, {kind_text})"
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def machine_info(work: Path) -> dict[str, str]:
    """CPU, cores, RAM, versions, disk and date, for the report."""
    mem_kb = _first_line("/proc/meminfo", "MemTotal").split()[0]
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first_line("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "ram": f"{int(mem_kb) / 1024**2:.1f} GiB" if mem_kb.isdigit() else "unknown",
        "os": platform.platform(),
        "python": platform.python_version(),
        "datasets": _version("datasets"),
        "torch": _version("torch"),
        "torchcodec": _version("torchcodec"),
        "soundfile": _version("soundfile"),
        "tar": subprocess.run(["tar", "--version"], capture_output=True, text=True)
        .stdout.splitlines()[0]
        .strip(),
        "disk": _disk(work),
        "executable": sys.executable,
    }
