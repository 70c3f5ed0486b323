"""The TAR dialect of sousa shards: how a header is built and parsed, block by block.

A shard is a sequence of members, each a 512-byte ustar header (`tar_header_bytes`: name,
size, mode 0644, mtime 0, uid/gid 0, no user names, regular file) followed by its data padded
to a whole block, then two zero blocks (`END_OF_ARCHIVE`); no record padding, no pax headers
(member names stay within `MAX_NAME_BYTES`). A member takes `member_span(size)` bytes, so a
member's data offset is known before any byte is written. GNU tar, Python's tarfile,
webdataset and `datasets` all read it; `parse_tar_header` reads it back with a few slices.

Part of the staging format (`sousa.layout` holds the rest); standard library only, because
`sousa.write.builder_file` may inline it into the self-contained builder of every Hub repo.
"""

from __future__ import annotations

import tarfile

BLOCK = 512  # a TAR header; member data is padded to a whole number of blocks
END_OF_ARCHIVE = 2 * BLOCK  # the two zero blocks that close a shard (no record padding)
ZERO_BLOCK = bytes(BLOCK)
MAX_NAME_BYTES = 100  # a ustar header's name field; longer names would need pax headers


def member_span(size: int) -> int:
    """Bytes a member of `size` data bytes takes in a shard: header plus padded data."""
    return BLOCK + -(-size // BLOCK) * BLOCK


def tar_header_bytes(name: str, size: int) -> bytes:
    """The header of member `name` with `size` data bytes: deterministic (no timestamps,
    owners or modes from the disk), byte-identical to `tarfile.TarInfo.tobuf(USTAR_FORMAT)` for
    such a member. A name over `MAX_NAME_BYTES` (UTF-8) is a ValueError."""
    encoded = name.encode("utf-8")
    if len(encoded) > MAX_NAME_BYTES:
        raise ValueError(f"tar member name over {MAX_NAME_BYTES} bytes: {name!r}")
    header = bytearray(_HEADER_TEMPLATE)
    header[0 : len(encoded)] = encoded
    header[124:136] = b"%011o\0" % size
    checksum = sum(header)  # the checksum field holds 8 spaces while it is summed
    header[148:156] = b"%06o\0 " % checksum
    return bytes(header)


class TarHeaderError(ValueError):
    """A block that is not a header of this dialect; the message says why."""


def parse_tar_header(block: bytes) -> tuple[str, int]:
    """(name, size) of the member whose header is `block`, the inverse of `tar_header_bytes`.

    Raises `TarHeaderError`: "no TAR header" when the checksum or size field does not read
    (the block is data, zeros, or damaged), "not a file" for an entry other than a regular
    file. A ustar `prefix` field, if set, is joined to the name as tar does.
    """
    try:
        checksum = int(block[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
        size = int(block[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        checksum = size = -1
    if len(block) != BLOCK or size < 0 or checksum != sum(block) - sum(block[148:156]) + 8 * 32:
        raise TarHeaderError("no TAR header")
    name = block[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    prefix = block[345:500].split(b"\0", 1)[0]
    if prefix:
        name = f"{prefix.decode('utf-8', 'surrogateescape')}/{name}"
    if block[156:157] not in (b"0", b"\0"):
        raise TarHeaderError(f"unexpected TAR entry {name!r} (not a file)")
    return name, size


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
