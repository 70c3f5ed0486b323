"""Write a small, realistic, SOUSA-shaped dataset folder (the packager's input format).

``python -m sousa.demo [DIR]`` (default ``output/demo``) or :func:`write_demo`.

The folder looks like a real SOUSA export::

    DIR/
      README.md                          dataset card (YAML front matter + prose)
      splits.json                        {"train_profile_ids": [...], "val_...", "test_..."}
      audio/{rudiment_slug}/{sample_id}.flac   44.1 kHz mono PCM_16 FLAC
      midi/{rudiment_slug}/{sample_id}.mid     Standard MIDI File, format 0 (most samples)
      labels/samples.parquet             one row per sample (metadata + relative paths)
      labels/exercises.parquet           one row per sample (scores, some nullable)
      labels/strokes.parquet             one row per stroke, several row groups
      labels/measures.parquet            one row per measure

(``nested=False`` drops the ``{rudiment_slug}/`` level.)

Everything is derived from ``seed`` through numpy Generators, files are written one sample at a
time (no audio is kept in memory) and parquet is written with pyarrow, so the same arguments give
byte-identical files. It is fast enough to generate GB-sized folders for benchmarks.

Deliberately awkward: the samples whose ``sample_id`` sorts first have a null ``overall_score``,
a null ``hand_balance`` and no MIDI, which defeats feature inference that only looks at the first
few examples.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import shutil
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import soundfile as sf

__all__ = [
    "DEFAULT_DIR",
    "RUDIMENTS",
    "SAMPLE_RATE",
    "DemoDirError",
    "encode_vlq",
    "main",
    "midi_file_bytes",
    "write_demo",
]

DEFAULT_DIR = Path("output/demo")
SAMPLE_RATE = 44_100
TICKS_PER_QUARTER = 480
SNARE_NOTE = 38  # General MIDI acoustic snare
MIDI_CHANNEL = 9  # channel 10, zero-based
NULL_FIRST = 6  # samples sorting first: null overall_score / hand_balance, no MIDI

# The marker that identifies a folder written by this module (it is in the README front matter).
_MARKER = "pretty_name: SOUSA (demo)"
_OWN_ENTRIES = frozenset({"README.md", "splits.json", "audio", "midi", "labels"})

# Rudiment sticking, one cycle each: (slug, slots per beat, tokens). A token is "-" (rest) or
# [graces]HAND[>]: upper-case R/L is the stroke, ">" an accent, lower-case r/l before it are
# grace notes (one = flam, two = drag). Same-hand neighbouring strokes are diddles.
_RUDIMENT_SPECS: tuple[tuple[str, int, str], ...] = (
    ("single_stroke_roll", 4, "R L R L"),
    ("double_stroke_roll", 4, "R R L L"),
    ("triple_stroke_roll", 6, "R R R L L L"),
    ("five_stroke_roll", 8, "R R L L R> - - - L L R R L> - - -"),
    ("seven_stroke_roll", 8, "R R L L R R L> - L L R R L L R> -"),
    ("nine_stroke_roll", 8, "R R L L R R L L R> - - - - - - - L L R R L L R R L> - - - - - - -"),
    ("single_paradiddle", 4, "R> L R R L> R L L"),
    ("double_paradiddle", 6, "R> L R L R R L> R L R L L"),
    ("triple_paradiddle", 4, "R> L R L R L R R L> R L R L R L L"),
    ("paradiddle_diddle", 6, "R> L R R L L"),
    ("flam", 2, "lR> rL>"),
    ("flam_accent", 3, "lR> L R rL> R L"),
    ("flam_tap", 4, "lR> R rL> L"),
    ("flam_paradiddle", 4, "lR> L R R rL> R L L"),
    ("single_flammed_mill", 4, "lR> R L R rL> L R L"),
    ("pataflafla", 4, "lR L R rL lR L R rL"),
    ("swiss_army_triplet", 3, "lR> R L lR> R L"),
    ("drag", 2, "llR> rrL>"),
    ("single_drag_tap", 2, "llR L> rrL R>"),
    ("single_ratamacue", 3, "llR L R L> - - rrL R L R> - -"),
)
RUDIMENTS: tuple[str, ...] = tuple(spec[0] for spec in _RUDIMENT_SPECS)

SKILL_TIERS = ("beginner", "intermediate", "advanced", "professional")
_TIER_P = (0.3, 0.3, 0.25, 0.15)
# per tier: timing jitter sd (ms), velocity sd, tempo drift sd (fraction), tempo range (bpm)
_TIER_TIMING_SD = np.array([22.0, 13.0, 7.0, 3.5])
_TIER_VELOCITY_SD = np.array([16.0, 11.0, 7.0, 4.0])
_TIER_DRIFT_SD = np.array([0.035, 0.02, 0.01, 0.005])
_TIER_TEMPO = ((60, 100), (75, 130), (90, 160), (110, 200))

SOUNDFONTS = ("sousa_marching_snare", "fluidr3_gm_snare", "generaluser_gs_snare", "vintage_ludwig")
AUGMENTATION_PRESETS = ("clean_studio", "small_room", "garage_mic", "lofi_phone", "concert_hall")

STROKE_TYPES = ("tap", "accent", "grace", "diddle")
_TAP, _ACCENT, _GRACE, _DIDDLE = range(4)
_INTENDED_VELOCITY = np.array([72, 112, 42, 80], dtype=np.int64)  # by stroke type
HANDS = ("L", "R")

_TOKEN = re.compile(r"^([lr]{0,2})([LR])(>?)$")

_SAMPLES_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("profile_id", pa.string()),
        ("rudiment_slug", pa.string()),
        ("tempo_bpm", pa.int64()),
        ("duration_sec", pa.float64()),
        ("num_cycles", pa.int64()),
        ("skill_tier", pa.string()),
        ("soundfont", pa.string()),
        ("augmentation_preset", pa.string()),
        ("audio_path", pa.string()),
        ("midi_path", pa.string()),
    ]
)
_EXERCISES_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("overall_score", pa.float64()),
        ("timing_accuracy", pa.float64()),
        ("timing_consistency", pa.float64()),
        ("velocity_control", pa.float64()),
        ("hand_balance", pa.float64()),
        ("tempo_stability", pa.float64()),
    ]
)
_STROKES_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("stroke_index", pa.int64()),
        ("hand", pa.string()),
        ("stroke_type", pa.string()),
        ("intended_onset_ms", pa.float64()),
        ("actual_onset_ms", pa.float64()),
        ("intended_velocity", pa.int64()),
        ("actual_velocity", pa.int64()),
        ("is_grace_note", pa.bool_()),
    ]
)
_MEASURES_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("measure_index", pa.int64()),
        ("timing_mean_error_ms", pa.float64()),
        ("timing_std_ms", pa.float64()),
        ("velocity_mean", pa.float64()),
        ("velocity_std", pa.float64()),
    ]
)


class DemoDirError(FileExistsError):
    """The target exists, is not empty and does not look like a previous demo output."""


# --------------------------------------------------------------------------------------------
# Rudiment patterns


@dataclass(frozen=True)
class _Pattern:
    cycle_beats: float
    slot_beats: float
    beat: np.ndarray  # beat position of the (principal) slot of each stroke
    grace_rank: np.ndarray  # 0 = principal; k = k-th grace note before it (counted backwards)
    hand: np.ndarray  # 0 = L, 1 = R
    kind: np.ndarray  # index into STROKE_TYPES
    max_graces: int


def _compile(slots_per_beat: int, tokens: str) -> _Pattern:
    toks = tokens.split()
    principal = []  # (slot, hand, accent, graces)
    for slot, tok in enumerate(toks):
        if tok == "-":
            continue
        m = _TOKEN.match(tok)
        if m is None:
            raise ValueError(f"bad rudiment token {tok!r}")
        principal.append((slot, HANDS.index(m.group(2)), bool(m.group(3)), m.group(1)))
    n_slots = len(toks)
    hands_by_slot = {slot: hand for slot, hand, _, _ in principal}
    beat, grace_rank, hand, kind = [], [], [], []
    for slot, h, accent, graces in principal:
        for k, g in enumerate(graces):
            beat.append(slot / slots_per_beat)
            grace_rank.append(len(graces) - k)
            hand.append(HANDS.index(g.upper()))
            kind.append(_GRACE)
        prev_h = hands_by_slot.get((slot - 1) % n_slots)
        next_h = hands_by_slot.get((slot + 1) % n_slots)
        if accent:
            k = _ACCENT
        elif h in (prev_h, next_h):
            k = _DIDDLE
        else:
            k = _TAP
        beat.append(slot / slots_per_beat)
        grace_rank.append(0)
        hand.append(h)
        kind.append(k)
    return _Pattern(
        cycle_beats=n_slots / slots_per_beat,
        slot_beats=1.0 / slots_per_beat,
        beat=np.array(beat, dtype=np.float64),
        grace_rank=np.array(grace_rank, dtype=np.int64),
        hand=np.array(hand, dtype=np.int8),
        kind=np.array(kind, dtype=np.int8),
        max_graces=max(len(p[3]) for p in principal),
    )


_PATTERNS = tuple(_compile(spb, toks) for _, spb, toks in _RUDIMENT_SPECS)


# --------------------------------------------------------------------------------------------
# MIDI


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


def midi_file_bytes(
    onsets_ms: np.ndarray, velocities: np.ndarray, tempo_bpm: int, name: str = ""
) -> bytes:
    """A format-0 Standard MIDI File: one snare note (channel 10) per onset, 480 ticks/quarter."""
    ticks_per_ms = TICKS_PER_QUARTER * tempo_bpm / 60_000.0
    on = np.rint(np.asarray(onsets_ms, dtype=np.float64) * ticks_per_ms).astype(np.int64)
    order = np.argsort(on, kind="stable")
    on = on[order]
    vel = np.clip(np.asarray(velocities, dtype=np.int64)[order], 1, 127)
    gap = np.append(np.diff(on), TICKS_PER_QUARTER)
    off = on + np.clip(gap, 1, TICKS_PER_QUARTER // 12)
    # (tick, 0 = note-off first at equal ticks / 1 = note-on, sequence) -> event bytes
    events = [
        (int(t), 0, i, bytes((0x80 | MIDI_CHANNEL, SNARE_NOTE, 0))) for i, t in enumerate(off)
    ]
    events += [
        (int(t), 1, i, bytes((0x90 | MIDI_CHANNEL, SNARE_NOTE, int(v))))
        for i, (t, v) in enumerate(zip(on, vel, strict=True))
    ]
    events.sort()
    body = bytearray()
    if name:
        raw = name.encode("ascii", "replace")
        body += b"\x00\xff\x03" + encode_vlq(len(raw)) + raw
    usec = round(60_000_000 / tempo_bpm)
    body += b"\x00\xff\x51\x03" + usec.to_bytes(3, "big")
    body += b"\x00\xff\x58\x04\x04\x02\x18\x08"  # 4/4
    now = 0
    for tick, _, _, ev in events:
        body += encode_vlq(tick - now) + ev
        now = tick
    body += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


# --------------------------------------------------------------------------------------------
# Audio


_TEMPLATE_SEC = 0.2
_N_VARIANTS = 8


def _drum_templates(seed: int) -> np.ndarray:
    """(n_soundfonts, n_variants, n) float32 snare hits, peak 1: noise burst + pitched body."""
    rng = np.random.default_rng([seed, 0xD2])
    n = int(_TEMPLATE_SEC * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    attack = np.minimum(1.0, t / 0.0015)
    out = np.empty((len(SOUNDFONTS), _N_VARIANTS, n), dtype=np.float32)
    for s in range(len(SOUNDFONTS)):
        f0 = 170.0 + 25.0 * s
        tau_noise = 0.035 + 0.012 * s
        body = np.sin(2 * np.pi * f0 * t) * np.exp(-t / 0.03)
        for v in range(_N_VARIANTS):
            noise = rng.standard_normal(n)
            noise = np.diff(noise, prepend=0.0) * 0.5  # crude high-pass: snare wires
            wave = attack * (0.7 * noise * np.exp(-t / tau_noise) + 0.6 * body)
            out[s, v] = wave / np.max(np.abs(wave))
    return out


def _noise_floor(seed: int, n_frames: int) -> np.ndarray:
    """float32 room-tone noise (~-76 dBFS), one second longer than a sample."""
    rng = np.random.default_rng([seed, 0xF1])
    floor = rng.standard_normal(n_frames + SAMPLE_RATE, dtype=np.float32)
    floor *= np.float32(1.5e-4)
    return floor


def _render(
    onsets_ms: np.ndarray,
    velocities: np.ndarray,
    n_frames: int,
    templates: np.ndarray,
    floor: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mix one template per stroke over a noise floor; return int16 PCM."""
    off = int(rng.integers(0, len(floor) - n_frames + 1))
    buf = floor[off : off + n_frames].copy()  # room tone, a random window of a shared bank
    starts = np.rint(onsets_ms * (SAMPLE_RATE / 1000.0)).astype(np.int64)
    gains = (0.8 * (velocities / 127.0) ** 1.3).astype(np.float32)
    variant = rng.integers(0, templates.shape[0], size=len(starts))
    n_tmpl = templates.shape[1]
    for start, gain, v in zip(starts.tolist(), gains.tolist(), variant.tolist(), strict=True):
        if start >= n_frames:
            continue
        m = min(n_tmpl, n_frames - start)
        buf[start : start + m] += gain * templates[v, :m]
    np.clip(buf, -1.0, 1.0, out=buf)
    return np.rint(buf * 32767.0).astype(np.int16)


