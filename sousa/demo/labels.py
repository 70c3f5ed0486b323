"""Labels of one performance, with the generator's columns (`labels/schema.py`, `compute.py`).

Strokes: one row per stroke (a grace note's ``timing_error_ms`` is its flam spacing's distance
from 30 ms, as in the generator). Measures: one row per cycle of the rudiment (the generator's
``strokes_per_measure`` is the pattern's stroke count). Exercise scores: 0-100, rudiment-specific
ones only for their category, ``overall_score`` the generator's weighted mean. Optional values
are NaN here; the table writer turns NaN into null.
"""

from __future__ import annotations

import math

import numpy as np

from .performance import SKILL_TIERS, Performance
from .rudiments import ACCENT, CATEGORIES, DIDDLE, GRACE, HANDS, STROKE_TYPES

IDEAL_FLAM_SPACING_MS = 30.0
# compute.py TIER_SCORE_DISTRIBUTIONS: (mean, sd) of overall_score per tier
_TIER_SCORES = ((34.3, 6.6), (45.7, 10.1), (61.0, 10.8), (73.5, 10.7))
_OVERALL_WEIGHTS = {
    "timing_accuracy": 0.2,
    "timing_consistency": 0.15,
    "tempo_stability": 0.1,
    "subdivision_evenness": 0.1,
    "velocity_control": 0.1,
    "accent_differentiation": 0.1,
    "accent_accuracy": 0.1,
    "hand_balance": 0.15,
}


def parent_index(kind: np.ndarray) -> np.ndarray:
    """For each stroke, the index of the principal stroke at or after it (graces point ahead)."""
    principal = np.flatnonzero(kind != GRACE)
    return principal[np.searchsorted(principal, np.arange(len(kind)))]


def timing_error(perf: Performance) -> np.ndarray:
    """Actual minus intended onset; for a grace note, its flam spacing minus the ideal 30 ms."""
    g = perf.grid
    error = perf.actual_ms - g.intended_ms
    grace = g.kind == GRACE
    spacing = perf.actual_ms[parent_index(g.kind)] - perf.actual_ms
    return np.where(grace, spacing - IDEAL_FLAM_SPACING_MS, error)


def stroke_columns(perf: Performance) -> dict[str, object]:
    """The strokes of one performance (strings as (codes, labels)), in the generator's order."""
    g = perf.grid
    grace = g.kind == GRACE
    parent = parent_index(g.kind)
    return {
        "index": np.arange(len(g.kind), dtype=np.int64),
        "hand": (g.hand, HANDS),
        "stroke_type": (g.kind, STROKE_TYPES),
        "intended_time_ms": g.intended_ms,
        "actual_time_ms": perf.actual_ms,
        "timing_error_ms": timing_error(perf),
        "intended_velocity": perf.intended_velocity,
        "actual_velocity": perf.actual_velocity,
        "velocity_error": perf.actual_velocity - perf.intended_velocity,
        "is_grace_note": grace,
        "is_accent": g.kind == ACCENT,
        "diddle_position": np.where(g.kind == DIDDLE, g.diddle_position, np.nan),
        "flam_spacing_ms": np.where(grace, perf.actual_ms[parent] - perf.actual_ms, np.nan),
        "parent_stroke_index": np.where(grace, parent, np.nan),
        "buzz_count": np.full(len(g.kind), np.nan),  # no buzz roll among the demo's rudiments
    }


