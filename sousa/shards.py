"""TAR shards: plan them (pure), then write them (deterministic, atomic, hashed while written).

The plan says, before any byte is written, which member goes to which shard at which byte
offset; the writer only executes it. That is what makes the shard columns exact, dry runs
free, and parallel writing byte-identical to serial writing.

Tar layout written here: a 512-byte ustar header per member (mtime 0, mode 0644, uid/gid 0,
no user names), the data padded to 512 bytes, and two zero blocks at the end; no record
padding. GNU tar, Python's tarfile, webdataset and `datasets` all read it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tarfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .staging import FileDigest, atomic_path

BLOCK = 512
END_OF_ARCHIVE = 2 * BLOCK
COPY_CHUNK = 1 << 20
DEFAULT_SHARD_SIZE = 1_000_000_000


@dataclass(frozen=True)
class ShardInfo:
    """Where a file lives: its shard and member name (seed names), plus the data's byte range."""

    shard_name: str  # e.g. "train-00001.tar"
    filename: str  # member name inside the shard, e.g. "sample_001.flac"
    offset: int = -1  # byte offset of the member's data inside the shard
    size: int = -1  # the member's size: reading `size` bytes at `offset` gives the file


@dataclass(frozen=True)
class Member:
    """One TAR member: copied from `source`, or the given `data` bytes (the labels JSON)."""

    name: str
    size: int
    source: Path | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class ShardPlan:
    """One shard to write: its path relative to the staging folder and its members in order."""

    path: str
    members: tuple[Member, ...]

    @property
    def size(self) -> int:
        return sum(member_span(m.size) for m in self.members) + END_OF_ARCHIVE

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def locations(self) -> Iterator[tuple[Member, ShardInfo]]:
        """Each member with its exact data offset in this shard."""
        position = 0
        for member in self.members:
            yield member, ShardInfo(self.name, member.name, position + BLOCK, member.size)
            position += member_span(member.size)


