"""The rudiments the demo plays: real SOUSA slugs and categories, with a one-cycle sticking each.

A sticking is a string of tokens, one per slot: "-" is a rest, otherwise ``[graces]HAND[>]``:
upper-case R/L is the stroke, ">" an accent, lower-case r/l before it are grace notes (one is a
flam, two a drag). A stroke with the same hand as a neighbour is part of a diddle. Slugs and
categories are those of the generator's ``rudiments/definitions/*.yaml`` (category decides which
rudiment-specific scores exist: flam → ``flam_quality``; diddle or roll → ``diddle_quality``;
roll → ``roll_sustain``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# (slug, category, slots per beat, sticking), in the generator's definition order
_SPECS: tuple[tuple[str, str, int, str], ...] = (
    ("single_stroke_roll", "roll", 4, "R L R L"),
    ("double_stroke_open_roll", "roll", 4, "R R L L"),
    ("triple_stroke_roll", "roll", 6, "R R R L L L"),
    ("five_stroke_roll", "roll", 8, "R R L L R> - - - L L R R L> - - -"),
    ("seven_stroke_roll", "roll", 8, "R R L L R R L> - L L R R L L R> -"),
    ("nine_stroke_roll", "roll", 8, "R R L L R R L L R> - - - - - - - L L R R L L R R L> - - - - - - -"),  # noqa: E501
    ("single_paradiddle", "diddle", 4, "R> L R R L> R L L"),
    ("double_paradiddle", "diddle", 6, "R> L R L R R L> R L R L L"),
    ("triple_paradiddle", "diddle", 4, "R> L R L R L R R L> R L R L R L L"),
    ("paradiddle_diddle", "diddle", 6, "R> L R R L L"),
    ("flam", "flam", 2, "lR> rL>"),
    ("flam_accent", "flam", 3, "lR> L R rL> R L"),
    ("flam_tap", "flam", 4, "lR> R rL> L"),
    ("flam_paradiddle", "flam", 4, "lR> L R R rL> R L L"),
    ("single_flammed_mill", "flam", 4, "lR> R L R rL> L R L"),
    ("pataflafla", "flam", 4, "lR L R rL lR L R rL"),
    ("swiss_army_triplet", "flam", 3, "lR> R L lR> R L"),
    ("drag", "drag", 2, "llR> rrL>"),
    ("single_drag_tap", "drag", 2, "llR L> rrL R>"),
    ("single_ratamacue", "drag", 3, "llR L R L> - - rrL R L R> - -"),
)  # fmt: skip
RUDIMENTS: tuple[str, ...] = tuple(spec[0] for spec in _SPECS)
CATEGORIES: tuple[str, ...] = tuple(spec[1] for spec in _SPECS)

STROKE_TYPES = ("tap", "accent", "grace", "diddle")
TAP, ACCENT, GRACE, DIDDLE = range(4)
HANDS = ("L", "R")

_TOKEN = re.compile(r"^([lr]{0,2})([LR])(>?)$")


@dataclass(frozen=True)
class Pattern:
    """One cycle of a rudiment, one entry per stroke (grace notes included), in time order."""

    cycle_beats: float
    slot_beats: float
    beat: np.ndarray  # beat position of the (principal) slot of each stroke
    grace_rank: np.ndarray  # 0 = principal; k = k-th grace note before it (counted backwards)
    hand: np.ndarray  # 0 = L, 1 = R
    kind: np.ndarray  # index into STROKE_TYPES
    diddle_position: np.ndarray  # 1, 2, ... within a same-hand run; 0 = not a diddle
    max_graces: int


def _principal_strokes(tokens: list[str]) -> list[tuple[int, int, bool, str]]:
    """(slot, hand, accent, graces) of every stroke that is not a rest."""
    strokes = []
    for slot, tok in enumerate(tokens):
        if tok == "-":
            continue
        m = _TOKEN.match(tok)
        if m is None:
            raise ValueError(f"bad rudiment token {tok!r}")
        strokes.append((slot, HANDS.index(m.group(2)), bool(m.group(3)), m.group(1)))
    return strokes


def compile_pattern(slots_per_beat: int, sticking: str) -> Pattern:
    """The stroke arrays of one cycle of `sticking`."""
    tokens = sticking.split()
    principal = _principal_strokes(tokens)
    hand_at = {slot: hand for slot, hand, _, _ in principal}
    columns: dict[str, list] = {"beat": [], "rank": [], "hand": [], "kind": [], "diddle": []}

    def add(slot: int, rank: int, hand: int, kind: int, diddle: int = 0) -> None:
        for name, value in zip(columns, (slot / slots_per_beat, rank, hand, kind, diddle)):
            columns[name].append(value)

    run = 0
    for slot, hand, accent, graces in principal:
        for k, grace in enumerate(graces):
            add(slot, len(graces) - k, HANDS.index(grace.upper()), GRACE)
        prev_same = hand_at.get((slot - 1) % len(tokens)) == hand
        next_same = hand_at.get((slot + 1) % len(tokens)) == hand
        run = run + 1 if prev_same and run else 1
        if accent:
            add(slot, 0, hand, ACCENT)
        elif prev_same or next_same:
            add(slot, 0, hand, DIDDLE, run if prev_same else 1)
        else:
            add(slot, 0, hand, TAP)
    return Pattern(
        cycle_beats=len(tokens) / slots_per_beat,
        slot_beats=1.0 / slots_per_beat,
        beat=np.array(columns["beat"], dtype=np.float64),
        grace_rank=np.array(columns["rank"], dtype=np.int64),
        hand=np.array(columns["hand"], dtype=np.int8),
        kind=np.array(columns["kind"], dtype=np.int8),
        diddle_position=np.array(columns["diddle"], dtype=np.int64),
        max_graces=max(len(p[3]) for p in principal),
    )


PATTERNS: tuple[Pattern, ...] = tuple(compile_pattern(spb, st) for _, _, spb, st in _SPECS)
