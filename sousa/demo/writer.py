"""`write_demo`: the plan played, rendered and written as the generator's folder.

One sample at a time (no audio kept in memory): its FLAC (if audio), its MIDI (first
augmentation only), its strokes and measures (streamed to parquet); the per-sample tables,
`splits.json` and `index.json` at the end, as the generator's `DatasetWriter.flush` does.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .folder import prepare_dir
from .labels import exercise_scores, measure_columns, skill_tier_binary, stroke_columns
from .midi import midi_file_bytes
from .options import DemoOptions
from .performance import SKILL_TIERS, Performance, grid, perform
from .plan import PRESETS, SOUNDFONTS, SPLIT_KEYS, Plan, Row, make_plan
from .readme import readme_text
from .synthesis import SAMPLE_RATE, drum_templates, flac_bytes, noise_floor, render
from .tables import LabelWriter, measure_schema, records_table, stroke_schema, write_table


def write_demo(
    out_dir: Path,
    n_samples: int = 40,
    seconds: float = 1.0,
    seed: int = 0,
    midi_fraction: float | None = None,
    nested: bool = True,
    progress: bool = False,
    *,
    players: int | None = None,
    augmentations: int = 2,
    with_audio: bool = True,
    channels: int = 2,
    subtype: str = "PCM_24",
    readme: bool = True,
) -> Path:
    """Write a deterministic SOUSA-shaped dataset folder into `out_dir` and return it.

    The arguments are `DemoOptions`' (which says what each means); `progress` shows a bar on
    stderr. `out_dir` must be missing, empty or an earlier demo output (which is replaced);
    anything else raises `DemoDirError`. Same arguments, same bytes.
    """
    options = DemoOptions(
        n_samples, seconds, seed, midi_fraction, nested, players, augmentations, with_audio,
        channels, subtype, readme,
    )  # fmt: skip
    return write_folder(Path(out_dir), options, progress)


def write_folder(out: Path, options: DemoOptions, progress: bool = False) -> Path:
    """`write_demo` with checked options."""
    plan = make_plan(options)
    prepare_dir(out, {"generator": "sousa.demo", "options": asdict(options)})
    n_frames = max(1, round(options.seconds * SAMPLE_RATE))
    if options.readme:
        n_midi = sum(r.has_midi for r in plan.rows)
        text = readme_text(options, len(plan.players), n_midi, n_frames / SAMPLE_RATE)
        (out / "README.md").write_text(text, encoding="utf-8", newline="\n")
    _write_json(out / "splits.json", splits_json(plan))
    (out / "labels").mkdir()
    samples, exercises = _write_samples(out, plan, options, n_frames, progress)
    write_table(records_table(samples), out / "labels" / "samples.parquet")
    write_table(records_table(exercises), out / "labels" / "exercises.parquet")
    index = {
        "num_samples": len(plan.rows),
        "sample_ids": [r.sample_id for r in plan.rows],
        "config": {"audio_format": "flac", "sample_rate": SAMPLE_RATE},
    }
    _write_json(out / "index.json", index)
    return out


def _write_json(path: Path, data: dict) -> None:
    """As the generator: `json.dump(data, f, indent=2)`, no final newline."""
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def splits_json(plan: Plan) -> dict:
    """The generator's SplitAssignment.to_dict(): profile ids per split, then `stats`."""
    ids = {k: [p.profile_id for p in plan.players if p.split == k] for k in SPLIT_KEYS}
    stats: dict[str, object] = {"total_profiles": len(plan.players)}
    stats |= {f"{k}_profiles": len(ids[k]) for k in SPLIT_KEYS}
    for k in SPLIT_KEYS:
        tiers = [p.tier for p in plan.players if p.split == k]
        stats[f"{k}_skill_distribution"] = {t: tiers.count(i) for i, t in enumerate(SKILL_TIERS)}
    return {f"{k}_profile_ids": ids[k] for k in SPLIT_KEYS} | {"stats": stats}


def _write_samples(
    out: Path, plan: Plan, options: DemoOptions, n_frames: int, progress: bool
) -> tuple[list[dict], list[dict]]:
    """Media, strokes and measures of every row; returns the samples and exercises records."""
    writer = _SampleWriter(out, plan, options, n_frames)
    samples, exercises = [], []
    try:
        rows = tqdm(
            plan.rows, desc="sousa.demo", unit="sample", disable=not progress, file=sys.stderr
        )
        for row in rows:
            sample, scores = writer.write(row)
            samples.append(sample)
            exercises.append(scores)
    finally:
        writer.close()
    return samples, exercises


