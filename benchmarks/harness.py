"""What every benchmark shares: run a command in a child process for its wall time, CPU time
and peak memory; interleave rounds; summarise timings; warm the page cache; make (or reuse) a
SOUSA-shaped demo folder and its staging folder; describe the machine and the commit. Peak
memory: ``max_rss_mb`` is GNU time's (the largest single process, workers included);
``tree_rss_mb`` the largest sum of VmRSS over the process tree, sampled every 20 ms.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

GNU_TIME = "/usr/bin/time"
POLL_SECONDS = 0.02
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable
CHILD_ENV = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}


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


def cpu_seconds(*who: int) -> float:
    """User + system CPU seconds of `who` (`resource.RUSAGE_*`: by default this process and
    the children it waited for)."""
    usage = [resource.getrusage(w) for w in who or (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> Measurement:
    """Run `cmd` under GNU time, output captured; raise CommandFailed if it exits non-zero."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [GNU_TIME, "-f", "%M", "-o", tf.name, *cmd]
        start, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(
            full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        peak_tree = 0
        while proc.poll() is None:
            # the tree below GNU time (time itself is ~2 MB and not ours)
            peak_tree = max(peak_tree, sum(tree_rss_kb(c) for c in _children(proc.pid)))
            time.sleep(POLL_SECONDS)
        wall, cpu = time.perf_counter() - start, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
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
    """Median, min and max of a non-empty sample."""
    values = list(values)
    return {"median": median(values), "min": min(values), "max": max(values)}


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


def demo_source(work: Path, **demo) -> Path:
    """A `sousa.demo.write_demo(**demo)` folder under `work`, generated once for these
    arguments (a stamp file records them) and reused after."""
    key = "-".join(f"{k}{v}" for k, v in sorted(demo.items()))
    src, stamp = work / f"src-{key}", work / f"src-{key}.json"
    if src.is_dir() and stamp.exists() and json.loads(stamp.read_text()) == demo:
        return src
    from sousa.demo import write_demo

    remove(stamp)
    print(f"generating {src.name} …", file=sys.stderr)
    write_demo(src, **demo)
    stamp.write_text(json.dumps(demo))
    return src


def staging(src: Path, shard_size: str | None = None) -> Path:
    """`src` packaged by `python -m sousa.package` beside it (reused while current)."""
    out = src.with_name(f"{src.name}-staging-{shard_size or 'default'}")
    cmd = [PY, "-m", "sousa.package", str(src), "--out", str(out), "--quiet"]
    run_measured(cmd + (["--shard-size", shard_size] if shard_size else []), CHILD_ENV)
    return out


def machine() -> dict[str, str]:
    """The CPU, cores, Python and library versions, and the commit measured."""
    from importlib.metadata import distributions

    versions = {d.metadata["Name"].lower(): d.version for d in distributions()}
    info = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in info if "model name" in x), platform.machine())
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "sousa"], capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        **{lib: versions.get(lib, "absent") for lib in ("datasets", "huggingface_hub", "torch")},
        "commit": commit.stdout.strip() + ("+edits" if dirty.stdout.strip() else ""),
    }
