"""How packaging runs relate to each other: what makes a run reuse the last one's output, and
that a killed run leaves no process behind."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sousa.write.pipeline as pipeline
from sousa.write.pipeline import OUTPUT_NEUTRAL_OPTIONS, PackageOptions, package_dataset

from .helpers import SMALL_SHARD, big_sparse_first_sample


def _other_value(options: PackageOptions, name: str):
    value = getattr(options, name)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if name == "unassigned":
        return "train"
    if isinstance(value, (str, type(None))):
        return "elsewhere"
    if isinstance(value, Path):
        return value / "elsewhere"
    raise AssertionError(f"no other value for option {name!r} = {value!r}: add one here")


def test_every_option_but_the_output_neutral_ones_is_part_of_the_reuse_key(tmp_path):
    options = PackageOptions(source=tmp_path)
    key = options.fingerprint_fields()
    for option in dataclasses.fields(PackageOptions):
        changed = dataclasses.replace(options, **{option.name: _other_value(options, option.name)})
        differs = changed.fingerprint_fields() != key
        assert differs == (option.name not in OUTPUT_NEUTRAL_OPTIONS), option.name


def test_the_reuse_key_covers_every_source_file_of_the_packager(tmp_path):
    copy = Path(shutil.copytree(Path(pipeline.__file__).parents[1], tmp_path / "sousa"))
    before = pipeline.code_fingerprint(copy)
    with open(copy / "card" / "readme.py", "a") as f:
        f.write("# an edit\n")
    assert pipeline.code_fingerprint(copy) != before
    assert pipeline.code_fingerprint(copy) == pipeline.code_fingerprint(copy)


def test_edited_packager_code_packages_an_unchanged_source_again(source, monkeypatch):
    first = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    again = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    assert not first.reused and again.reused
    monkeypatch.setattr(pipeline, "code_fingerprint", lambda: "the code after an edit")
    edited = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    assert not edited.reused


def _children(pid: int) -> set[int]:
    """Every descendant of `pid` (Linux /proc)."""
    found: set[int] = set()
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in map(int, f.read().split()):
                    found |= {child} | _children(child)
    return found


def _incomplete_sizes(out: Path) -> list[int]:
    """Sizes of the files being written (one renamed meanwhile is left out)."""
    sizes = []
    for path in out.rglob(".*.incomplete"):
        with contextlib.suppress(FileNotFoundError):
            sizes.append(path.stat().st_size)
    return sizes


def _writing_a_shard(pid: int) -> bool:
    """The process holds a shard's temporary file open."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(".incomplete"):
                    return True
    return False


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped by whoever adopted it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PDEATHSIG is Linux")
def test_shard_writers_die_with_a_killed_packager(source, tmp_path):
    """SIGKILL of the main process (what the OOM killer does): 5 s later no worker remains.

    The workers are stopped (SIGSTOP) first, as if blocked: left to themselves they could
    finish their shards and exit within the 5 s, which would prove nothing. Only the kernel's
    parent-death signal can end a stopped process.
    """
    big = big_sparse_first_sample(source)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sousa.package", str(source), "--out", str(out), "--quiet"]
    process = subprocess.Popen([*command, "--shard-size", "400KB", "--workers", "2"])
    deadline = time.monotonic() + 60
    workers: set[int] = set()  # every worker seen: one may finish its shards and exit early

    def writing_the_big_shard() -> bool:
        return any(size > 2**20 for size in _incomplete_sizes(out))

    while not (workers and writing_the_big_shard()) and process.poll() is None:
        assert time.monotonic() < deadline
        workers |= {p for p in _children(process.pid) if _alive(p)}
        time.sleep(0.005)
    assert process.poll() is None, "finished before it could be killed"
    # Stop only workers that are writing a shard: they have passed their start-up (where the
    # parent-death signal is set), so only the kernel can end them now.
    writing = [pid for pid in workers if _writing_a_shard(pid)]
    for pid in writing:
        os.kill(pid, signal.SIGSTOP)
    assert writing, "no worker caught writing"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    gone_by = time.monotonic() + 5  # stopped workers end only by the parent-death signal
    while any(_alive(p) for p in workers) and time.monotonic() < gone_by:
        time.sleep(0.005)
    try:
        assert [p for p in workers if _alive(p)] == []
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(out, ignore_errors=True)
        big.unlink()
