"""One writer per staging folder: a second run is refused at once, a push holds the folder, a
killed holder blocks nobody, temporary names are per process, and reuse trusts only files whose
stamps say they are as written."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import sousa.hub.push
from sousa.errors import InputError
from sousa.layout import LEGACY_LOCAL_FILES, LOCAL_STATE_FOLDER, LOCK_PATH, STAMPS_PATH
from sousa.package import main
from sousa.staged import sha256_file
from sousa.write import stamps as stamps_module
from sousa.write.pipeline import PackageOptions, package_dataset
from sousa.write.staging import MANIFEST, write_bytes_atomic

from .helpers import SMALL_SHARD, big_sparse_first_sample, staged_files
from .push_cli import push_cli


def _command(source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "sousa.package", str(source), "--out", str(out)]


def _hold_lock(out: Path) -> int:
    """Take the folder's lock the way a packager does, from this test process."""
    (out / LOCAL_STATE_FOLDER).mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_PATH, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _assert_consistent(out: Path) -> None:
    """Every file the manifest lists is there with its size and sha256, and nothing else."""
    files = json.loads((out / MANIFEST).read_text())["files"]
    for rel, f in files.items():
        assert (out / rel).stat().st_size == f["size"], rel
        assert sha256_file(out / rel) == f["sha256"], rel
    staged = {p.relative_to(out).as_posix() for p in staged_files(out)}
    assert staged == {*files, MANIFEST}


def test_a_second_run_is_refused_at_once_while_another_holds_the_folder(source, tmp_path):
    out = tmp_path / "out"
    fd = _hold_lock(out)
    try:
        done = subprocess.run([*_command(source, out), "--quiet"], capture_output=True, text=True)
        with pytest.raises(InputError, match="another sousa.package"):
            package_dataset(PackageOptions(source=source, out=out))
    finally:
        os.close(fd)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"error: another sousa.package (pid {os.getpid()}) is writing {out}\n"
    assert [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] == [LOCK_PATH]


def test_a_lock_left_by_a_killed_process_blocks_nobody(source, tmp_path):
    out = tmp_path / "out"
    (out / LOCAL_STATE_FOLDER).mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out / LOCK_PATH)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout.readline() == b"locked\n"
    with pytest.raises(InputError, match=f"pid {holder.pid}"):
        package_dataset(PackageOptions(source=source, out=out, shard_size=SMALL_SHARD))
    holder.kill()
    holder.wait()
    package_dataset(PackageOptions(source=source, out=out, shard_size=SMALL_SHARD))
    _assert_consistent(out)


_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"{os.getpid()}\\n".encode())
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_run_that_starts_while_another_writes_is_refused(source, tmp_path):
    """The first run is caught writing (its progress bar is out) and stopped there; the second
    is refused naming it; the first, continued, completes a consistent folder."""
    big = big_sparse_first_sample(source, 32 * 2**20)
    out = tmp_path / "out"
    first = subprocess.Popen(
        [*_command(source, out), "--progress", "--workers", "1", "--shard-size", "400KB"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen = b""
    while b"packing shards" not in seen:
        chunk = os.read(first.stderr.fileno(), 4096)
        assert chunk, f"the first run ended before writing: {seen!r}"
        seen += chunk
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = subprocess.run([*_command(source, out), "--quiet"], capture_output=True, text=True)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    first.communicate()
    assert second.returncode == 2, second.stderr
    assert second.stderr == f"error: another sousa.package (pid {first.pid}) is writing {out}\n"
    assert first.returncode == 0
    _assert_consistent(out)
    big.unlink()


def test_two_runs_started_together_one_is_refused_and_the_folder_is_consistent(source, tmp_path):
    big = big_sparse_first_sample(source)  # whichever locks first writes long enough
    out = tmp_path / "out"
    command = [*_command(source, out), "--quiet", "--shard-size", "400KB"]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(), run.stderr.read(), run.pid) for run in runs]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    (_, refused, _), (_, _, writer) = sorted(results, key=lambda r: -r[0])
    assert refused == f"error: another sousa.package (pid {writer}) is writing {out}\n"
    _assert_consistent(out)
    big.unlink()
    for path in out.rglob("*.tar"):  # do not leave 128 MB behind in pytest's temp folders
        path.unlink()


def test_a_push_holds_the_folder_while_it_reads_it(source, tmp_path, monkeypatch, capsys):
    """A run started while a push reads the folder is refused, whether the push is the
    packager's own (`--push`) or a library call of `sousa.hub.push.push` (the push's work is
    stopped at its start: what it would read is the folder as the lock found it)."""
    out = tmp_path / "out"
    during: list[subprocess.CompletedProcess] = []

    def pushing(staging, repo_id, *args) -> sousa.hub.push.PushResult:
        during.append(subprocess.run([*_command(source, out), "--quiet"], capture_output=True))
        return sousa.hub.push.PushResult(repo_id, "main", "main")

    monkeypatch.setattr(sousa.hub.push, "_push", pushing)
    argv = [str(source), "--out", str(out), "--push", "--repo-id", "user/sousa", "--quiet"]
    assert main(argv) == 0
    sousa.hub.push.push(out, "user/sousa")
    assert [run.returncode for run in during] == [2, 2]
    assert all(b"another sousa.package" in run.stderr for run in during)
    assert main([str(source), "--out", str(out), "--quiet"]) == 0  # released after the push


