"""How packaging runs relate to each other: what makes a run reuse the last one's output, and
that a killed run leaves no process behind."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sousa.write.pipeline as pipeline
from sousa.write.code_key import code_fingerprint as fingerprint_of
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


# Files whose edit changes what a run writes, and files whose edit cannot (they are not
# imported on the way from `package_dataset` to the staging folder).
BYTE_MAKERS = [
    "write/shards.py", "write/pipeline.py", "write/plan.py", "write/tables.py", "layout.py",
    "tar_format.py", "card/readme.py", "card/figures.py", "card/stats.py", "read/builder.py",
]  # fmt: skip
NOT_BYTE_MAKERS = ["hub/push.py", "hub/pulls.py", "demo/writer.py", "package.py", "peek.py"]


def _edit(path: Path) -> None:
    with open(path, "a") as f:
        f.write("# an edit\n")


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """A copy of the `sousa` package: the code a test edits (never the real tree)."""
    real = Path(pipeline.__file__).parents[1]
    code = tmp_path_factory.mktemp("code") / "sousa"
    return Path(shutil.copytree(real, code, ignore=shutil.ignore_patterns("__pycache__")))


@pytest.mark.parametrize("rel", BYTE_MAKERS + NOT_BYTE_MAKERS)
def test_the_reuse_key_covers_the_code_that_makes_the_bytes_and_nothing_else(
    package_copy, tmp_path, rel
):
    copy = Path(shutil.copytree(package_copy, tmp_path / "sousa"))
    before = pipeline.code_fingerprint(copy)
    _edit(copy / rel)
    assert (pipeline.code_fingerprint(copy) != before) == (rel in BYTE_MAKERS)
    assert pipeline.code_fingerprint(copy) == pipeline.code_fingerprint(copy)


def test_the_reuse_key_follows_imports_to_a_module_added_to_the_writer(package_copy, tmp_path):
    copy = Path(shutil.copytree(package_copy, tmp_path / "sousa"))
    (copy / "write" / "new_part.py").write_text("VALUE = 1\n")
    before = pipeline.code_fingerprint(copy)
    with open(copy / "write" / "shards.py", "a") as f:
        f.write("\n\ndef _uses_it():\n    from .new_part import VALUE\n\n    return VALUE\n")
    imported = pipeline.code_fingerprint(copy)
    _edit(copy / "write" / "new_part.py")
    assert before != imported != pipeline.code_fingerprint(copy)


def test_a_push_side_edit_reuses_a_packaged_folder_and_a_writer_edit_does_not(
    source, package_copy, tmp_path, monkeypatch
):
    copy = Path(shutil.copytree(package_copy, tmp_path / "sousa"))
    monkeypatch.setattr(pipeline, "code_fingerprint", lambda: fingerprint_of(copy))
    first = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    _edit(copy / "hub" / "push.py")
    after_push_edit = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    _edit(copy / "write" / "shards.py")
    after_writer_edit = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    assert not first.reused and after_push_edit.reused and not after_writer_edit.reused


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


SPY = """
import json, sys
import sousa.write.shard_pool as pool

real = pool.write_one


def spy(shard, out):  # in the forked shard writer: the modules imported before its fork
    with open(sys.argv[1], "w") as f:
        json.dump(sorted({name.split(".")[0] for name in sys.modules}), f)
    return real(shard, out)


pool.write_one = spy
from sousa.package import main

sys.exit(main(sys.argv[2:]))
"""


def test_nothing_the_shards_do_not_need_is_imported_before_the_first_shard(source, tmp_path):
    report = tmp_path / "modules.json"
    args = [str(source), "--out", str(tmp_path / "out"), "--quiet", "--workers", "1"]
    subprocess.run([sys.executable, "-c", SPY, str(report), *args], check=True)
    imported = set(json.loads(report.read_text()))
    assert {"sousa", "pyarrow", "numpy"} <= imported  # it saw the packager at work
    assert not imported & {"matplotlib", "huggingface_hub", "datasets", "torch"}
