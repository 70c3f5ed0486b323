"""The Xet storage formats, decoded and checked the way the published specification defines them.

Used by the emulator's CAS server (xet_cas.py) to *verify* what the real ``hf_xet`` client
uploads instead of trusting it: hub-docs ``docs/xet/`` (hashing.md, xorb.md, shard.md, api.md),
cross-read with xet-core where the spec is silent (the merkle tree's cut rule, the LZ4 *frame*
format, the byte order of the sha256 in a shard). Everything here is pure Python
except BLAKE3 (the ``blake3`` package): the stdlib has no BLAKE3 and the spec's hashes are all
BLAKE3 keyed hashes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from blake3 import blake3

# hashing.md: the three BLAKE3 keys (the spec lists them as decimal byte arrays)
DATA_KEY = bytes.fromhex("6697f5775b9550de3135cbaca597181c9de421109beb2b58b4d0b04b93adf229")
INTERNAL_NODE_KEY = bytes.fromhex(
    "017ec5c7a5472996fd946666b48a02e65ddd536f37c76dd2f86352e64a53713f"
)
VERIFICATION_KEY = bytes.fromhex("7f1857d6ce56ed66127ff913e7a5c3f3a4cd26d5b5db49e64124987f28fb94c3")
# shard.md: MDB_SHARD_HEADER_TAG ("HFRepoMetaData\0" + 17 bytes; the value is xet-core's
# shard_format.rs, the spec only names it)
SHARD_TAG = bytes.fromhex("48465265706f4d6574614461746100556967456a7b815783a5bdd95ccdd14aa9")
BOOKEND = b"\xff" * 32 + b"\x00" * 16
FLAG_VERIFICATION, FLAG_METADATA_EXT = 1 << 31, 1 << 30
MAX_XORB_BYTES = 64 * 1024 * 1024  # xorb.md: the CAS refuses larger serialized xorbs
MAX_CHUNK_BYTES = 128 * 1024  # xorb.md: an uncompressed chunk is at most 128 KiB


class XetFormatError(ValueError):
    """An upload that does not follow the specification (answered with HTTP 400)."""


# ---------------------------------------------------------------------------- hashes
def hash_hex(h: bytes) -> str:
    """api.md "Converting Hashes to Strings": each 8-byte group as a little-endian u64 in hex."""
    return "".join(f"{int.from_bytes(h[i : i + 8], 'little'):016x}" for i in range(0, 32, 8))


def hex_hash(s: str) -> bytes:
    """Inverse of :func:`hash_hex` (raises ``XetFormatError`` on a malformed string)."""
    if len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
        raise XetFormatError(f"malformed hash {s!r}: want 64 lowercase hex characters")
    return b"".join(int(s[i : i + 16], 16).to_bytes(8, "little") for i in range(0, 64, 16))


def chunk_hash(data: bytes) -> bytes:
    return blake3(data, key=DATA_KEY).digest()


def _merge(group: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(f"{hash_hex(h)} : {n}\n" for h, n in group)
    return blake3(text.encode(), key=INTERNAL_NODE_KEY).digest(), sum(n for _, n in group)


def _next_cut(nodes: list[tuple[bytes, int]], start: int) -> int:
    """xet-core ``next_merge_cut``: groups of 2..9 nodes, cut after a node whose hash's last u64
    is 0 mod 4 (mean branching factor 4)."""
    left = len(nodes) - start
    if left <= 2:
        return len(nodes)
    end = min(9, left)
    for i in range(2, end):
        if int.from_bytes(nodes[start + i][0][24:32], "little") % 4 == 0:
            return start + i + 1
    return start + end


def merkle_root(chunks: list[tuple[bytes, int]]) -> bytes:
    """The aggregated hash of ``(chunk_hash, size)`` leaves (hashing.md "Xorb Hashes")."""
    if not chunks:
        return bytes(32)
    nodes = list(chunks)
    while len(nodes) > 1:
        out, i = [], 0
        while i < len(nodes):
            cut = _next_cut(nodes, i)
            out.append(_merge(nodes[i:cut]))
            i = cut
        nodes = out
    return nodes[0][0]


def file_hash(chunks: list[tuple[bytes, int]]) -> bytes:
    """hashing.md "File Hashes": the merkle root, keyed-hashed with 32 zero bytes."""
    if not chunks:
        return bytes(32)
    return blake3(merkle_root(chunks), key=bytes(32)).digest()


def verification_hash(chunk_hashes: list[bytes]) -> bytes:
    """hashing.md "Term Verification Hashes"."""
    return blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()


# ---------------------------------------------------------------------------- compression
def _lz4_block(src: bytes, out: bytearray) -> None:
    """Decode one LZ4 block into ``out`` (matches may reach into earlier blocks: linked mode)."""
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i : i + lit]
        i += lit
        if i >= n:
            return
        off = src[i] | src[i + 1] << 8
        i += 2
        ml = token & 15
        if ml == 15:
            while True:
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        if off == 0 or off > len(out):
            raise XetFormatError("LZ4: match offset outside the decoded data")
        start = len(out) - off
        if ml <= off:
            out += out[start : start + ml]
        else:  # overlapping copy: the last `off` bytes repeat
            out += (bytes(out[start:]) * (ml // off + 1))[:ml]


def lz4_frame_decompress(src: bytes) -> bytes:
    """The LZ4 frame format (what xet-core's ``lz4_flex::frame`` writes for scheme 1 and 2)."""
    try:
        if src[:4] != b"\x04\x22\x4d\x18":
            raise XetFormatError("LZ4: bad frame magic")
        flg = src[4]
        i = 7 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)  # FLG BD [size] [dict] HC
        out = bytearray()
        while True:
            (size,) = struct.unpack_from("<I", src, i)
            i += 4
            if size == 0:
                return bytes(out)
            raw, size = size & 0x80000000, size & 0x7FFFFFFF
            block = src[i : i + size]
            if len(block) != size:
                raise XetFormatError("LZ4: truncated block")
            if raw:
                out += block
            else:
                _lz4_block(block, out)
            i += size + (4 if flg & 0x10 else 0)  # block checksum
    except (IndexError, struct.error) as e:
        raise XetFormatError(f"LZ4: truncated frame ({e})") from None