def member_span(size: int) -> int:
    """Bytes a member takes in the archive: header plus data rounded up to a block."""
    return BLOCK + -(-size // BLOCK) * BLOCK


def plan_shards(
    groups: Iterable[list[Member]], folder: str, split: str, target_size: int
) -> list[ShardPlan]:
    """Cut consecutive groups (a sample's members) into shards of at most `target_size` bytes.

    The check is predictive: a group goes to the next shard when adding it would cross the
    limit, so a shard exceeds it only when one group alone does. No empty shard is planned.
    """
    shards: list[list[Member]] = []
    size = 0
    for group in groups:
        group_size = sum(member_span(m.size) for m in group)
        if not shards or (size > 0 and size + group_size + END_OF_ARCHIVE > target_size):
            shards.append([])
            size = 0
        shards[-1].extend(group)
        size += group_size
    return [
        ShardPlan(f"{folder}/{split}-{i:05d}.tar" if folder else f"{split}-{i:05d}.tar", tuple(m))
        for i, m in enumerate(shards)
    ]


def tar_header(name: str, size: int) -> bytes:
    """A deterministic ustar header: no timestamps, owners or modes taken from the disk.

    Byte-identical to `tarfile.TarInfo.tobuf(USTAR_FORMAT)` for such a member (a test checks
    it), built directly because tarfile's generic builder costs ~30 µs a member.
    """
    encoded = name.encode("utf-8")
    if len(encoded) > 100:
        raise ValueError(f"tar member name over 100 bytes: {name!r}")
    header = bytearray(_HEADER_TEMPLATE)
    header[0 : len(encoded)] = encoded
    header[124:136] = b"%011o\0" % size
    checksum = sum(header)  # the checksum field holds 8 spaces while it is summed
    header[148:156] = b"%06o\0 " % checksum
    return bytes(header)


def _header_template() -> bytes:
    fields = [
        (100, b""),  # name
        (8, b"0000644\0"),  # mode
        (8, b"0000000\0"),  # uid
        (8, b"0000000\0"),  # gid
        (12, b"00000000000\0"),  # size
        (12, b"00000000000\0"),  # mtime
        (8, b" " * 8),  # checksum
        (1, tarfile.REGTYPE),
        (100, b""),  # linkname
        (6, tarfile.POSIX_MAGIC[:6]),  # "ustar\0"
        (2, b"00"),
        (32, b""),  # uname
        (32, b""),  # gname
        (8, b""),  # devmajor (tarfile leaves it empty for regular files)
        (8, b""),  # devminor
        (155, b""),  # prefix
    ]
    return b"".join(value.ljust(width, b"\0") for width, value in fields).ljust(BLOCK, b"\0")


_HEADER_TEMPLATE = _header_template()


def write_shard(plan: ShardPlan, out_path: Path) -> FileDigest:
    """Write one shard under a temporary name and rename it when complete.

    The member data is copied by the kernel (`os.copy_file_range`: no trip through Python)
    while a second thread hashes the same bytes from the sources, so copying and hashing
    overlap on two cores instead of following each other.
    """
    hasher = _ShardHasher(plan)
    hasher.start()
    try:
        with atomic_path(out_path) as tmp, open(tmp, "wb", buffering=0) as out:
            for member in plan.members:
                out.write(tar_header(member.name, member.size))
                if member.data is not None:
                    out.write(member.data)
                else:
                    _copy_exactly(member, out)
                out.write(b"\0" * (-member.size % BLOCK))
            out.write(b"\0" * END_OF_ARCHIVE)
            sha256 = hasher.result()
    finally:
        hasher.stop()
    return FileDigest(plan.size, sha256)


class _ShardHasher(threading.Thread):
    """sha256 of the shard's bytes, computed from the plan and the source files."""

    def __init__(self, plan: ShardPlan) -> None:
        super().__init__(daemon=True)
        self.plan = plan
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._stopped = False

    def run(self) -> None:
        try:
            self._digest = self._hash()
        except BaseException as e:  # re-raised in the writing thread by result()
            self._error = e

    def _hash(self) -> str | None:
        h = hashlib.sha256()
        view = memoryview(bytearray(COPY_CHUNK))
        for member in self.plan.members:
            if self._stopped:
                return None
            h.update(tar_header(member.name, member.size))
            if member.data is not None:
                h.update(member.data)
            else:
                with open(member.source, "rb", buffering=0) as src:
                    left = member.size
                    while left and (n := src.readinto(view[: min(left, COPY_CHUNK)])):
                        h.update(view[:n])
                        left -= n
            h.update(b"\0" * (-member.size % BLOCK))
        h.update(b"\0" * END_OF_ARCHIVE)
        return h.hexdigest()

    def result(self) -> str:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest

    def stop(self) -> None:
        self._stopped = True


def _copy_exactly(member: Member, out) -> None:
    """Copy the member's source file, refusing one that changed size since it was planned."""
    with open(member.source, "rb", buffering=0) as src:
        if os.fstat(src.fileno()).st_size != member.size:
            raise InputError(f"{member.source}: changed size while being packaged")
        left = member.size
        while left:
            copied = _copy_range(src, out, left)
            if copied == 0:
                raise InputError(f"{member.source}: changed size while being packaged")
            left -= copied


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


def create_sharded_archives(
    source_dir: Path,
    output_dir: Path,
    filenames_by_split: dict[str, list[str]],
    target_shard_size_bytes: int = DEFAULT_SHARD_SIZE,
    extension: str = "flac",
) -> dict[str, ShardInfo]:
    """Pack the named files of each split into `{split}-{i:05d}.tar` shards (the seed's API).

    Each file is its own member, named as given, in sorted order. Unlike the seed plan, a
    missing file is an error rather than a warning: a shard map must not silently lack files.
    `extension` is kept for the seed's signature; members keep their own names.
    """
    source_dir, output_dir = Path(source_dir), Path(output_dir)
    groups: dict[str, list[list[Member]]] = {}
    missing: list[str] = []
    for split, filenames in filenames_by_split.items():
        groups[split] = []
        for filename in sorted(filenames):
            path = source_dir / filename
            if not path.is_file():
                missing.append(str(path))
                continue
            groups[split].append([Member(filename, path.stat().st_size, source=path)])
    if missing:
        raise InputError(f"{len(missing)} {extension} file(s) are missing: {missing[:5]}")
    result: dict[str, ShardInfo] = {}
    for split, split_groups in groups.items():
        for shard in plan_shards(split_groups, "", split, target_shard_size_bytes):
            write_shard(shard, output_dir / shard.path)
            result.update((m.name, info) for m, info in shard.locations())
    return result


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in large chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(COPY_CHUNK):
            h.update(chunk)
    return h.hexdigest()