def _group_mean(groups: np.ndarray, values: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Mean of `values` per group over `mask` (NaN for a group with none)."""
    count = np.bincount(groups[mask], minlength=n).astype(np.float64)
    total = np.bincount(groups[mask], values[mask], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def measure_columns(perf: Performance) -> dict[str, object]:
    """One row per cycle: timing and velocity statistics, left/right balance (NaN if one hand)."""
    g = perf.grid
    n = len(g.kind)
    per = g.strokes_per_cycle
    m = np.arange(n) // per
    n_measures = int(m[-1]) + 1
    starts = np.arange(n_measures) * per
    err = timing_error(perf)
    vel = perf.actual_velocity.astype(np.float64)
    left, right, every = g.hand == 0, g.hand == 1, np.ones(n, dtype=bool)

    def mean(values: np.ndarray, mask: np.ndarray = every) -> np.ndarray:
        return _group_mean(m, values, mask, n_measures)

    e_mean, v_mean = mean(err), mean(vel)
    e_std = np.sqrt(np.maximum(mean(err * err) - e_mean**2, 0))
    v_std = np.sqrt(np.maximum(mean(vel * vel) - v_mean**2, 0))
    return {
        "index": np.arange(n_measures, dtype=np.int64),
        "stroke_start": starts,
        "stroke_end": np.minimum(starts + per, n),
        "timing_mean_error_ms": e_mean,
        "timing_std_ms": e_std,
        "timing_max_error_ms": np.maximum.reduceat(np.abs(err), starts),
        "velocity_mean": v_mean,
        "velocity_std": v_std,
        "velocity_consistency": 1.0 - v_std / v_mean,
        "lr_velocity_ratio": mean(vel, left) / mean(vel, right),
        "lr_timing_diff_ms": mean(err, left) - mean(err, right),
    }


def _score(x: float, scale: float) -> float:
    """100 for a perfect 0, falling off exponentially with `scale`."""
    return 100.0 * math.exp(-abs(x) / scale)


def _hand_scores(perf: Performance, principal: np.ndarray) -> tuple[float, float]:
    """(hand_balance, weak_hand_index: 0 = left weak, 100 = right weak, 50 = balanced)."""
    hands = perf.grid.hand[principal]
    velocity = perf.actual_velocity[principal].astype(np.float64)
    if not ((hands == 0).any() and (hands == 1).any()):
        return 100.0, 50.0
    diff = float(velocity[hands == 0].mean() - velocity[hands == 1].mean())
    return _score(diff, 12.0), min(100.0, max(0.0, 50.0 + 2.0 * diff))


def _specific_scores(perf: Performance) -> dict[str, float]:
    """flam_quality / diddle_quality / roll_sustain where the rudiment's category has them."""
    g = perf.grid
    category = CATEGORIES[g.rudiment]
    out = {"flam_quality": math.nan, "diddle_quality": math.nan, "roll_sustain": math.nan}
    if category == "flam":
        spacing = timing_error(perf)[g.kind == GRACE] + IDEAL_FLAM_SPACING_MS
        below, above = np.maximum(20 - spacing, 0) * 5, np.maximum(spacing - 40, 0) * 3
        quality = np.maximum(0, 100 - below - above)
        out["flam_quality"] = float(np.mean(quality)) if len(quality) else 80.0
    if category in ("diddle", "roll"):
        second = np.flatnonzero((g.kind[1:] == DIDDLE) & (g.diddle_position[1:] == 2)) + 1
        actual = perf.actual_ms[second] - perf.actual_ms[second - 1]
        intended = g.intended_ms[second] - g.intended_ms[second - 1]
        deviation = float(np.mean(np.abs(actual / intended - 1))) if len(second) else 0.1
        out["diddle_quality"] = max(0.0, 100.0 - deviation * 200)
    if category == "roll":
        v = perf.actual_velocity
        quarter = max(1, len(v) // 4)
        decay = float(v[-quarter:].mean() / v[:quarter].mean()) if len(v) >= 4 else 0.8
        out["roll_sustain"] = min(100.0, decay * 100)
    return out


def exercise_scores(perf: Performance, tier: int) -> dict[str, float]:
    """The generator's ExerciseScores fields, in its order (without sample_id)."""
    g = perf.grid
    principal = g.principal
    err = timing_error(perf)[principal]
    verr = (perf.actual_velocity - perf.intended_velocity).astype(np.float64)
    accents = g.kind == ACCENT
    gaps = np.diff(perf.actual_ms[principal]) - np.diff(g.intended_ms[principal])
    accent_gap = (
        float(perf.actual_velocity[accents].mean() - perf.actual_velocity[~accents].mean())
        if accents.any() and (~accents).any()
        else 40.0
    )
    hand_balance, weak_hand = _hand_scores(perf, principal)
    scores = {
        "timing_accuracy": _score(float(np.mean(np.abs(err))), 25.0),
        "timing_consistency": _score(float(np.std(err)), 20.0),
        "tempo_stability": _score(perf.drift * 25.0, 1.0),
        "subdivision_evenness": _score(float(np.std(gaps)) if len(gaps) else 0.0, 15.0),
        "velocity_control": _score(float(np.std(verr)), 15.0),
        "accent_differentiation": min(100.0, max(0.0, accent_gap * 2.5)),
        "accent_accuracy": _score(float(np.mean(np.abs(verr[accents]))), 15.0)
        if accents.any()
        else 100.0,
        "hand_balance": hand_balance,
        "weak_hand_index": weak_hand,
    }
    overall = sum(w * scores[k] for k, w in _OVERALL_WEIGHTS.items())
    scores |= _specific_scores(perf)
    scores["groove_feel_proxy"] = math.exp(-float(np.std(err)) / 30.0)
    scores["overall_score"] = overall
    mean, sd = _TIER_SCORES[tier]
    scores["tier_confidence"] = math.exp(-0.5 * ((overall - mean) / sd) ** 2)
    return scores


def skill_tier_binary(tier: int) -> str:
    return "novice" if SKILL_TIERS[tier] in ("beginner", "intermediate") else "skilled"