def _write_slowly(path: Path, ready, go) -> None:
    """A process writing `path` atomically, paused (by the test) in the middle."""
    from sousa.write.staging import atomic_writer

    with atomic_writer(path) as out:
        out.write(b"child ")
        ready.set()
        go.wait()
        out.write(b"done")


def test_two_processes_writing_one_file_do_not_share_a_temporary_name(tmp_path):
    path = tmp_path / "audio" / "train-00000.tar"
    context = multiprocessing.get_context("fork")
    ready, go = context.Event(), context.Event()
    child = context.Process(target=_write_slowly, args=(path, ready, go))
    child.start()
    assert ready.wait(60)
    write_bytes_atomic(path, b"parent")  # while the child's file is half written
    go.set()
    child.join()
    assert child.exitcode == 0
    assert path.read_bytes() == b"child done"
    assert not list(path.parent.glob("*.incomplete"))


def _flip_a_byte(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("change", ["bytes", "replaced", "deleted"])
def test_reuse_packages_again_when_a_file_is_not_as_written(source, change):
    options = PackageOptions(source=source, shard_size=SMALL_SHARD)
    first = package_dataset(options)
    out = first.out
    shard = out / "audio" / "train-00001.tar"
    manifest = (out / MANIFEST).read_bytes()
    st = shard.stat()
    if change == "bytes":  # same size, in place
        _flip_a_byte(shard)
    elif change == "replaced":  # another file of the same size and mtime
        data = bytearray(shard.read_bytes())
        data[1000] ^= 0xFF
        shard.unlink()
        shard.write_bytes(bytes(data))
        os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        shard.unlink()
    again = package_dataset(options)
    assert not again.reused
    assert (out / MANIFEST).read_bytes() == manifest
    _assert_consistent(out)
    assert package_dataset(options).reused


def test_a_file_changed_within_the_clock_tick_of_its_stamp_is_hashed_before_it_is_trusted(
    source,
):
    """File times tick coarsely: a change in the tick the stamp was taken leaves the stat as
    stamped. Made exact here: the stamp is given the changed file's stat, and the stamps file
    the time of that change."""
    options = PackageOptions(source=source, shard_size=SMALL_SHARD)
    out = package_dataset(options).out
    shard = out / "audio" / "train-00001.tar"
    _flip_a_byte(shard)
    st = shard.stat()
    stamps = [json.loads(line) for line in (out / STAMPS_PATH).read_text().splitlines()]
    for stamp in stamps:
        if stamp["path"] == "audio/train-00001.tar":
            stamp.update(mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, ino=st.st_ino)
    (out / STAMPS_PATH).write_text("".join(json.dumps(s) + "\n" for s in stamps))
    os.utime(out / STAMPS_PATH, ns=(st.st_atime_ns, max(st.st_mtime_ns, st.st_ctime_ns)))
    assert not package_dataset(options).reused
    _assert_consistent(out)


def test_a_shard_changed_while_the_run_goes_on_is_not_trusted(source, monkeypatch):
    """Another program rewrites a finished shard in place (keeping its size and mtime) while
    the packager writes the next ones: the next run packages again."""
    real_record = stamps_module.Stamps.record
    first_shard = "audio/train-00000.tar"

    def record_then_tamper(self, path, fingerprint, digest):
        real_record(self, path, fingerprint, digest)
        if path == "audio/train-00001.tar":
            st = (self.out / first_shard).stat()
            _flip_a_byte(self.out / first_shard)
            os.utime(self.out / first_shard, ns=(st.st_atime_ns, st.st_mtime_ns))

    monkeypatch.setattr(stamps_module.Stamps, "record", record_then_tamper)
    options = PackageOptions(source=source, shard_size=SMALL_SHARD, workers=1)
    out = package_dataset(options).out
    monkeypatch.undo()
    assert not package_dataset(options).reused
    _assert_consistent(out)


def test_the_local_files_are_in_no_manifest(staging):
    files = json.loads((staging / MANIFEST).read_text())["files"]
    assert (staging / STAMPS_PATH).is_file() and (staging / LOCK_PATH).is_file()
    assert not {LOCK_PATH, STAMPS_PATH} & set(files)
    assert (staging / LOCK_PATH).read_bytes() == b""  # released: no pid left behind
    stamps = [json.loads(line) for line in (staging / STAMPS_PATH).read_text().splitlines()]
    assert sorted(s["path"] for s in stamps) == sorted(files)
    assert not re.search(r"\.sousa", (staging / "README.md").read_text())


def test_the_local_files_are_never_uploaded_by_the_push_nor_by_a_hand_upload(hub, source):
    """`--push` sends the manifest's files; `upload_folder` (what `hf upload` runs) skips
    `.cache/huggingface/` by default, so a hand upload of the folder publishes no local state."""
    from huggingface_hub import HfApi

    staging = source / "hf_staging"
    staging.mkdir()
    for legacy in LEGACY_LOCAL_FILES:  # where sousa 0.1 kept them: a re-run removes them
        (staging / legacy).write_bytes(b"old\n")
    assert push_cli(source) == 0
    assert (staging / STAMPS_PATH).is_file() and (staging / LOCK_PATH).is_file()
    assert not any((staging / legacy).exists() for legacy in LEGACY_LOCAL_FILES)
    HfApi().create_repo("user/by-hand", repo_type="dataset")
    HfApi().upload_folder(repo_id="user/by-hand", folder_path=staging, repo_type="dataset")
    for repo in ("user/sousa", "user/by-hand"):
        remote = hub.repo_files(repo)
        assert MANIFEST in remote, repo
        assert not [p for p in remote if p.startswith((".cache", ".sousa"))], repo