# --------------------------------------------------------------------------------------------
# One performance


@dataclass
class _Performance:
    intended_ms: np.ndarray
    actual_ms: np.ndarray
    intended_vel: np.ndarray
    actual_vel: np.ndarray
    hand: np.ndarray
    kind: np.ndarray
    measure: np.ndarray
    num_cycles: int
    drift: float


def _perform(
    pattern: _Pattern,
    tempo_bpm: int,
    duration_ms: float,
    tier: int,
    left_weakness: float,
    rng: np.random.Generator,
) -> _Performance:
    beat_ms = 60_000.0 / tempo_bpm
    slot_ms = pattern.slot_beats * beat_ms
    grace_gap = min(35.0, 0.22 * slot_ms, 0.1 * duration_ms)
    t0 = min(50.0, 0.05 * duration_ms) + pattern.max_graces * grace_gap
    cycle_ms = pattern.cycle_beats * beat_ms
    tail = min(150.0, 0.1 * duration_ms)
    num_cycles = max(1, int((duration_ms - t0 - tail) // cycle_ms))

    k = len(pattern.beat)
    cyc = np.repeat(np.arange(num_cycles), k)
    beat = np.tile(pattern.beat, num_cycles) + cyc * pattern.cycle_beats
    intended = t0 + beat * beat_ms - np.tile(pattern.grace_rank, num_cycles) * grace_gap
    keep = intended < duration_ms
    keep[0] = True
    intended = intended[keep]
    hand = np.tile(pattern.hand, num_cycles)[keep]
    kind = np.tile(pattern.kind, num_cycles)[keep]
    n = len(intended)

    drift = float(rng.normal(0.0, _TIER_DRIFT_SD[tier]))
    jitter = rng.normal(0.0, _TIER_TIMING_SD[tier], n)
    jitter[kind == _GRACE] *= 0.4  # grace notes ride on their principal stroke
    actual = t0 + (intended - t0) * (1.0 + drift) + jitter
    np.clip(actual, 0.0, duration_ms - 1.0, out=actual)

    intended_vel = _INTENDED_VELOCITY[kind]
    vel = intended_vel + rng.normal(0.0, _TIER_VELOCITY_SD[tier], n)
    vel -= np.where(hand == 0, left_weakness, 0.0)
    actual_vel = np.clip(np.rint(vel), 1, 127).astype(np.int64)

    measure = np.floor(np.maximum(intended - t0, 0.0) / (4 * beat_ms)).astype(np.int64)
    return _Performance(
        intended, actual, intended_vel, actual_vel, hand, kind, measure, num_cycles, drift
    )


def _scores(p: _Performance) -> tuple[float, float, float, float, float, float]:
    """(timing_accuracy, timing_consistency, velocity_control, hand_balance, tempo_stability,
    overall) on a 0-100 scale; hand_balance is NaN if one hand has no principal stroke."""
    main_ = p.kind != _GRACE
    err = (p.actual_ms - p.intended_ms)[main_]
    timing_accuracy = 100.0 * math.exp(-float(np.mean(np.abs(err))) / 25.0)
    timing_consistency = 100.0 * math.exp(-float(np.std(err)) / 20.0)
    verr = (p.actual_vel - p.intended_vel).astype(np.float64)
    velocity_control = 100.0 * math.exp(-float(np.std(verr)) / 15.0)
    hands = p.hand[main_]
    rel = (p.actual_vel - p.intended_vel)[main_]
    if (hands == 0).any() and (hands == 1).any():
        diff = abs(float(rel[hands == 0].mean()) - float(rel[hands == 1].mean()))
        hand_balance = 100.0 * math.exp(-diff / 12.0)
    else:
        hand_balance = math.nan
    tempo_stability = 100.0 * math.exp(-abs(p.drift) * 25.0)
    parts = [timing_accuracy, timing_consistency, velocity_control, tempo_stability]
    if not math.isnan(hand_balance):
        parts.append(hand_balance)
    overall = float(np.mean(parts))
    return (
        timing_accuracy,
        timing_consistency,
        velocity_control,
        hand_balance,
        tempo_stability,
        overall,
    )


# --------------------------------------------------------------------------------------------
# Label writers


class _ChunkedWriter:
    """Collects per-sample column arrays and writes one parquet row group per `group` samples."""

    def __init__(self, path: Path, schema: pa.Schema, group: int) -> None:
        self.schema = schema
        self.group = group
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")
        self.ids: list[str] = []
        self.lengths: list[int] = []
        self.cols: dict[str, list[np.ndarray]] = {
            f.name: [] for f in schema if f.name != "sample_id"
        }
        self.labels: dict[str, tuple[str, ...]] = {}
        self.rows = 0

    def add(self, sample_id: str, **cols: np.ndarray | tuple[np.ndarray, tuple[str, ...]]) -> None:
        self.ids.append(sample_id)
        self.lengths.append(len(next(iter(cols.values()))))
        for name, arr in cols.items():
            if isinstance(arr, tuple):  # string column given as (codes, labels)
                arr, self.labels[name] = arr
            self.cols[name].append(arr)
        if len(self.ids) >= self.group:
            self.flush()

    def flush(self) -> None:
        if not self.ids:
            return
        idx = np.repeat(np.arange(len(self.ids)), self.lengths)
        arrays = [pc.take(pa.array(self.ids, pa.string()), pa.array(idx))]
        for field in self.schema:
            if field.name == "sample_id":
                continue
            data = np.concatenate(self.cols[field.name])
            if field.name in self.labels:
                labels = pa.array(self.labels[field.name], pa.string())
                arrays.append(pc.take(labels, pa.array(data)))
            else:
                arrays.append(pa.array(data, field.type))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.rows += table.num_rows
        self.ids.clear()
        self.lengths.clear()
        for v in self.cols.values():
            v.clear()

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _write_table(path: Path, columns: dict[str, object], schema: pa.Schema) -> None:
    arrays = [pa.array(columns[f.name], f.type) for f in schema]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path, compression="zstd")


def _masked(values: np.ndarray, null: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=null)


# --------------------------------------------------------------------------------------------
# README


def _size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return label
    return "1M<n<10M"


def _readme(n: int, n_midi: int, n_profiles: int, seconds: float, seed: int) -> str:
    rudiments = ", ".join(f"`{r}`" for r in RUDIMENTS)
    return f"""---
license: cc-by-4.0
{_MARKER}
language:
- en
tags:
- audio
- music
- drums
- rudiments
- synthetic
task_categories:
- audio-classification
size_categories:
- {_size_category(n)}
---

# SOUSA (demo)

SOUSA (Synthetic Open Unified Snare Assessment) is a synthetic drum-rudiment dataset: simulated
drummers of four skill tiers (beginner, intermediate, advanced, professional) play the 40 PAS
(Percussive Arts Society) International Drum Rudiments at many tempos. Every performance is
rendered to audio through several snare soundfonts and optional augmentation presets, and comes
with the MIDI of what was played and dense labels: per-stroke intended vs. actual onsets and
velocities, hand and stroke type (tap, accent, grace, diddle), per-measure timing and velocity
statistics, and exercise-level scores (overall score, timing accuracy and consistency, velocity
control, hand balance, tempo stability).

**This is a small demo**, generated by `python -m sousa.demo` (seed {seed}): {n} samples of
{seconds:g} s from {n_profiles} player profiles, {n_midi} of them with MIDI, covering
{len(RUDIMENTS)} rudiments ({rudiments}). The audio is crude noise-and-sine synthesis; it has the
layout, types and quirks of the real dataset (nullable scores, samples without MIDI) but none of
its musical value.

## Layout

- `audio/<rudiment>/<sample_id>.flac` - 44.1 kHz mono 16-bit FLAC
- `midi/<rudiment>/<sample_id>.mid` - Standard MIDI File (missing for some samples)
- `labels/samples.parquet`, `labels/exercises.parquet`, `labels/strokes.parquet`,
  `labels/measures.parquet` - labels, joined on `sample_id`
- `splits.json` - train/validation/test split by player profile (no profile in two splits)
"""


# --------------------------------------------------------------------------------------------
# Main entry points


def _prepare_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise DemoDirError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir():
        entries = {p.name for p in out_dir.iterdir()}
        if entries:
            readme = out_dir / "README.md"
            ours = (
                entries <= _OWN_ENTRIES
                and readme.is_file()
                and _MARKER in readme.read_text(encoding="utf-8", errors="replace")
            )
            if not ours:
                raise DemoDirError(
                    f"refusing to write into {out_dir}: it is not empty and does not look like a "
                    f"previous sousa.demo output (found: {', '.join(sorted(entries)[:5])}"
                    f"{', ...' if len(entries) > 5 else ''})"
                )
            for name in sorted(entries):
                p = out_dir / name
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _n_profiles(n_samples: int) -> int:
    return max(1, min(n_samples, max(10, min(200, n_samples // 4))))


def write_demo(
    out_dir: Path,
    n_samples: int = 40,
    seconds: float = 1.0,
    seed: int = 0,
    midi_fraction: float = 0.8,
    nested: bool = True,
    progress: bool = False,
) -> Path:
    """Write a deterministic SOUSA-shaped dataset folder into ``out_dir`` and return it.

    ``out_dir`` must be missing, empty or a previous demo output (which is replaced); anything
    else raises :class:`DemoDirError`. The ``min(n_samples, 6)`` samples whose ``sample_id``
    sorts first never have MIDI, ``overall_score`` or ``hand_balance``.
    """
    out_dir = Path(out_dir)
    if n_samples < 1:
        raise ValueError("n_samples must be >= 1")
    if not seconds > 0:
        raise ValueError("seconds must be > 0")
    if not 0.0 <= midi_fraction <= 1.0:
        raise ValueError("midi_fraction must be in [0, 1]")
    _prepare_dir(out_dir)

    rng = np.random.default_rng([seed, 0x50054])
    n = n_samples
    n_frames = max(1, round(seconds * SAMPLE_RATE))
    duration_sec = n_frames / SAMPLE_RATE

    # ---- profiles and splits
    n_prof = _n_profiles(n)
    profile_ids = np.array([f"p{j:03d}" for j in range(n_prof)])
    profile_tier = rng.choice(len(SKILL_TIERS), size=n_prof, p=_TIER_P)
    profile_left_weakness = np.abs(rng.normal(0.0, 6.0, n_prof)) * (4 - profile_tier) / 4
    perm = rng.permutation(n_prof)
    n_val = n_test = int(0.15 * n_prof + 0.5) if n_prof >= 3 else 0
    if n_prof >= 3:
        n_val = n_test = max(1, n_val)
    n_train = n_prof - n_val - n_test
    splits = {
        "train_profile_ids": sorted(profile_ids[perm[:n_train]].tolist()),
        "val_profile_ids": sorted(profile_ids[perm[n_train : n_train + n_val]].tolist()),
        "test_profile_ids": sorted(profile_ids[perm[n_train + n_val :]].tolist()),
    }

    # ---- per-sample metadata (vectorised), then sort by sample_id
    prof = np.arange(n) % n_prof
    tier = profile_tier[prof]
    rud = rng.integers(0, len(RUDIMENTS), n)
    lo = np.array([t[0] for t in _TIER_TEMPO])[tier]
    hi = np.array([t[1] for t in _TIER_TEMPO])[tier]
    tempo = rng.integers(lo, hi + 1)
    soundfont = rng.integers(0, len(SOUNDFONTS), n)
    preset = rng.integers(0, len(AUGMENTATION_PRESETS), n)
    preset_null = rng.random(n) < 0.35
    width = max(3, len(str(n - 1)))
    ids = np.array(
        [
            f"{profile_ids[p]}_{RUDIMENTS[r]}_s{i:0{width}d}"
            for i, (p, r) in enumerate(zip(prof, rud))
        ]
    )
    order = np.argsort(ids, kind="stable")
    ids, prof, tier, rud, tempo = ids[order], prof[order], tier[order], rud[order], tempo[order]
    soundfont, preset, preset_null = soundfont[order], preset[order], preset_null[order]

    # ---- which samples have MIDI / null scores (positions in sorted order)
    n_first = min(n, NULL_FIRST)
    no_midi = np.zeros(n, dtype=bool)
    no_midi[:n_first] = True
    extra = max(0, round(n * (1.0 - midi_fraction)) - n_first)
    if extra:
        no_midi[n_first + rng.permutation(n - n_first)[:extra]] = True
    null_overall = np.zeros(n, dtype=bool)
    null_overall[:n_first] = True
    null_overall |= rng.random(n) < 0.03  # scoring failures

    slugs = [RUDIMENTS[r] for r in rud]
    sub = [f"{s}/" for s in slugs] if nested else [""] * n
    audio_paths = [f"audio/{d}{i}.flac" for d, i in zip(sub, ids, strict=True)]
    midi_paths = [
        None if nm else f"midi/{d}{i}.mid" for d, i, nm in zip(sub, ids, no_midi, strict=True)
    ]

    # ---- write README first: it marks the folder as ours even if we get interrupted
    n_midi = int(n - no_midi.sum())
    (out_dir / "README.md").write_text(
        _readme(n, n_midi, n_prof, duration_sec, seed), encoding="utf-8", newline="\n"
    )
    (out_dir / "splits.json").write_text(json.dumps(splits, indent=2) + "\n", encoding="utf-8")
    labels = out_dir / "labels"
    labels.mkdir()
    dirs = {str(Path(rel).parent) for rel in audio_paths + midi_paths if rel is not None}
    for d in sorted(dirs | {"audio", "midi"}):
        (out_dir / d).mkdir(parents=True, exist_ok=True)

    # ---- stream samples: audio, MIDI, stroke and measure rows
    templates = _drum_templates(seed)
    floor = _noise_floor(seed, n_frames)
    group = max(1, min(1000, math.ceil(n / 4)))
    strokes_w = _ChunkedWriter(labels / "strokes.parquet", _STROKES_SCHEMA, group)
    measures_w = _ChunkedWriter(labels / "measures.parquet", _MEASURES_SCHEMA, group)
    num_cycles = np.zeros(n, dtype=np.int64)
    scores = np.zeros((n, 6), dtype=np.float64)
    duration_ms = duration_sec * 1000.0
    step = max(1, n // 100)
    t_start = time.monotonic()
    try:
        for i in range(n):
            srng = np.random.default_rng([seed, 0x5A, i])
            p = _perform(
                _PATTERNS[rud[i]],
                int(tempo[i]),
                duration_ms,
                int(tier[i]),
                float(profile_left_weakness[prof[i]]),
                srng,
            )
            num_cycles[i] = p.num_cycles
            scores[i] = _scores(p)
            pcm = _render(p.actual_ms, p.actual_vel, n_frames, templates[soundfont[i]], floor, srng)
            # encode in memory: soundfile's close() on a real file fsyncs, which is slow
            flac = io.BytesIO()
            sf.write(flac, pcm, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
            (out_dir / audio_paths[i]).write_bytes(flac.getbuffer())
            if midi_paths[i] is not None:
                (out_dir / midi_paths[i]).write_bytes(
                    midi_file_bytes(p.actual_ms, p.actual_vel, int(tempo[i]), name=str(ids[i]))
                )
            sid = str(ids[i])
            k = len(p.intended_ms)
            strokes_w.add(
                sid,
                stroke_index=np.arange(k, dtype=np.int64),
                hand=(p.hand, HANDS),
                stroke_type=(p.kind, STROKE_TYPES),
                intended_onset_ms=np.round(p.intended_ms, 3),
                actual_onset_ms=np.round(p.actual_ms, 3),
                intended_velocity=p.intended_vel,
                actual_velocity=p.actual_vel,
                is_grace_note=p.kind == _GRACE,
            )
            m_idx, inv = np.unique(p.measure, return_inverse=True)
            cnt = np.bincount(inv).astype(np.float64)
            err = p.actual_ms - p.intended_ms
            vel = p.actual_vel.astype(np.float64)
            e_mean = np.bincount(inv, err) / cnt
            v_mean = np.bincount(inv, vel) / cnt
            e_std = np.sqrt(np.maximum(np.bincount(inv, err * err) / cnt - e_mean**2, 0.0))
            v_std = np.sqrt(np.maximum(np.bincount(inv, vel * vel) / cnt - v_mean**2, 0.0))
            measures_w.add(
                sid,
                measure_index=m_idx,
                timing_mean_error_ms=np.round(e_mean, 3),
                timing_std_ms=np.round(e_std, 3),
                velocity_mean=np.round(v_mean, 3),
                velocity_std=np.round(v_std, 3),
            )
            if progress and ((i + 1) % step == 0 or i + 1 == n):
                rate = (i + 1) / max(time.monotonic() - t_start, 1e-9)
                print(f"\r[sousa.demo] {i + 1}/{n} samples ({rate:.0f}/s)", end="", file=sys.stderr)
    finally:
        strokes_w.close()
        measures_w.close()
    if progress:
        print(file=sys.stderr)

    # ---- per-sample tables
    _write_table(
        labels / "samples.parquet",
        {
            "sample_id": ids.tolist(),
            "profile_id": profile_ids[prof].tolist(),
            "rudiment_slug": slugs,
            "tempo_bpm": tempo.astype(np.int64),
            "duration_sec": np.full(n, duration_sec),
            "num_cycles": num_cycles,
            "skill_tier": [SKILL_TIERS[t] for t in tier],
            "soundfont": [SOUNDFONTS[s] for s in soundfont],
            "augmentation_preset": [
                None if nul else AUGMENTATION_PRESETS[a]
                for a, nul in zip(preset, preset_null, strict=True)
            ],
            "audio_path": audio_paths,
            "midi_path": midi_paths,
        },
        _SAMPLES_SCHEMA,
    )
    scores = np.round(scores, 3)
    null_hand = np.isnan(scores[:, 3])
    null_hand[:n_first] = True
    table = pa.Table.from_arrays(
        [
            pa.array(ids.tolist(), pa.string()),
            _masked(scores[:, 5], null_overall),
            _masked(scores[:, 0], np.zeros(n, dtype=bool)),
            _masked(scores[:, 1], np.zeros(n, dtype=bool)),
            _masked(scores[:, 2], np.zeros(n, dtype=bool)),
            _masked(np.nan_to_num(scores[:, 3]), null_hand),
            _masked(scores[:, 4], np.zeros(n, dtype=bool)),
        ],
        schema=_EXERCISES_SCHEMA,
    )
    pq.write_table(table, labels / "exercises.parquet", compression="zstd")
    return out_dir


def _dir_stats(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sousa.demo", description="Write a small SOUSA-shaped demo dataset folder."
    )
    ap.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="output folder")
    ap.add_argument("-n", "--n-samples", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=1.0, help="audio length per sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--midi-fraction", type=float, default=0.8)
    ap.add_argument("--flat", action="store_true", help="no per-rudiment subfolders")
    ap.add_argument("--progress", action="store_true", help="progress on stderr")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        out = write_demo(
            args.dir,
            n_samples=args.n_samples,
            seconds=args.seconds,
            seed=args.seed,
            midi_fraction=args.midi_fraction,
            nested=not args.flat,
            progress=args.progress,
        )
    except (DemoDirError, ValueError) as exc:
        print(f"sousa.demo: error: {exc}", file=sys.stderr)
        return 2
    n_files, n_bytes = _dir_stats(out)
    print(
        f"wrote {args.n_samples} samples ({n_files} files, {n_bytes / 1e6:.1f} MB) to {out} "
        f"in {time.perf_counter() - t0:.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
