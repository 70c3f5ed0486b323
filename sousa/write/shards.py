"""TAR shards: plan them (pure), then write them (deterministic, atomic, hashed while written).

The plan says, before any byte is written, which member goes to which shard at which byte
offset; the writer only executes it. That is what makes the shard columns exact, dry runs
free, and parallel writing byte-identical to serial writing.

The TAR dialect written here (headers, padding, end of archive) is `sousa.tar_format`'s.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceChangedError
from ..tar_format import BLOCK, END_OF_ARCHIVE, member_span, tar_header_bytes
from .staging import FileDigest, atomic_path

COPY_CHUNK = 1 << 20
WRITE_BUFFER = 4 << 20  # bytes gathered before one write (and one hash update)
KERNEL_COPY_MIN = 4 << 20  # members this large are copied by the kernel, not through Python
DEFAULT_SHARD_SIZE = 1_000_000_000


@dataclass(frozen=True)
class ShardInfo:
    """Where a file lives: its shard and member name (seed names), plus the data's byte range."""

    shard_name: str  # e.g. "train-00001.tar"
    filename: str  # member name inside the shard, e.g. "sample_001.flac"
    offset: int = -1  # byte offset of the member's data inside the shard
    size: int = -1  # the member's size: reading `size` bytes at `offset` gives the file


@dataclass(frozen=True, slots=True)
class Member:
    """One TAR member: copied from `source`, or the given `data` bytes (the labels JSON)."""

    name: str
    size: int
    source: str | None = None
    data: bytes | None = None


def shard_size(member_sizes: Iterable[int]) -> int:
    return sum(member_span(size) for size in member_sizes) + END_OF_ARCHIVE


def locations(shard_name: str, layout: Iterable[tuple[str, int]]) -> Iterator[ShardInfo]:
    """Where each member's data lies in the shard, from its (name, size) layout alone."""
    position = 0
    for member, size in layout:
        yield ShardInfo(shard_name, member, position + BLOCK, size)
        position += member_span(size)


def write_shard(out_path: Path, members: Iterable[Member], size: int) -> FileDigest:
    """Write one shard of `size` bytes under a temporary name; rename it when complete.

    Small members go through one large buffer (few system calls for many small files); a
    member of `KERNEL_COPY_MIN` bytes or more is copied by the kernel (`os.copy_file_range`).
    A second thread hashes the same bytes in the same order, so hashing overlaps copying.
    """
    with atomic_path(out_path) as tmp, open(tmp, "wb", buffering=0) as out:
        sink = _HashingSink(out)
        try:
            for member in members:
                sink.write(tar_header_bytes(member.name, member.size))
                if member.data is not None:
                    sink.write(member.data)
                elif member.size >= KERNEL_COPY_MIN:
                    sink.copy_file(member)
                else:
                    sink.write(_read_exactly(member))
                sink.write(b"\0" * (-member.size % BLOCK))
            sink.write(b"\0" * END_OF_ARCHIVE)
            sha256 = sink.finish()
        finally:
            sink.close()
        written = os.fstat(out.fileno()).st_size
        if written != size:  # every offset in the split tables would be wrong
            raise RuntimeError(f"{out_path}: wrote {written} bytes, the plan says {size}")
    return FileDigest(size, sha256)


class _HashingSink:
    """Writes a shard's bytes in large batches while a thread hashes them in the same order.

    The thread gets either a written buffer or, for kernel-copied members, the source file to
    read and hash itself. The queue is bounded, so at most a few buffers are in memory.
    """

    def __init__(self, out) -> None:
        self._out = out
        self._buffer = bytearray()
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._hash = hashlib.sha256()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= WRITE_BUFFER:
            self._flush()

    def copy_file(self, member: Member) -> None:
        self._flush()
        self._put(member)
        with open(member.source, "rb", buffering=0) as src:
            _check_size(member, os.fstat(src.fileno()).st_size)
            left = member.size
            while left:
                copied = _copy_range(src, self._out, left)
                if copied == 0:
                    _check_size(member, member.size - left)
                left -= copied

    def finish(self) -> str:
        self._flush()
        self._put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the thread (after an error too): it must never outlive the shard."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("closed")
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join()

    def _flush(self) -> None:
        if self._buffer:
            view = memoryview(self._buffer)
            while view:
                view = view[self._out.write(view) :]
            self._put(self._buffer)
            self._buffer = bytearray()

    def _put(self, item) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                if isinstance(item, Member):
                    _hash_file(self._hash, item)
                else:
                    self._hash.update(item)
        except BaseException as e:  # re-raised in the writing thread
            self._error = e
            while self._queue.get() is not None:  # drain so the writer never blocks
                pass


def _read_exactly(member: Member) -> bytes:
    """A small member's bytes, with plain os calls (this runs once per file: ~100,000 times)."""
    fd = os.open(member.source, os.O_RDONLY)
    try:
        data = os.read(fd, member.size + 1)  # one call for a whole file, and one byte more
        while 0 < len(data) <= member.size and (more := os.read(fd, member.size + 1 - len(data))):
            data += more  # a short read (rare): carry on until the end of the file
    finally:
        os.close(fd)
    _check_size(member, len(data))
    return data


def _hash_file(h, member: Member) -> None:
    view = memoryview(bytearray(COPY_CHUNK))
    with open(member.source, "rb", buffering=0) as src:
        left = member.size
        while left and (n := src.readinto(view[: min(left, COPY_CHUNK)])):
            h.update(view[:n])
            left -= n
    _check_size(member, member.size - left)


def _check_size(member: Member, size: int) -> None:
    if size != member.size:
        raise SourceChangedError(
            f"{member.source}: changed size while being packaged ({member.size} bytes when "
            f"planned, {size} now)"
        )


def _copy_range(src, out, count: int) -> int:
    """Up to `count` bytes from src to out: in the kernel where it can, else through a buffer."""
    global _KERNEL_COPY
    if _KERNEL_COPY:
        try:
            return os.copy_file_range(src.fileno(), out.fileno(), count)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            _KERNEL_COPY = False
    chunk = src.read(min(count, COPY_CHUNK))
    out.write(chunk)
    return len(chunk)


_KERNEL_COPY = hasattr(os, "copy_file_range")