class _SampleWriter:
    """Writes one row's files and label rows; a performance is simulated once for its rows."""

    def __init__(self, out: Path, plan: Plan, options: DemoOptions, n_frames: int) -> None:
        self.out, self.options, self.n_frames = out, options, n_frames
        self.duration_ms = n_frames / SAMPLE_RATE * 1000.0
        grids = sorted({(r.rudiment, r.tempo) for r in plan.rows})
        grids = [grid(rudiment, tempo, self.duration_ms) for rudiment, tempo in grids]
        labels = out / "labels"
        self.strokes = LabelWriter(labels / "strokes.parquet", stroke_schema(grids))
        self.measures = LabelWriter(labels / "measures.parquet", measure_schema(grids))
        self.templates = drum_templates(len(SOUNDFONTS), options.seed)
        self.floor = noise_floor(n_frames, options.seed)
        self.folders: set[Path] = set()
        self.current: tuple[int, Performance, dict, dict] | None = None

    def _performance(self, row: Row) -> tuple[Performance, dict, dict]:
        if self.current is None or self.current[0] != row.performance:
            rng = np.random.default_rng([self.options.seed, 0x9E, row.performance])
            g = grid(row.rudiment, row.tempo, self.duration_ms)
            weak_hand = 1 if row.player.dominant_hand == "left" else 0
            perf = perform(
                g, row.player.tier, weak_hand, row.player.weakness, self.duration_ms, rng
            )
            self.current = (row.performance, perf, stroke_columns(perf), measure_columns(perf))
        return self.current[1:]

    def _write_file(self, kind: str, row: Row, suffix: str, data: bytes) -> str:
        folder = Path(kind, row.slug) if self.options.nested else Path(kind)
        if folder not in self.folders:
            (self.out / folder).mkdir(parents=True, exist_ok=True)
            self.folders.add(folder)
        rel = (folder / f"{row.sample_id}{suffix}").as_posix()
        (self.out / rel).write_bytes(data)
        return rel

    def write(self, row: Row) -> tuple[dict, dict]:
        """Write the row's media and label rows; return its samples and exercises records."""
        perf, strokes, measures = self._performance(row)
        midi_path = audio_path = None
        if row.has_midi:
            data = midi_file_bytes(perf.actual_ms, perf.actual_velocity, row.tempo, row.sample_id)
            midi_path = self._write_file("midi", row, ".mid", data)
        if self.options.with_audio:
            rng = np.random.default_rng([self.options.seed, 0x5A, row.index])
            font = SOUNDFONTS.index(row.soundfont)
            pcm = render(
                perf,
                self.n_frames,
                self.templates[font],
                self.floor,
                PRESETS[row.preset],
                self.options.channels,
                rng,
            )
            audio_path = self._write_file(
                "audio", row, ".flac", flac_bytes(pcm, self.options.subtype)
            )
        self.strokes.add(row.sample_id, strokes)
        self.measures.add(row.sample_id, measures)
        scores = exercise_scores(perf, row.player.tier)
        record = self._record(row, perf, midi_path, audio_path, len(measures["index"]))
        return record, _exercise_record(row, scores)

    def _record(
        self, row: Row, perf: Performance, midi: str | None, audio: str | None, n_measures: int
    ) -> dict:
        """The generator's samples.parquet row (storage.py `_accumulate_labels`)."""
        player = row.player
        record = {
            "sample_id": row.sample_id,
            "profile_id": player.profile_id,
            "rudiment_slug": row.slug,
            "tempo_bpm": row.tempo,
            "duration_sec": self.n_frames / SAMPLE_RATE,
            "num_cycles": perf.grid.num_cycles,
            "skill_tier": SKILL_TIERS[player.tier],
            "skill_tier_binary": skill_tier_binary(player.tier),
            "dominant_hand": player.dominant_hand,
            "midi_path": midi,
            "audio_path": audio,
            "num_strokes": len(perf.grid.kind),
            "num_measures": n_measures,
            "soundfont": row.soundfont,
            "augmentation_preset": row.preset,
            "augmentation_group_id": f"{player.profile_id[:8]}_{row.slug}_{row.tempo}",
        }
        if self.options.with_audio:  # the generator records augmentation parameters with audio only
            params = {
                "soundfont": row.soundfont,
                **PRESETS[row.preset],
                "bit_depth": None,
                "sample_rate": None,
            }
            record |= {f"aug_{k}": v for k, v in params.items()}
        return record

    def close(self) -> None:
        self.strokes.close()
        self.measures.close()


def _exercise_record(row: Row, scores: dict[str, float]) -> dict:
    """Scores (NaN → None; null overall_score and hand_balance if awkward), sample_id last."""
    record = {k: None if math.isnan(v) else v for k, v in scores.items()}
    if row.null_scores:
        record["overall_score"] = record["hand_balance"] = None
    return record | {"sample_id": row.sample_id}
