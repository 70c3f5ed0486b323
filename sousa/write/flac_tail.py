"""Does a FLAC file end where its STREAMINFO says? The default check for a cut file.

A file cut short (a copy stopped midway, the first half of a real file) keeps a valid header:
only its end shows the cut. `check_flac_tail` reads the file's last bytes (one frame's worth:
STREAMINFO's maximum frame size, 64 KiB when unknown), finds the last frame header in them and
checks that this frame ends at STREAMINFO's total samples and that the file ends where the
frame does: the frame's last two bytes are the CRC-16 of all its bytes before them (RFC 9639
§9.3, the check libFLAC makes when it decodes), so a cut inside the last frame, or bytes
after it (but zeros), are found too. A file cut anywhere is refused; the cost is one small
read a file, whatever its length, and no decoder (its setup cost more than the rest).
`--verify-audio` (`media_check.verify_flac`) still decodes every frame, which also finds
corrupt bytes that keep the length.

Frame header (FLAC format, https://xiph.org/flac/format.html, "FRAME_HEADER"; RFC 9639 §9.1):
sync 0b11111111111110, a reserved 0 bit, the blocking strategy bit (0: fixed, the header then
carries the frame number; 1: variable, the first sample's number), 4 bits block size code,
4 bits sample rate code, 4 bits channel assignment (0-10), 3 bits sample size (3 reserved),
a reserved 0 bit, the number "UTF-8" coded (1-7 bytes), then an 8 or 16 bit block size and an
8 or 16 bit sample rate when the codes say so, then a CRC-8 (polynomial 0x07) of all of it.
"""

from __future__ import annotations

import io

import numpy as np

MAX_TAIL_BYTES = 1 << 16  # read when STREAMINFO's maximum frame size is 0 (unknown)
_SYNC = 0xFF


def _crc8_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return table


_CRC8 = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8 of a FLAC frame header: polynomial x^8 + x^2 + x + 1, initial value 0."""
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


CRC16_POLY = 0x8005  # x^16 + x^15 + x^2 + 1, initial value 0, not reflected (RFC 9639 §9.3)


def _crc16_byte_table() -> np.ndarray:
    """CRC-16 of each single byte value."""
    crc = np.arange(256, dtype=np.uint32) << 8
    for _ in range(8):
        crc = np.where(crc & 0x8000, (crc << 1) ^ CRC16_POLY, crc << 1) & 0xFFFF
    return crc.astype(np.uint16)


_CRC16 = _crc16_byte_table()
_crc16_rows = _CRC16[np.newaxis, :]  # row k: CRC-16 of each byte value followed by k zero bytes


def crc16(data: bytes) -> int:
    """CRC-16 of a FLAC frame, as the XOR of each byte's contribution from its distance to
    the end (CRC is linear in its input), so NumPy does it in one gather: a frame's bytes
    followed by their CRC-16 give 0. Rows are added as longer frames are seen (a frame of n
    bytes needs n rows of 512 bytes: 12 MB for the longest 24-bit stereo frames)."""
    global _crc16_rows
    n, rows = len(data), _crc16_rows  # one read: another thread may replace it meanwhile
    if n > len(rows):
        rows = _crc16_rows = _more_rows(rows, max(n, 2 * len(rows)))
    at_distance = rows[n - 1 :: -1] if n else rows[:0]
    return int(np.bitwise_xor.reduce(at_distance[np.arange(n), np.frombuffer(data, np.uint8)]))


def _more_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """`rows` grown to `n`, doubling: k zero bytes more turn a CRC c into the XOR of what
    they turn its high byte into (row k - 1, by definition) and its low byte (row k - 2)."""
    while (have := len(rows)) < n:
        high = rows[have - 1]
        low = rows[have - 2] if have > 1 else np.arange(256, dtype=np.uint16) << 8
        more = rows[: n - have]
        rows = np.concatenate([rows, high[more >> 8] ^ low[more & 0xFF]])
    return rows


def parse_frame_header(buf: bytes, at: int, block_size: int) -> tuple[int, int] | None:
    """`(first sample, samples in the frame)` of a frame header at `buf[at:]`, or None when
    no valid header (its CRC-8 included) starts there. `block_size` is STREAMINFO's maximum
    block size: a fixed-blocksize stream numbers frames, not samples."""
    end = len(buf)
    if end < at + 6 or buf[at] != _SYNC or buf[at + 1] & 0xFE != 0xF8:
        return None
    variable = buf[at + 1] & 1
    size_code, rate_code = buf[at + 2] >> 4, buf[at + 2] & 0xF
    channels, sample_size = buf[at + 3] >> 4, (buf[at + 3] >> 1) & 7
    if size_code == 0 or rate_code == 15 or channels > 10 or sample_size == 3 or buf[at + 3] & 1:
        return None
    first = buf[at + 4]
    extra = 0 if first < 0x80 else 8 - (~first & 0xFF).bit_length() - 1  # leading 1 bits - 1
    if (first >= 0x80 and not 1 <= extra <= 6) or (extra > 5 and not variable):
        return None
    number = first & ((1 << (6 - extra)) - 1) if extra else first
    pos = at + 5
    if end < pos + extra + 4:
        return None
    for byte in buf[pos : pos + extra]:
        if byte & 0xC0 != 0x80:
            return None
        number = (number << 6) | (byte & 0x3F)
    pos += extra
    if size_code == 1:
        samples = 192
    elif size_code <= 5:
        samples = 576 << (size_code - 2)
    elif size_code == 6:
        samples, pos = buf[pos] + 1, pos + 1
    elif size_code == 7:
        samples, pos = int.from_bytes(buf[pos : pos + 2], "big") + 1, pos + 2
    else:
        samples = 256 << (size_code - 8)
    pos += 1 if rate_code == 12 else 2 if rate_code in (13, 14) else 0
    if pos >= end or crc8(buf[at:pos]) != buf[pos]:
        return None
    return (number if variable else number * block_size), samples


def check_flac_tail(f: io.RawIOBase, head: bytes, size: int, total_frames: int) -> str | None:
    """The problem with the end of an open FLAC file (`head`: its first 42 bytes, a parsed
    STREAMINFO; `size`: its length in bytes), or None when its last frame ends at
    `total_frames` and decodes."""
    max_block = int.from_bytes(head[10:12], "big")
    max_frame = int.from_bytes(head[15:18], "big") or MAX_TAIL_BYTES
    span = min(size - len(head), max_frame + 32)
    f.seek(size - span)
    tail = f.read(span)
    at = len(tail)
    while (at := tail.rfind(b"\xff", 0, at)) >= 0:
        frame = parse_frame_header(tail, at, max_block)
        if frame is not None and sum(frame) == total_frames:
            break
    else:
        return (
            f"truncated: no frame ends at STREAMINFO's {total_frames:,} frames in its last "
            f"{span:,} bytes (the file is {size:,} bytes: cut short?)"
        )
    if crc16(tail[at:]) != 0:
        return (
            f"truncated or corrupt: its last frame (to frame {total_frames:,}, its last "
            f"{len(tail) - at:,} bytes) fails its CRC-16: cut short, or changed"
        )
    return None
