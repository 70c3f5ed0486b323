"""The Xet shard format (hub-docs ``docs/xet/shard.md``), decoded strictly for the shard upload API.

A shard upload lists the files the client has put together (File Info section: the terms of each
file's reconstruction, one verification hash per term, the file's sha256) and the xorbs it
created (CAS Info section: their chunk hashes). ``xet_cas.py`` checks all of it against the
xorbs it holds before it registers the files.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from .xet_format import BOOKEND, FLAG_METADATA_EXT, FLAG_VERIFICATION, SHARD_TAG, XetFormatError

_ENTRY = 48  # every record in both sections is 48 bytes
_FOOTER_BYTES = 200


@dataclass(frozen=True)
class Term:
    xorb: bytes  # xorb hash
    unpacked: int  # bytes the term decodes to
    start: int  # chunk index range [start, end)
    end: int


@dataclass
class ShardFile:
    file_hash: bytes
    terms: list[Term]
    verification: list[bytes] | None  # one range hash per term
    sha256: bytes | None  # FileMetadataExt


@dataclass
class ShardXorb:
    xorb: bytes
    chunks: list[tuple[bytes, int, int]]  # (chunk hash, byte_range_start, unpacked bytes)
    bytes_in_cas: int
    bytes_on_disk: int


@dataclass
class Shard:
    files: list[ShardFile] = field(default_factory=list)
    xorbs: list[ShardXorb] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def record(self, what: str) -> bytes:
        rec = self.data[self.pos : self.pos + _ENTRY]
        if len(rec) != _ENTRY:
            raise XetFormatError(f"shard: truncated {what} at byte {self.pos}")
        self.pos += _ENTRY
        return rec


def parse_shard_upload(body: bytes) -> Shard:
    """Header (tag, version 2), File Info section, CAS Info section, both bookends, and no footer
    (shard.md: the footer MUST be omitted on upload). Every file must carry verification entries
    and its sha256 (required for git-backed repos)."""
    if len(body) < 48 or body[:32] != SHARD_TAG:
        raise XetFormatError("shard: bad header tag")
    version, footer_size = struct.unpack_from("<QQ", body, 32)
    if version != 2:
        raise XetFormatError(f"shard: header version {version}, want 2")
    r, shard = _Reader(body), Shard()
    r.pos = 48
    while (rec := r.record("file info header")) != BOOKEND:
        shard.files.append(_read_file(r, rec))
    while (rec := r.record("cas info header")) != BOOKEND:
        shard.xorbs.append(_read_xorb(r, rec))
    if footer_size != 0 or r.pos != len(body):
        raise XetFormatError("shard: data after the CAS Info bookend (an upload has no footer)")
    return shard


def _read_file(r: _Reader, rec: bytes) -> ShardFile:
    file_hash = rec[:32]
    flags, n = struct.unpack_from("<II", rec, 32)
    terms = []
    for _ in range(n):
        e = r.record("file data sequence entry")
        _flags, unpacked, start, end = struct.unpack_from("<IIII", e, 32)
        if not start < end:
            raise XetFormatError(f"shard: empty chunk range [{start}, {end})")
        terms.append(Term(e[:32], unpacked, start, end))
    verification = None
    if flags & FLAG_VERIFICATION:
        verification = [r.record("verification entry")[:32] for _ in range(n)]
    sha256 = r.record("metadata ext")[:32] if flags & FLAG_METADATA_EXT else None
    return ShardFile(file_hash, terms, verification, sha256)


def _read_xorb(r: _Reader, rec: bytes) -> ShardXorb:
    _flags, n, in_cas, on_disk = struct.unpack_from("<IIII", rec, 32)
    chunks = []
    for _ in range(n):
        e = r.record("cas chunk sequence entry")
        start, unpacked = struct.unpack_from("<II", e, 32)
        chunks.append((e[:32], start, unpacked))
    return ShardXorb(rec[:32], chunks, in_cas, on_disk)


def dedup_shard(xorb: bytes, chunks: list[tuple[bytes, int]], on_disk: int, expiry: int) -> bytes:
    """The global deduplication answer (shard.md "Global Deduplication") for one xorb: no files,
    its CAS Info block, and a footer with a zero HMAC key (hashes in the clear).

    The footer fields shard.md calls reserved (``_buffer``) are, in xet-core, the offsets and
    sizes of lookup tables written after the CAS Info section (truncated hash -> entry index);
    hf_xet reads them, and a shard without them crashes it, so they are written here too."""
    total = sum(size for _, size in chunks)
    out = bytearray(SHARD_TAG + struct.pack("<QQ", 2, _FOOTER_BYTES))
    out += BOOKEND
    cas_info_offset = len(out)
    out += xorb + struct.pack("<IIII", 0, len(chunks), total, on_disk)
    offset = 0
    for chunk, size in chunks:
        out += chunk + struct.pack("<II", offset, size) + bytes(8)
        offset += size
    out += BOOKEND
    file_lookup = len(out)  # no files: an empty table
    xorb_lookup = file_lookup
    out += xorb[:8] + struct.pack("<I", 0)
    chunk_lookup = len(out)
    for key, i in sorted((int.from_bytes(c[:8], "little"), i) for i, (c, _) in enumerate(chunks)):
        out += struct.pack("<QII", key, 0, i)
    footer_offset = len(out)
    out += struct.pack("<9Q", 1, 48, cas_info_offset, file_lookup, 0, xorb_lookup, 1,
                       chunk_lookup, len(chunks))  # fmt: skip
    out += bytes(32) + struct.pack("<QQ", int(time.time()), expiry) + bytes(48)
    out += struct.pack("<4Q", on_disk, total, total, footer_offset)
    return bytes(out)
