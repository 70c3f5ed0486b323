"""A folder shaped as the SOUSA generator writes it, keyed as its keys group samples, and the
distances that say how well shards mix a split (tests/test_mixing.py).

`write_sousa_shaped` writes keys `{tier}{player:03d}_{rudiment}_{tempo}bpm_{soundfont}_{aug}`
(ms-long real FLAC, hard-linked where equal: the order matters here, not the bytes). `tvd` is
the total variation distance between two count distributions; `shard_distances` measures each
shard of a split against the split, `stream_window_distances` consecutive windows of a native
`load_dataset(streaming=True).shuffle(seed=0, buffer_size=1000)` pass. Measured at full size
by the retired `benchmarks/mixing.py` (BENCHMARKS.md, "Decisions settled").
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

TIERS = {"beginner": "beg", "intermediate": "int", "advanced": "adv", "professional": "pro"}
RUDIMENTS = ("single_stroke_roll", "double_stroke_open_roll", "paradiddle", "flam", "drag")
RUDIMENTS += ("ratamacue", "flam_tap", "single_drag_tap", "five_stroke_roll", "swiss_army")
SOUNDFONTS = ("marching", "concert", "practice_pad", "acoustic", "electronic")
AUGMENTATIONS = ("clean", "room", "gym", "garage", "lofi")
SPLIT_KEYS = {"train": "train_profile_ids", "validation": "val_profile_ids"}
SPLIT_KEYS |= {"test": "test_profile_ids"}
WINDOW = 256
BUFFER = 1000
MIN_SHARD_SAMPLES = 500


def _flac_variants(count: int = 8) -> list[bytes]:
    """A few tiny real FLAC files (5-40 ms of noise), so sizes differ from sample to sample."""
    rng = np.random.default_rng(0)
    variants = []
    for i in range(count):
        buffer = io.BytesIO()
        noise = rng.uniform(-0.3, 0.3, 220 + 220 * i)
        sf.write(buffer, noise, 44_100, format="FLAC", subtype="PCM_16")
        variants.append(buffer.getvalue())
    return variants


def _midi_bytes(tempo: int) -> bytes:
    """A real (if empty) type-0 MIDI file: a header and one track with a tempo and its end."""
    micros = 60_000_000 // tempo
    track = b"\x00\xff\x51\x03" + micros.to_bytes(3, "big") + b"\x00\xff\x2f\x00"
    return (
        b"MThd"
        + (6).to_bytes(4, "big")
        + b"\x00\x00\x00\x01\x01\xe0"
        + (b"MTrk" + len(track).to_bytes(4, "big") + track)
    )


def _write_or_link(path: Path, data: bytes, first: dict[object, Path]) -> None:
    """Hard-link files of equal content (creating a file costs ~1 ms here, a link ~20 µs)."""
    if data in first:
        os.link(first[data], path)
    else:
        path.write_bytes(data)
        first[data] = path


def write_sousa_shaped(
    root: Path,
    players_per_tier: tuple[int, int, int] = (2, 1, 1),
    samples_per_player: tuple[int, int, int] = (250, 250, 250),
    seed: int = 0,
    midi: bool = True,
) -> Path:
    """A generated-SOUSA-shaped folder: labels/samples.parquet, splits.json, audio/, midi/.

    `players_per_tier` and `samples_per_player` are per split (train, validation, test), for
    each of the 4 tiers. Keys sort by tier then player, as SOUSA's do; the rows are written in
    key order. With `midi`, four samples in five have a MIDI file.
    """
    rng = np.random.default_rng(seed)
    flacs = _flac_variants()
    rows: dict[str, list] = {
        name: []
        for name in ("sample_id", "profile_id", "skill_tier", "rudiment_slug", "tempo_bpm")
        + ("soundfont", "augmentation_preset", "audio_path", "midi_path")
    }
    splits: dict[str, list[str]] = {key: [] for key in SPLIT_KEYS.values()}
    player = 0
    for split_index, key in enumerate(SPLIT_KEYS.values()):
        for tier, prefix in TIERS.items():
            for _ in range(players_per_tier[split_index]):
                profile = f"{prefix}{player:03d}"
                splits[key].append(profile)
                player += 1
                for k in range(samples_per_player[split_index]):
                    rudiment = RUDIMENTS[k % len(RUDIMENTS)]
                    soundfont = SOUNDFONTS[(k // len(RUDIMENTS)) % len(SOUNDFONTS)]
                    combos = len(RUDIMENTS) * len(SOUNDFONTS)
                    augmentation = AUGMENTATIONS[(k // combos) % len(AUGMENTATIONS)]
                    round_ = k // (combos * len(AUGMENTATIONS))  # ids stay unique: tempo
                    tempo = 60 + 40 * round_ + int(rng.integers(0, 40))
                    sample_id = f"{profile}_{rudiment}_{tempo}bpm_{soundfont}_{augmentation}"
                    audio = f"audio/{rudiment}/{sample_id}.flac"
                    midi_path = f"midi/{rudiment}/{sample_id}.mid" if midi and k % 5 else None
                    values = (sample_id, profile, tier, rudiment, tempo, soundfont, augmentation)
                    for name, value in zip(rows, (*values, audio, midi_path)):
                        rows[name].append(value)
    for folder in {str(Path(p).parent) for p in rows["audio_path"] + rows["midi_path"] if p}:
        (root / folder).mkdir(parents=True, exist_ok=True)
    first: dict[object, Path] = {}  # content → the first file holding it: later ones link to it
    for i, (audio, midi_path) in enumerate(zip(rows["audio_path"], rows["midi_path"])):
        _write_or_link(root / audio, flacs[int(rng.integers(len(flacs)))], first)
        if midi_path:
            _write_or_link(root / midi_path, _midi_bytes(rows["tempo_bpm"][i]), first)
    order = sorted(range(len(rows["sample_id"])), key=lambda i: rows["sample_id"][i])
    table = pa.table({name: [values[i] for i in order] for name, values in rows.items()})
    (root / "labels").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "labels" / "samples.parquet")
    (root / "splits.json").write_text(json.dumps(splits, indent=1))
    return root


def tvd(part: Counter, whole: Counter) -> float:
    """Total variation distance between two count distributions (0: same, 1: disjoint)."""
    n_part, n_whole = sum(part.values()), sum(whole.values())
    keys = set(part) | set(whole)
    return 0.5 * sum(abs(part[k] / n_part - whole[k] / n_whole) for k in keys)


def shard_distances(staging: Path, split: str, column: str, kind: str = "audio") -> list[dict]:
    """Each `kind` shard of `split`: its sample count and the TVD of `column` vs the split."""
    rows = pq.read_table(staging / f"data/{split}-00000-of-00001.parquet").to_pylist()
    rows = [r for r in rows if r[f"{kind}_shard"] is not None]
    whole = Counter(r[column] for r in rows)
    shards: dict[str, Counter] = {}
    for r in rows:
        shards.setdefault(r[f"{kind}_shard"], Counter())[r[column]] += 1
    return [
        {"shard": name, "samples": sum(c.values()), "tvd": tvd(c, whole)}
        for name, c in sorted(shards.items())
    ]


def stream_window_distances(
    staging: Path, split: str, column: str, window: int = WINDOW, buffer: int = BUFFER
) -> list[float]:
    """TVD of `column` in consecutive windows of a native shuffled stream vs the split's."""
    from datasets import load_dataset

    ds = load_dataset(str(staging), "audio", split=split, streaming=True)
    ds = ds.decode(False).shuffle(seed=0, buffer_size=buffer)
    values = [example["json"][column] for example in ds]
    whole = Counter(values)
    return [
        tvd(Counter(values[i : i + window]), whole)
        for i in range(0, len(values) - window + 1, window)
    ]
