"""Standard MIDI Files for the demo: one snare note per stroke, written byte by byte.

The generator writes a format-0 file per performance (its first augmentation only); this
writer needs no MIDI library, so its bytes depend on the onsets and velocities alone.
"""

from __future__ import annotations

import struct

import numpy as np

TICKS_PER_QUARTER = 480
SNARE_NOTE = 38  # General MIDI acoustic snare
MIDI_CHANNEL = 9  # channel 10, zero-based


def encode_vlq(value: int) -> bytes:
    """Encode a MIDI variable-length quantity (0 <= value <= 0x0FFFFFFF)."""
    if not 0 <= value <= 0x0FFFFFFF:
        raise ValueError(f"VLQ out of range: {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _note_events(
    onsets_ms: np.ndarray, velocities: np.ndarray, tempo_bpm: int
) -> list[tuple[int, int, int, bytes]]:
    """(tick, 0 = note-off first at equal ticks / 1 = note-on, sequence, event bytes), sorted."""
    ticks_per_ms = TICKS_PER_QUARTER * tempo_bpm / 60_000.0
    on = np.rint(np.asarray(onsets_ms, dtype=np.float64) * ticks_per_ms).astype(np.int64)
    order = np.argsort(on, kind="stable")
    on = on[order]
    vel = np.clip(np.asarray(velocities, dtype=np.int64)[order], 1, 127)
    gap = np.append(np.diff(on), TICKS_PER_QUARTER)
    off = on + np.clip(gap, 1, TICKS_PER_QUARTER // 12)
    events = [
        (int(t), 0, i, bytes((0x80 | MIDI_CHANNEL, SNARE_NOTE, 0))) for i, t in enumerate(off)
    ]
    events += [
        (int(t), 1, i, bytes((0x90 | MIDI_CHANNEL, SNARE_NOTE, int(v))))
        for i, (t, v) in enumerate(zip(on, vel, strict=True))
    ]
    events.sort()
    return events


def midi_file_bytes(
    onsets_ms: np.ndarray, velocities: np.ndarray, tempo_bpm: int, name: str = ""
) -> bytes:
    """A format-0 Standard MIDI File: one snare note (channel 10) per onset, 480 ticks/quarter."""
    body = bytearray()
    if name:
        raw = name.encode("ascii", "replace")
        body += b"\x00\xff\x03" + encode_vlq(len(raw)) + raw
    usec = round(60_000_000 / tempo_bpm)
    body += b"\x00\xff\x51\x03" + usec.to_bytes(3, "big")
    body += b"\x00\xff\x58\x04\x04\x02\x18\x08"  # 4/4
    now = 0
    for tick, _, _, event in _note_events(onsets_ms, velocities, tempo_bpm):
        body += encode_vlq(tick - now) + event
        now = tick
    body += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)
