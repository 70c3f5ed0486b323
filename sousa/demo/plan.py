"""Who plays what: players, splits, performances and their augmentations, as the generator does.

Pure data from the options and the seed, before any file is written. It follows zakkeown/SOUSA
(`pipeline/generate.py`, `pipeline/splits.py`): a player (profile) is numbered in generation
order and has a uuid4 ``profile_id``; each plays rudiments × its own tempos (a performance); each
performance is rendered in `augmentations` versions (presets drawn in a random order, soundfonts
cycled by augmentation index); only the first version has MIDI. A sample's id is
``{tier}{player:03d}_{rudiment}_{tempo}bpm_{soundfont}_{preset}``, so key order groups samples
by tier and player. Rows are in generation order (player, rudiment, tempo, augmentation).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace

import numpy as np

from .options import DemoOptions
from .performance import SKILL_TIERS
from .rudiments import RUDIMENTS


def _preset(room, wet, distance, mic, ratio, noise_db) -> dict[str, object]:
    return {
        "room_type": room,
        "room_wet_dry": wet,
        "mic_distance": distance,
        "mic_type": mic,
        "compression_ratio": ratio,
        "noise_level_db": noise_db,
    }


TIER_ABBREVIATIONS = ("beg", "int", "adv", "pro")  # generate.py `_make_sample_id`
# Installed soundfonts (file stems, in sorted file-name order as the generator loads them).
# These two sort differently by file name ("MT_" < "Ma") than by short id ("marching" <
# "mtpowerd"): a performance's first row in key order is then a version without MIDI.
SOUNDFONTS = ("MT_PowerDrumKit", "Marching_Snare")
# The generator's default presets (GenerationConfig) and the `aug_*` columns each gives a
# sample (audio_aug/pipeline.py PRESET_CONFIGS; None where the preset disables the stage)
PRESETS: dict[str, dict[str, object]] = {
    "clean_studio": _preset("studio", 0.2, 0.4, "condenser", 2.0, None),
    "practice_room": _preset("practice_room", 0.15, 0.5, "dynamic", 2.0, -45.0),
    "gym": _preset("gym", 0.35, 2.0, "dynamic", 2.5, -40.0),
    "garage": _preset("garage", 0.3, 0.8, "dynamic", 2.5, -35.0),
    "marching_field": _preset("outdoor", 0.05, 5.0, "dynamic", None, -35.0),
}
TEMPO_RANGE = (60, 180)
TEMPOS_PER_RUDIMENT = 3
NULL_FIRST = 3  # per split, the rows first in key order have null overall_score / hand_balance
SPLIT_KEYS = ("train", "val", "test")


@dataclass(frozen=True)
class Player:
    number: int
    profile_id: str
    tier: int
    dominant_hand: str
    weakness: float  # velocity units the weak hand plays softer
    split: str  # "train", "val" or "test"


@dataclass(frozen=True)
class Row:
    """One sample: one augmentation of one performance."""

    index: int  # generation order
    sample_id: str
    player: Player
    performance: int
    rudiment: int
    tempo: int
    augmentation: int  # 0 = the first version, the only one that can have MIDI
    preset: str
    soundfont: str | None  # None without audio (the generator's "raw")
    has_midi: bool
    null_scores: bool = False

    @property
    def slug(self) -> str:
        return RUDIMENTS[self.rudiment]


@dataclass(frozen=True)
class Plan:
    players: list[Player]
    rows: list[Row]


def soundfont_short(name: str | None) -> str:
    """The soundfont part of a sample id, by the generator's rule."""
    if not name:
        return "raw"
    short = name.replace("_GM_GS", "").replace("_GS", "")
    return short.replace("_", "").replace("-", "")[:8].lower()


def make_sample_id(player: Player, rudiment: int, tempo: int, soundfont: str | None, preset: str):
    tier = TIER_ABBREVIATIONS[player.tier]
    return (
        f"{tier}{player.number:03d}_{RUDIMENTS[rudiment]}_{tempo}bpm_"
        f"{soundfont_short(soundfont)}_{preset.replace('_', '')}"
    )


