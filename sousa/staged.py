"""A staging folder as every side sees it: its manifest read back, the one-writer lock, file
hashing, and the rule for names that are someone else's.

The writer (`sousa.write`), the pusher (`sousa.hub`) and the demo's folder all use these, so
they stand here, beside the format (`sousa.layout`), not inside one side. One process at a
time writes or pushes a staging folder: it holds `writer_lock` (an `flock` on
`layout.LOCK_PATH`, which the kernel releases when the holder dies; local state, in no
manifest, never pushed).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DISK_FULL_ERRNOS, InputError
from .layout import LOCAL_STATE_FOLDER, LOCK_PATH, MANIFEST_PATH, Manifest, ManifestError

HASH_CHUNK = 1 << 20
_HELD: dict[Path, int] = {}  # staging folders whose lock this process holds: nesting depth


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in large chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def writer_lock(out: Path) -> Iterator[None]:
    """Hold the staging folder `out` for this process (creating it): the one writer or pusher.

    Another process holding it: `InputError` "another sousa.package (pid N) is writing DIR",
    at once. The lock is an `flock`, so a killed holder's lock is gone with it; the file
    keeps the holder's pid while held (for that message). Nested use in one process is free.
    """
    key = out.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    (out / LOCAL_STATE_FOLDER).mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise InputError(f"another sousa.package (pid {holder}) is writing {out}") from None
        _write_pid(fd, f"{os.getpid()}\n".encode())
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
            _write_pid(fd, b"")
    finally:
        os.close(fd)  # releases the lock (forked shard writers have exited by now)


def _holder(fd: int) -> str:
    """The lock holder's pid, as it wrote it: a holder that has just taken the lock may not
    have written it yet, so an empty file is read again for up to a tenth of a second."""
    for _ in range(50):
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if pid:
            return pid
        time.sleep(0.002)
    return "unknown"


def _write_pid(fd: int, data: bytes) -> None:
    """Record the holder's pid: only a message depends on it, so a full disk is no error."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError as e:
        if e.errno not in DISK_FULL_ERRNOS:
            raise


def read_manifest(out: Path) -> Manifest:
    """The manifest of a complete staging folder; an InputError naming it if there is none or
    it is not one this code reads."""
    path = out / MANIFEST_PATH
    if not path.is_file():
        raise InputError(
            f"{out}: no {MANIFEST_PATH}, so not a complete staging folder (re-package it)"
        )
    try:
        return Manifest.from_json(path.read_bytes())
    except OSError as e:
        raise InputError(f"{path}: unreadable ({e})") from e
    except ManifestError as e:
        raise InputError(f"{path}: {e}") from None


def foreign_names(folder: Path, ours: Callable[[str], bool]) -> list[str]:
    """The sorted names in `folder` that `ours` does not claim ([] if it is not a folder).

    The one rule of every writer here (staging, `sousa.demo`): what it does not claim in a
    folder it writes is someone else's, and is neither overwritten nor removed unasked.
    """
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not ours(p.name))


def remove_entry(path: Path) -> None:
    """Remove a file, a symlink (not its target) or a whole folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
