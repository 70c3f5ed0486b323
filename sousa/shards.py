"""TAR shards: plan them (pure), then write them (deterministic, atomic, hashed while written).

The plan says, before any byte is written, which member goes to which shard at which byte
offset; the writer only executes it. That is what makes the shard columns exact, dry runs
free, and parallel writing byte-identical to serial writing.

Tar layout written here: a 512-byte ustar header per member (mtime 0, mode 0644, uid/gid 0,
no user names), the data padded to 512 bytes, and two zero blocks at the end; no record
padding. GNU tar, Python's tarfile, webdataset and `datasets` all read it.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .staging import FileDigest, atomic_writer

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
    """A deterministic ustar header: no timestamps, owners or modes taken from the disk."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def write_shard(plan: ShardPlan, out_path: Path) -> FileDigest:
    """Write one shard under a temporary name, hashing while writing; rename when complete."""
    with atomic_writer(out_path) as out:
        for member in plan.members:
            out.write(tar_header(member.name, member.size))
            if member.data is not None:
                out.write(member.data)
            else:
                _copy_exactly(member, out)
            out.write(b"\0" * (-member.size % BLOCK))
        out.write(b"\0" * END_OF_ARCHIVE)
    return out.digest


def _copy_exactly(member: Member, out) -> None:
    """Copy the member's source file, refusing one that changed size since it was planned."""
    copied = 0
    with open(member.source, "rb") as src:
        while chunk := src.read(COPY_CHUNK):
            copied += len(chunk)
            if copied > member.size:
                break
            out.write(chunk)
    if copied != member.size:
        raise InputError(f"{member.source}: changed size while being packaged")


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
