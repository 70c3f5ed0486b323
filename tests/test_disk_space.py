"""A full disk, on a real small filesystem (a tmpfs): refused up front when the plan cannot fit,
one clear line when something else fills the disk midway, and a re-run that finishes."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

import sousa.write.pipeline as pipeline
from sousa.demo import write_demo
from sousa.errors import DiskFullError, InputError
from sousa.package import main
from sousa.write.builder_file import standalone_builder
from sousa.write.pipeline import PackageOptions, package_dataset
from sousa.write.space import planned_sizes
from sousa.write.staging import MANIFEST

from .helpers import staged_files, tree_digest

SHARD = 100_000  # bytes: 15 shards of ~72 KB for the small source below


@pytest.fixture(scope="module")
def small_source(tmp_path_factory) -> Path:
    """12 samples of 0.3 s: ~1 MB staged (~1.7 MB planned: the tables are estimated)."""
    return write_demo(tmp_path_factory.mktemp("small") / "src", n_samples=12, seconds=0.3)


@pytest.fixture(scope="module")
def reference(small_source, tmp_path_factory) -> dict[str, str]:
    """The staged files' digests, packaged on an ordinary disk."""
    out = tmp_path_factory.mktemp("reference") / "out"
    package_dataset(PackageOptions(source=small_source, out=out, shard_size=SHARD))
    return _digests(out)


@pytest.fixture
def small_disk(tmp_path):
    """`small_disk(bytes)` mounts a tmpfs of that size (root only, as in CI); unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", str(path)], check=True)


def _digests(out: Path) -> dict[str, str]:
    return {k: v.split(":")[0] for k, v in tree_digest(out).items()}


def _fill_after_locking(monkeypatch, disk: Path, leave: int) -> None:
    """Something else fills `disk` (all but `leave` bytes) once the run has planned, passed the
    free-space check and locked its folder: between the check and the writing."""
    real_lock = pipeline.writer_lock

    @contextmanager
    def lock_then_fill(out):
        with real_lock(out):
            with open(disk / "filler", "wb") as f:
                os.posix_fallocate(f.fileno(), 0, shutil.disk_usage(disk).free - leave)
            yield

    monkeypatch.setattr(pipeline, "writer_lock", lock_then_fill)


def test_a_plan_larger_than_the_free_space_is_refused_before_anything_is_written(
    small_source, small_disk, capsys
):
    disk = small_disk(512 * 1024)
    out = disk / "out"
    args = [str(small_source), "--out", str(out), "--shard-size", str(SHARD), "--quiet"]
    assert main(args) == 2
    stderr = capsys.readouterr().err
    assert re.fullmatch(
        rf"error: not enough disk space: needs 1\.\d MB, 524\.3 KB free at {re.escape(str(out))} "
        r"\(nothing was written; free some space or choose another --out\)\n",
        stderr,
    ), stderr
    assert os.listdir(disk) == []


def test_files_a_run_replaces_or_removes_count_as_free(small_source, small_disk, reference):
    """Re-packaging with other shards needs about as much again as the first run: it fits
    because the old files are removed or replaced before the new ones take their room."""
    disk = small_disk(2_300_000)
    out = disk / "out"
    package_dataset(PackageOptions(source=small_source, out=out, shard_size=SHARD))
    assert shutil.disk_usage(disk).free < sum(planned_sizes(*_plan(small_source)).values())
    package_dataset(PackageOptions(source=small_source, out=out, shard_size=2 * SHARD))
    with pytest.raises(InputError, match="not enough disk space"):  # what the credit is worth
        package_dataset(PackageOptions(source=small_source, out=disk / "other", shard_size=SHARD))


def _plan(source: Path):
    _, plan = pipeline.plan_package(PackageOptions(source=source, shard_size=SHARD))
    return plan, len(standalone_builder())


@pytest.mark.parametrize("workers", [1, 2])
def test_a_disk_filled_midway_stops_the_run_and_the_rerun_finishes(
    small_source, small_disk, reference, monkeypatch, workers
):
    disk = small_disk(2_300_000)
    out = disk / "out"
    options = PackageOptions(source=small_source, out=out, shard_size=SHARD, workers=workers)
    _fill_after_locking(monkeypatch, disk, leave=100_000)  # the first shard fits, not two

    with pytest.raises(DiskFullError, match="No space left on device while writing") as failed:
        package_dataset(options)
    assert "re-run to finish" in str(failed.value)
    assert multiprocessing.active_children() == []  # every shard writer stopped
    assert not list(out.rglob("*.incomplete")), "a temporary file was left behind"
    assert not (out / MANIFEST).exists()
    done = _digests(out)
    assert done.items() <= reference.items(), "a final-named file is not complete"
    first = out / "audio/train-00000.tar"
    inode = first.stat().st_ino if workers == 1 else None  # complete before the disk ran out

    monkeypatch.undo()
    (disk / "filler").unlink()
    package_dataset(options)
    assert _digests(out) == reference
    if inode is not None:  # a shard complete (and stamped) before the disk ran out is kept
        assert first.stat().st_ino == inode


def test_the_command_line_says_the_disk_filled_in_one_line(
    small_source, small_disk, monkeypatch, capsys
):
    disk = small_disk(2_300_000)
    out = disk / "out"
    _fill_after_locking(monkeypatch, disk, leave=100_000)
    args = [str(small_source), "--out", str(out), "--shard-size", str(SHARD), "--workers", "1"]
    assert main([*args, "--quiet"]) == 1
    expected = (
        f"error: No space left on device while writing {out}/audio/train-00001.tar; the files "
        "already complete are kept: free some space and re-run to finish\n"
    )
    assert capsys.readouterr().err == expected
    assert [p.relative_to(out).as_posix() for p in staged_files(out)] == ["audio/train-00000.tar"]


def test_a_shard_writer_that_dies_midway_leaves_no_temporary_file(
    small_source, tmp_path, monkeypatch
):
    """A worker killed mid-shard runs no cleanup (as when the OOM killer takes it): the run
    stops with an error, removes what the workers left, and the re-run finishes."""
    import sousa.write.shards as shards_module

    real_read = shards_module._read_member
    calls = {"n": 0}  # counted in each forked worker separately

    def read_then_die(member, sink):
        calls["n"] += 1
        if calls["n"] == 5:
            os._exit(1)
        return real_read(member, sink)

    monkeypatch.setattr(shards_module, "_read_member", read_then_die)
    out = tmp_path / "out"
    options = PackageOptions(source=small_source, out=out, shard_size=SHARD, workers=2)
    with pytest.raises(RuntimeError, match="a shard writer process died"):
        package_dataset(options)
    assert not list(out.rglob("*.incomplete"))
    assert multiprocessing.active_children() == []
    monkeypatch.undo()
    package_dataset(options)
    assert not list(out.rglob("*.incomplete")) and (out / MANIFEST).exists()