def default_players(n_performances: int) -> int:
    """10 players (2-3 of each tier; 2 each in validation and test) up to 30 performances,
    then one a 3 performances, at most 200; never more than there are performances."""
    return max(1, min(n_performances, max(10, min(200, n_performances // 3))))


def _splits(tiers: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Split of each player, by player: about 15 % test, 15 % validation, every tier in train.

    Players are ranked within their tier in a random order; test and validation take the
    lowest ranks, so each split mixes tiers and train keeps the most of each.
    """
    n = len(tiers)
    if n < 3:
        return ["train"] * n
    rank = np.empty(n, dtype=np.int64)
    for t in range(len(SKILL_TIERS)):
        members = np.flatnonzero(tiers == t)
        rank[members] = rng.permutation(len(members))
    tier_order = rng.permutation(len(SKILL_TIERS))
    order = sorted(range(n), key=lambda j: (rank[j], tier_order[tiers[j]]))
    n_held = max(1, round(0.15 * n))
    split = ["train"] * n
    for j in order[:n_held]:
        split[j] = "test"
    for j in order[n_held : 2 * n_held]:
        split[j] = "val"
    return split


def make_players(n: int, rng: np.random.Generator) -> list[Player]:
    """`n` players, every tier present when n ≥ 4 (tiers dealt evenly, in a random order)."""
    tiers = rng.permutation(np.arange(n) % len(SKILL_TIERS))
    split = _splits(tiers, rng)
    players = []
    for j in range(n):
        profile_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        hand = "left" if rng.random() < 0.1 else "right"
        weakness = abs(float(rng.normal(0.0, 6.0))) * (4 - int(tiers[j])) / 4
        players.append(Player(j, profile_id, int(tiers[j]), hand, weakness, split[j]))
    return players


def _repertoire(count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """`count` (rudiment, tempo) pairs of one player: rudiment-major, the player's own tempos."""
    n_tempos = max(TEMPOS_PER_RUDIMENT, math.ceil(count / len(RUDIMENTS)))
    lo, hi = TEMPO_RANGE
    if n_tempos > hi - lo + 1:
        raise ValueError(f"{count} performances for one player is too many; add players")
    tempos = (rng.choice(hi - lo + 1, size=n_tempos, replace=False) + lo).tolist()
    n_rudiments = math.ceil(count / n_tempos)
    rudiments = np.sort(rng.choice(len(RUDIMENTS), size=n_rudiments, replace=False)).tolist()
    return [(rudiments[k // n_tempos], tempos[k % n_tempos]) for k in range(count)]


def _versions(options: DemoOptions, rng: np.random.Generator) -> list[tuple[str, str | None]]:
    """(preset, soundfont) of each augmentation of one performance, first one first."""
    names = list(PRESETS)
    picked = rng.permutation(len(names))[: options.augmentations]
    fonts = SOUNDFONTS if options.with_audio else (None,)
    return [(names[p], fonts[a % len(fonts)]) for a, p in enumerate(picked.tolist())]


def make_plan(options: DemoOptions) -> Plan:
    """Every row of the demo, in generation order."""
    rng = np.random.default_rng([options.seed, 0x50054])
    n_performances = math.ceil(options.n_samples / options.augmentations)
    n_players = min(n_performances, options.players or default_players(n_performances))
    players = make_players(n_players, rng)
    base, extra = divmod(n_performances, n_players)
    no_midi = _performances_without_midi(options, n_performances, rng)
    rows: list[Row] = []
    performance = 0
    for player in players:
        for rudiment, tempo in _repertoire(base + (player.number < extra), rng):
            versions = _versions(options, rng)[: options.n_samples - len(rows)]
            for aug, (preset, font) in enumerate(versions):
                sample_id = make_sample_id(player, rudiment, tempo, font, preset)
                has_midi = aug == 0 and performance not in no_midi
                rows.append(
                    Row(len(rows), sample_id, player, performance, rudiment, tempo, aug, preset,
                        font, has_midi)
                )  # fmt: skip
            performance += 1
    return Plan(players, _mark_null_scores(rows))


def _performances_without_midi(
    options: DemoOptions, n_performances: int, rng: np.random.Generator
) -> set[int]:
    """Performances whose MIDI is not written: none by default (the generator writes all)."""
    if options.midi_fraction is None:
        return set()
    n_drop = round(n_performances * (1.0 - options.midi_fraction))
    return set(rng.permutation(n_performances)[:n_drop].tolist())


def _mark_null_scores(rows: list[Row]) -> list[Row]:
    """The first NULL_FIRST rows of each split in key order get null scores (see writer)."""
    marked: set[int] = set()
    for split in SPLIT_KEYS:
        in_split = sorted((r for r in rows if r.player.split == split), key=lambda r: r.sample_id)
        marked.update(r.index for r in in_split[:NULL_FIRST])
    return [replace(r, null_scores=True) if r.index in marked else r for r in rows]
