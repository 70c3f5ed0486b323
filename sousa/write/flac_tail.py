"""Does a FLAC file end where its STREAMINFO says? The default check for a cut file.

A file cut short (a copy stopped midway, the first half of a real file) keeps a valid header:
only its end shows the cut. `check_flac_tail` reads the file's last bytes (one frame's worth:
STREAMINFO's maximum frame size, 64 KiB when unknown), finds the last frame header in them and
checks that this frame ends at STREAMINFO's total samples; then it decodes that one frame
(soundfile, from memory, behind a copy of the file's STREAMINFO), which checks the frame's
CRC-16 and so finds a cut inside the last frame too. A file cut anywhere is refused; the cost
is one small read and one frame's decode a file, whatever its length. `--verify-audio`
(`media_check.verify_flac`) still decodes every frame, which also finds corrupt bytes that
keep the length.

Frame header (FLAC format, https://xiph.org/flac/format.html, "FRAME_HEADER"; RFC 9639 §9.1):
sync 0b11111111111110, a reserved 0 bit, the blocking strategy bit (0: fixed, the header then
carries the frame number; 1: variable, the first sample's number), 4 bits block size code,
4 bits sample rate code, 4 bits channel assignment (0-10), 3 bits sample size (3 reserved),
a reserved 0 bit, the number "UTF-8" coded (1-7 bytes), then an 8 or 16 bit block size and an
8 or 16 bit sample rate when the codes say so, then a CRC-8 (polynomial 0x07) of all of it.
"""

from __future__ import annotations

import io

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
    samples = frame[1]
    return _decode_one_frame(head, tail[at:], samples, total_frames)


def _decode_one_frame(head: bytes, frame: bytes, samples: int, total: int) -> str | None:
    """Decode `frame` behind the file's STREAMINFO, changed to say it is the only metadata
    block and holds `samples` frames (MD5 unknown): libFLAC checks the frame's CRC-16."""
    import soundfile as sf

    info = bytearray(head)
    info[4] |= 0x80  # the last metadata block
    fields = int.from_bytes(info[18:26], "big")
    info[18:26] = ((fields >> 36 << 36) | samples).to_bytes(8, "big")
    info[26:42] = bytes(16)  # MD5 0: not known
    try:
        with sf.SoundFile(io.BytesIO(bytes(info) + frame)) as stream:
            decoded = len(stream.read(samples, dtype="int16"))
    except (sf.LibsndfileError, RuntimeError) as e:
        return f"truncated or corrupt: its last frame (to frame {total:,}) does not decode ({e})"
    if decoded != samples:
        return f"truncated: its last frame decodes to {decoded:,} of {samples:,} frames"
    return None
