"""What a simulated drummer played: intended grid, then actual onsets and velocities.

The grid (`Grid`) depends only on the rudiment, the tempo and the length, so the writer can
know every label column's type before it simulates anything (`labels.stroke_schema`). The
performance adds a skill tier's timing jitter, velocity spread, tempo drift and a weak left
hand, from a numpy Generator: the same seed gives the same performance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .rudiments import GRACE, PATTERNS

SKILL_TIERS = ("beginner", "intermediate", "advanced", "professional")
# per tier: timing jitter sd (ms), velocity sd, tempo drift sd (fraction of the tempo)
_TIMING_SD = np.array([22.0, 13.0, 7.0, 3.5])
_VELOCITY_SD = np.array([16.0, 11.0, 7.0, 4.0])
_DRIFT_SD = np.array([0.035, 0.02, 0.01, 0.005])
_INTENDED_VELOCITY = np.array([72, 112, 42, 80], dtype=np.int64)  # by stroke type


@dataclass(frozen=True)
class Grid:
    """The intended strokes of one rudiment at one tempo for one length, in time order."""

    rudiment: int
    intended_ms: np.ndarray
    hand: np.ndarray
    kind: np.ndarray
    diddle_position: np.ndarray
    strokes_per_cycle: int
    num_cycles: int
    t0_ms: float

    @property
    def principal(self) -> np.ndarray:
        return self.kind != GRACE


@lru_cache(maxsize=4096)
def grid(rudiment: int, tempo_bpm: int, duration_ms: float) -> Grid:
    """Whole cycles that fit `duration_ms` (at least one, cut at the end), 50 ms lead-in."""
    pattern = PATTERNS[rudiment]
    beat_ms = 60_000.0 / tempo_bpm
    slot_ms = pattern.slot_beats * beat_ms
    grace_gap = min(35.0, 0.22 * slot_ms, 0.1 * duration_ms)
    t0 = min(50.0, 0.05 * duration_ms) + pattern.max_graces * grace_gap
    cycle_ms = pattern.cycle_beats * beat_ms
    tail = min(150.0, 0.1 * duration_ms)
    num_cycles = max(1, int((duration_ms - t0 - tail) // cycle_ms))
    k = len(pattern.beat)
    cycle = np.repeat(np.arange(num_cycles), k)
    beat = np.tile(pattern.beat, num_cycles) + cycle * pattern.cycle_beats
    intended = t0 + beat * beat_ms - np.tile(pattern.grace_rank, num_cycles) * grace_gap
    keep = intended < duration_ms
    keep[0] = True
    kind = np.tile(pattern.kind, num_cycles)
    last_principal = np.flatnonzero(keep & (kind != GRACE))[-1]
    keep[last_principal + 1 :] = False  # no grace note without the stroke it ornaments
    return Grid(
        rudiment=rudiment,
        intended_ms=intended[keep],
        hand=np.tile(pattern.hand, num_cycles)[keep],
        kind=kind[keep],
        diddle_position=np.tile(pattern.diddle_position, num_cycles)[keep],
        strokes_per_cycle=k,
        num_cycles=num_cycles,
        t0_ms=t0,
    )


@dataclass(frozen=True)
class Performance:
    """A grid as played: actual onsets (ms) and velocities, and the tempo drift."""

    grid: Grid
    actual_ms: np.ndarray
    intended_velocity: np.ndarray
    actual_velocity: np.ndarray
    drift: float


def perform(
    g: Grid,
    tier: int,
    weak_hand: int,
    weakness: float,
    duration_ms: float,
    rng: np.random.Generator,
) -> Performance:
    """Play `g` as a drummer of `tier` whose `weak_hand` (0 = L) plays `weakness` softer."""
    n = len(g.intended_ms)
    drift = float(rng.normal(0.0, _DRIFT_SD[tier]))
    jitter = rng.normal(0.0, _TIMING_SD[tier], n)
    jitter[g.kind == GRACE] *= 0.4  # grace notes ride on their principal stroke
    actual = g.t0_ms + (g.intended_ms - g.t0_ms) * (1.0 + drift) + jitter
    np.clip(actual, 0.0, duration_ms - 1.0, out=actual)
    intended_velocity = _INTENDED_VELOCITY[g.kind]
    velocity = intended_velocity + rng.normal(0.0, _VELOCITY_SD[tier], n)
    velocity -= np.where(g.hand == weak_hand, weakness, 0.0)
    actual_velocity = np.clip(np.rint(velocity), 1, 127).astype(np.int64)
    return Performance(g, actual, intended_velocity, actual_velocity, drift)
