"""TAR shards: plan them (pure), then write them (deterministic, atomic, hashed while written).

The plan says, before any byte is written, which member goes to which shard at which byte
offset; the writer only executes it. That is what makes the shard columns exact, dry runs
free, and parallel writing byte-identical to serial writing.

The TAR dialect written here (headers, padding, end of archive) is `sousa.tar_format`'s.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceChangedError
from ..tar_format import BLOCK, END_OF_ARCHIVE, ZERO_BLOCK, member_span, tar_header_bytes
from .staging import FileDigest, atomic_path

COPY_CHUNK = 1 << 20
WRITE_BUFFER = 256 << 10  # bytes gathered before one write and one hash update
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

    Every byte goes through one buffer of `WRITE_BUFFER` bytes: a member's file is read
    straight into it, headers, labels and padding are copied in, and each full buffer is
    hashed and written with one call (a buffer that stays in the CPU's cache: much larger
    writes are several times slower). Three system calls a file (open, read, close) and
    one read more to see that it did not grow.
    """
    with atomic_path(out_path) as tmp, open(tmp, "wb", buffering=0) as out:
        sink = _ShardSink(out.fileno())
        for member in members:
            sink.add(tar_header_bytes(member.name, member.size))
            if member.data is not None:
                sink.add(member.data)
            else:
                _read_member(member, sink)
            sink.add(ZERO_BLOCK[: -member.size % BLOCK])
        sink.add(bytes(END_OF_ARCHIVE))
        sha256 = sink.finish()
        written = os.fstat(out.fileno()).st_size
        if written != size:  # every offset in the split tables would be wrong
            raise RuntimeError(f"{out_path}: wrote {written} bytes, the plan says {size}")
    return FileDigest(size, sha256)


class _ShardSink:
    """A shard's bytes gathered in one fixed buffer, hashed and written a buffer at a time."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.view = memoryview(bytearray(WRITE_BUFFER))
        self.used = 0
        self._hash = hashlib.sha256()

    def add(self, data: bytes) -> None:
        if self.used + len(data) > WRITE_BUFFER:
            self.flush()
            if len(data) > WRITE_BUFFER:
                self._write(memoryview(data))
                return
        self.view[self.used : self.used + len(data)] = data
        self.used += len(data)

    def room(self) -> memoryview:
        """The free part of the buffer (flushed first if it is full)."""
        if self.used == WRITE_BUFFER:
            self.flush()
        return self.view[self.used :]

    def flush(self) -> None:
        if self.used:
            self._write(self.view[: self.used])
            self.used = 0

    def finish(self) -> str:
        self.flush()
        return self._hash.hexdigest()

    def _write(self, data: memoryview) -> None:
        self._hash.update(data)
        while data:
            data = data[os.write(self.fd, data) :]


def _read_member(member: Member, sink: _ShardSink) -> None:
    """Read a member's file into the sink's buffer; `SourceChangedError` if its size is not
    the planned one (a file that grew shows as one byte more than planned)."""
    fd = os.open(member.source, os.O_RDONLY)
    try:
        left = member.size
        while True:
            room = sink.room()
            n = os.readv(fd, [room[: left + 1]])
            if n == 0:
                break
            if n > left:
                _check_size(member, member.size + n - left)
            sink.used += n
            left -= n
    finally:
        os.close(fd)
    _check_size(member, member.size - left)


def _check_size(member: Member, size: int) -> None:
    if size != member.size:
        raise SourceChangedError(
            f"{member.source}: changed size while being packaged ({member.size} bytes when "
            f"planned, {size} now)"
        )