def bg4_ungroup(data: bytes) -> bytes:
    """xorb.md "Byte Grouping": undo the split of bytes by position within 4-byte groups."""
    n = len(data)
    split, rem = divmod(n, 4)
    sizes = [split + (rem > k) for k in range(4)]
    out, pos = bytearray(n), 0
    for k, size in enumerate(sizes):
        out[k::4] = data[pos : pos + size]
        pos += size
    return bytes(out)


def decompress(scheme: int, data: bytes) -> bytes:
    if scheme == 0:
        return data
    if scheme == 1:
        return lz4_frame_decompress(data)
    if scheme == 2:
        return bg4_ungroup(lz4_frame_decompress(data))
    raise XetFormatError(f"unknown chunk compression scheme {scheme}")


# ---------------------------------------------------------------------------- xorbs
@dataclass(frozen=True)
class XorbChunk:
    hash: bytes
    size: int  # uncompressed
    start: int  # byte offset of its header in the serialized xorb
    end: int  # byte offset just past its data
    scheme: int


def parse_xorb(body: bytes, want_hash: bytes | None = None) -> list[XorbChunk]:
    """Decode every chunk (headers, compression), recompute chunk hashes and the xorb hash.

    The body must be chunks and nothing else, as xorb.md defines it (hf_xet 1.8 uploads exactly
    that; xet-core's on-disk ``XETBLOB`` footer is not sent). Raises ``XetFormatError`` if
    anything disagrees with ``want_hash`` or the format."""
    if len(body) > MAX_XORB_BYTES:
        raise XetFormatError(f"xorb is {len(body)} bytes, over the 64 MiB limit")
    chunks, pos = [], 0
    while pos < len(body):
        if len(body) - pos < 8:
            raise XetFormatError(f"truncated chunk header at byte {pos}")
        version, scheme = body[pos], body[pos + 4]
        csize = int.from_bytes(body[pos + 1 : pos + 4], "little")
        usize = int.from_bytes(body[pos + 5 : pos + 8], "little")
        if version != 0:
            raise XetFormatError(f"chunk {len(chunks)}: header version {version}, want 0")
        if usize > MAX_CHUNK_BYTES:
            raise XetFormatError(f"chunk {len(chunks)}: {usize} bytes, over 128 KiB")
        data = body[pos + 8 : pos + 8 + csize]
        if len(data) != csize:
            raise XetFormatError(f"chunk {len(chunks)}: truncated data")
        raw = decompress(scheme, data)
        if len(raw) != usize:
            raise XetFormatError(f"chunk {len(chunks)}: {len(raw)} bytes decoded, header {usize}")
        chunks.append(XorbChunk(chunk_hash(raw), usize, pos, pos + 8 + csize, scheme))
        pos += 8 + csize
    if not chunks:
        raise XetFormatError("xorb has no chunks")
    got = merkle_root([(c.hash, c.size) for c in chunks])
    if want_hash is not None and got != want_hash:
        raise XetFormatError(f"xorb hash is {hash_hex(got)}, not {hash_hex(want_hash)}")
    return chunks
