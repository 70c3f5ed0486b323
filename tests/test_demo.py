"""Tests for sousa.demo: a folder shaped like the SOUSA generator's output, and its modes."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from sousa.demo import DemoDirError, encode_vlq, midi_file_bytes, write_demo
from sousa.demo.cli import main as demo_main
from sousa.demo.folder import STAGING_NAME
from sousa.demo.rudiments import CATEGORIES, RUDIMENTS
from sousa.write.source import STAGING_DEFAULT_NAME

from .helpers import as_pandas_3

REPO = Path(__file__).resolve().parents[1]
TIERS = {"beg": "beginner", "int": "intermediate", "adv": "advanced", "pro": "professional"}
SPLIT_KEYS = ("train_profile_ids", "val_profile_ids", "test_profile_ids")
# zakkeown/SOUSA: storage.py `_accumulate_labels` and labels/schema.py, in the generator's order
SAMPLE_COLUMNS = [
    "sample_id", "profile_id", "rudiment_slug", "tempo_bpm", "duration_sec", "num_cycles",
    "skill_tier", "skill_tier_binary", "dominant_hand", "midi_path", "audio_path",
    "num_strokes", "num_measures", "soundfont", "augmentation_preset", "augmentation_group_id",
]  # fmt: skip
AUG_COLUMNS = [
    "aug_soundfont", "aug_room_type", "aug_room_wet_dry", "aug_mic_distance", "aug_mic_type",
    "aug_compression_ratio", "aug_noise_level_db", "aug_bit_depth", "aug_sample_rate",
]  # fmt: skip
EXERCISE_COLUMNS = [
    "timing_accuracy", "timing_consistency", "tempo_stability", "subdivision_evenness",
    "velocity_control", "accent_differentiation", "accent_accuracy", "hand_balance",
    "weak_hand_index", "flam_quality", "diddle_quality", "roll_sustain", "groove_feel_proxy",
    "overall_score", "tier_confidence", "sample_id",
]  # fmt: skip
STROKE_COLUMNS = [
    "index", "hand", "stroke_type", "intended_time_ms", "actual_time_ms", "timing_error_ms",
    "intended_velocity", "actual_velocity", "velocity_error", "is_grace_note", "is_accent",
    "diddle_position", "flam_spacing_ms", "parent_stroke_index", "buzz_count", "sample_id",
]  # fmt: skip
MEASURE_COLUMNS = [
    "index", "stroke_start", "stroke_end", "timing_mean_error_ms", "timing_std_ms",
    "timing_max_error_ms", "velocity_mean", "velocity_std", "velocity_consistency",
    "lr_velocity_ratio", "lr_timing_diff_ms", "sample_id",
]  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("demo") / "out", n_samples=40, seconds=1.0, seed=0)


@pytest.fixture(scope="module")
def labels_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's default mode: no --with-audio, 5 augmentations a performance."""
    out = tmp_path_factory.mktemp("labels_only") / "out"
    return write_demo(out, n_samples=100, seconds=2.0, with_audio=False, augmentations=5)


def _table(root: Path, name: str) -> pd.DataFrame:
    return pq.read_table(root / "labels" / f"{name}.parquet").to_pandas()


def _splits(root: Path) -> dict:
    return json.loads((root / "splits.json").read_text())


def _split_of(root: Path) -> dict[str, str]:
    return {p: key for key in SPLIT_KEYS for p in _splits(root)[key]}


def _read_vlq(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos


def _parse_midi(data: bytes) -> dict:
    """Minimal SMF reader: header fields, tempo, note-ons (tick, channel, velocity)."""
    assert data[:4] == b"MThd"
    hlen, fmt, ntrk, division = struct.unpack(">IHHH", data[4:14])
    pos = 8 + hlen
    tracks = []
    while pos < len(data):
        tag, length = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        tracks.append((tag, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    assert pos == len(data), "chunk lengths must add up to the file size"
    notes_on, tempo, tick, ended = [], None, 0, False
    trk = tracks[0][1]
    p, status = 0, 0
    while p < len(trk):
        delta, p = _read_vlq(trk, p)
        tick += delta
        if trk[p] & 0x80:
            status = trk[p]
            p += 1
        if status == 0xFF:
            mtype = trk[p]
            mlen, p = _read_vlq(trk, p + 1)
            if mtype == 0x51:
                tempo = int.from_bytes(trk[p : p + mlen], "big")
            if mtype == 0x2F:
                ended = True
            p += mlen
        elif status & 0xF0 in (0x80, 0x90):
            note, vel = trk[p], trk[p + 1]
            p += 2
            if status & 0xF0 == 0x90 and vel > 0:
                notes_on.append((tick, status & 0x0F, note, vel))
        else:
            raise AssertionError(f"unexpected status byte {status:#x}")
    assert ended and p == len(trk), "track must finish with end-of-track"
    return {
        "format": fmt,
        "ntracks": ntrk,
        "division": division,
        "tracks": tracks,
        "tempo": tempo,
        "notes_on": notes_on,
    }


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- the generator's layout and types -----------------------------------------------------------


def test_the_folder_has_the_generators_entries_plus_readme_and_marker(demo: Path) -> None:
    assert sorted(p.name for p in demo.iterdir()) == [
        ".sousa-demo", "README.md", "audio", "index.json", "labels", "midi", "splits.json",
    ]  # fmt: skip
    assert sorted(p.name for p in (demo / "labels").iterdir()) == [
        "exercises.parquet", "measures.parquet", "samples.parquet", "strokes.parquet",
    ]  # fmt: skip


def test_label_tables_have_the_generators_columns_in_its_order(demo: Path) -> None:
    assert list(_table(demo, "samples").columns) == SAMPLE_COLUMNS + AUG_COLUMNS
    assert list(_table(demo, "exercises").columns) == EXERCISE_COLUMNS
    assert list(_table(demo, "strokes").columns) == STROKE_COLUMNS
    assert list(_table(demo, "measures").columns) == MEASURE_COLUMNS


@pytest.mark.parametrize("name", ["samples", "exercises", "strokes", "measures"])
@pytest.mark.parametrize("mode", ["demo", "labels_only"])
def test_arrow_types_are_what_pandas_3_infers_from_the_same_records(
    name: str, mode: str, request: pytest.FixtureRequest
) -> None:
    """The generator writes `pa.Table.from_pandas(pd.DataFrame(records))` with pandas 3: same
    types here (under pandas 2, `as_pandas_3` maps its `string` to pandas 3's `large_string`)."""
    table = pq.read_table(request.getfixturevalue(mode) / "labels" / f"{name}.parquet")
    inferred = pa.Table.from_pandas(pd.DataFrame(table.to_pylist()), preserve_index=False).schema
    inferred = pa.schema([f.with_type(as_pandas_3(f.type)) for f in inferred])
    assert table.schema.remove_metadata() == inferred.remove_metadata()


def test_strings_are_large_and_some_columns_are_all_null(demo: Path) -> None:
    schema = pq.read_schema(demo / "labels" / "samples.parquet")
    assert schema.field("sample_id").type == pa.large_string()
    assert schema.field("midi_path").type == pa.large_string()
    assert schema.field("aug_bit_depth").type == pa.null()
    assert schema.field("aug_sample_rate").type == pa.null()
    assert pq.read_schema(demo / "labels" / "strokes.parquet").field("buzz_count").type == pa.null()
    exercises = pq.read_schema(demo / "labels" / "exercises.parquet")
    assert exercises.field("flam_quality").type == pa.float64()  # null only for non-flams


def test_flac_files_are_44k1_stereo_24_bit_of_the_stated_length_and_not_silent(demo: Path) -> None:
    samples = _table(demo, "samples")
    for rel, dur in zip(samples.audio_path, samples.duration_sec, strict=True):
        info = sf.info(demo / rel)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (
            44100, 2, "FLAC", "PCM_24",
        )  # fmt: skip
        data, _ = sf.read(demo / rel, dtype="float32")
        assert data.shape == (44100, 2) and round(dur * 44100) == 44100
        assert np.abs(data).max() > 0.05
        assert not np.array_equal(data[:, 0], data[:, 1]), "two channels, not one copied"


def test_mono_16_bit_is_a_mode(tmp_path: Path) -> None:
    root = write_demo(tmp_path / "m", n_samples=3, seconds=0.1, channels=1, subtype="PCM_16")
    for rel in _table(root, "samples").audio_path:
        info = sf.info(root / rel)
        assert (info.channels, info.subtype) == (1, "PCM_16")


def test_audio_length_follows_seconds_argument(tmp_path: Path) -> None:
    root = write_demo(tmp_path / "short", n_samples=3, seconds=0.05)
    for rel in _table(root, "samples").audio_path:
        assert sf.info(root / rel).frames == round(0.05 * 44100)
    assert len(_table(root, "strokes")) >= 3


def test_sample_ids_have_the_generators_form(demo: Path) -> None:
    samples = _table(demo, "samples")
    assert samples.sample_id.is_unique
    profile_of_player: dict[str, str] = {}
    for row in samples.itertuples():
        m = re.fullmatch(
            r"(beg|int|adv|pro)(\d{3})_([a-z_0-9]+)_(\d+)bpm_([a-z0-9]+)_([a-z]+)", row.sample_id
        )
        assert m, row.sample_id
        tier, player, slug, tempo, font, preset = m.groups()
        assert TIERS[tier] == row.skill_tier and slug == row.rudiment_slug
        assert int(tempo) == row.tempo_bpm and 60 <= row.tempo_bpm <= 180
        assert preset == row.augmentation_preset.replace("_", "")
        assert font == {"MT_PowerDrumKit": "mtpowerd", "Marching_Snare": "marching"}[row.soundfont]
        assert profile_of_player.setdefault(player, row.profile_id) == row.profile_id
        assert uuid.UUID(row.profile_id).version == 4
        assert row.augmentation_group_id == f"{row.profile_id[:8]}_{slug}_{tempo}"
        assert row.audio_path == f"audio/{row.rudiment_slug}/{row.sample_id}.flac"


def test_rows_are_in_generation_order_and_index_json_lists_them(demo: Path) -> None:
    samples = _table(demo, "samples")
    players = [int(s[3:6]) for s in samples.sample_id]
    assert players == sorted(players) and list(samples.sample_id) != sorted(samples.sample_id)
    index = json.loads((demo / "index.json").read_text())
    assert index == {
        "num_samples": 40,
        "sample_ids": list(samples.sample_id),
        "config": {"audio_format": "flac", "sample_rate": 44100},
    }
    assert list(_table(demo, "exercises").sample_id) == list(samples.sample_id)


def test_at_least_8_players_over_the_4_tiers_split_by_player(demo: Path) -> None:
    samples = _table(demo, "samples")
    assert samples.profile_id.nunique() >= 8
    assert set(samples.skill_tier) == set(TIERS.values())
    splits, split_of = _splits(demo), _split_of(demo)
    assert set(split_of) == set(samples.profile_id) and len(split_of) == sum(
        len(splits[k]) for k in SPLIT_KEYS
    )
    for key in SPLIT_KEYS:
        assert samples.profile_id.isin(splits[key]).sum() > 0
        tiers = samples.drop_duplicates("profile_id").set_index("profile_id").skill_tier
        counts = tiers[splits[key]].value_counts().to_dict()
        short = key.removesuffix("_profile_ids")
        assert {
            t: n for t, n in splits["stats"][f"{short}_skill_distribution"].items() if n
        } == counts
    train = samples[samples.profile_id.isin(splits["train_profile_ids"])]
    assert set(train.skill_tier) == set(TIERS.values())
    assert splits["stats"]["total_profiles"] == len(split_of)


def test_midi_exists_for_the_first_augmentation_of_each_performance_only(demo: Path) -> None:
    samples = _table(demo, "samples")
    for _, group in samples.groupby("augmentation_group_id", sort=False):
        assert len(group) == 2
        assert group.midi_path.notna().tolist() == [True, False], "first generated version"
    on_disk = {p.relative_to(demo).as_posix() for p in (demo / "midi").rglob("*.mid")}
    assert on_disk == set(samples.midi_path.dropna())
    audio = {p.relative_to(demo).as_posix() for p in (demo / "audio").rglob("*.flac")}
    assert audio == set(samples.audio_path) and len(audio) == 40


def test_every_row_of_the_default_demo_has_a_media_file(demo: Path) -> None:
    """The packager refuses rows without media today: the default demo has none."""
    samples = _table(demo, "samples")
    assert (samples.audio_path.notna() | samples.midi_path.notna()).all()


def test_first_rows_in_key_order_have_null_scores_and_no_midi(demo: Path) -> None:
    samples = _table(demo, "samples")
    exercises = _table(demo, "exercises").set_index("sample_id")
    split_of = _split_of(demo)
    for key in SPLIT_KEYS:
        rows = samples[samples.profile_id.map(split_of) == key].sort_values("sample_id")
        first = rows.sample_id.iloc[:3]
        assert exercises.loc[first, "overall_score"].isna().all()
        assert exercises.loc[first, "hand_balance"].isna().all()
        assert pd.isna(rows.midi_path.iloc[0]) and rows.midi_path.iloc[:5].notna().any()
    assert exercises.overall_score.notna().sum() == 40 - 9
    assert exercises.hand_balance.notna().any()


def test_rudiment_specific_scores_exist_for_their_category_only(demo: Path) -> None:
    samples = _table(demo, "samples").set_index("sample_id")
    exercises = _table(demo, "exercises").set_index("sample_id")
    category = samples.rudiment_slug.map(dict(zip(RUDIMENTS, CATEGORIES)))
    assert (exercises.flam_quality.notna() == (category == "flam")).all()
    assert (exercises.diddle_quality.notna() == category.isin(["diddle", "roll"])).all()
    assert (exercises.roll_sustain.notna() == (category == "roll")).all()
    scores = exercises.drop(columns=["groove_feel_proxy", "tier_confidence"])
    assert ((scores.fillna(50) >= 0) & (scores.fillna(50) <= 100)).all().all()


def test_grace_notes_point_at_their_stroke_and_measures_cover_the_strokes(demo: Path) -> None:
    strokes = _table(demo, "strokes")
    assert set(strokes.hand) == {"L", "R"}
    assert set(strokes.stroke_type) <= {"tap", "accent", "grace", "diddle"}
    assert (strokes.is_grace_note == (strokes.stroke_type == "grace")).all()
    assert (strokes.is_accent == (strokes.stroke_type == "accent")).all()
    assert (strokes.diddle_position.notna() == (strokes.stroke_type == "diddle")).all()
    measures = _table(demo, "measures")
    for sample_id, s in strokes.groupby("sample_id"):
        assert list(s["index"]) == list(range(len(s)))
        actual = s.set_index("index").actual_time_ms
        for g in s[s.is_grace_note].itertuples():
            assert not s.is_grace_note.iloc[int(g.parent_stroke_index)]
            assert g.flam_spacing_ms == pytest.approx(
                actual[int(g.parent_stroke_index)] - actual[g.index]
            )
        m = measures[measures.sample_id == sample_id]
        assert m.stroke_start.iloc[0] == 0 and m.stroke_end.iloc[-1] == len(s)
        assert (m.stroke_start.iloc[1:].values == m.stroke_end.iloc[:-1].values).all()
    samples = _table(demo, "samples").set_index("sample_id")
    counts = strokes.groupby("sample_id").size()
    assert (samples.num_strokes == counts[samples.index]).all()
    assert set(strokes.sample_id) == set(samples.index) == set(measures.sample_id)


def test_midi_files_are_format0_smf_with_one_note_on_per_stroke(demo: Path) -> None:
    samples = _table(demo, "samples")
    strokes = _table(demo, "strokes")
    with_midi = samples[samples.midi_path.notna()]
    assert len(with_midi) == 20
    for row in with_midi.itertuples():
        midi = _parse_midi((demo / row.midi_path).read_bytes())
        assert (midi["format"], midi["ntracks"], midi["division"]) == (0, 1, 480)
        assert [tag for tag, _ in midi["tracks"]] == [b"MTrk"]
        assert midi["tempo"] == round(60_000_000 / row.tempo_bpm)
        s = strokes[strokes.sample_id == row.sample_id]
        assert len(midi["notes_on"]) == len(s) > 0
        assert {ch for _, ch, _, _ in midi["notes_on"]} == {9}  # channel 10
        assert sorted(v for *_, v in midi["notes_on"]) == sorted(s.actual_velocity)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (0x40, b"\x40"),
        (0x7F, b"\x7f"),
        (0x80, b"\x81\x00"),
        (0x2000, b"\xc0\x00"),
        (0x3FFF, b"\xff\x7f"),
        (0x4000, b"\x81\x80\x00"),
        (0x1FFFFF, b"\xff\xff\x7f"),
        (0x200000, b"\x81\x80\x80\x00"),
        (0x0FFFFFFF, b"\xff\xff\xff\x7f"),
    ],
)
def test_vlq_encoding_matches_the_smf_spec(value: int, encoded: bytes) -> None:
    assert encode_vlq(value) == encoded
    assert _read_vlq(encoded, 0) == (value, len(encoded))


def test_midi_writer_handles_long_gaps_and_same_tick_notes() -> None:
    onsets = np.array([0.0, 0.0, 10.0, 60_000.0])  # 60 s later: multi-byte delta
    data = midi_file_bytes(onsets, np.array([100, 90, 80, 70]), tempo_bpm=120)
    midi = _parse_midi(data)
    assert [t for t, *_ in midi["notes_on"]] == [0, 0, 10, 57_600]  # ms * 480 * 120 / 60000


def test_splits_json_is_the_generators_assignment_with_stats(demo: Path) -> None:
    splits = _splits(demo)
    assert list(splits) == [*SPLIT_KEYS, "stats"]
    stats = splits["stats"]
    for key in SPLIT_KEYS:
        assert stats[f"{key.removesuffix('_profile_ids')}_profiles"] == len(splits[key])
    text = (demo / "splits.json").read_text()
    assert text == json.dumps(splits, indent=2), "json.dump(indent=2), no final newline"


def test_readme_has_hub_front_matter(demo: Path) -> None:
    text = (demo / "README.md").read_text()
    front = text.split("---\n")[1]
    for line in ("license: cc-by-4.0", "pretty_name: SOUSA (demo)", "- audio-classification"):
        assert line in front
    assert "Synthetic Open Unified Snare Assessment" in text


def test_strokes_are_written_in_the_generators_1000_row_row_groups(labels_only: Path) -> None:
    meta = pq.ParquetFile(labels_only / "labels" / "strokes.parquet").metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert len(sizes) > 1 and set(sizes[:-1]) == {1000} and 0 < sizes[-1] <= 1000


# -- the generator's labels-only mode -----------------------------------------------------------


def test_without_audio_most_rows_have_no_media_at_all(labels_only: Path) -> None:
    samples = pq.read_table(labels_only / "labels" / "samples.parquet")
    assert samples.column_names == SAMPLE_COLUMNS, "no aug_* columns without audio"
    assert samples.schema.field("audio_path").type == pa.null()
    assert samples.schema.field("soundfont").type == pa.null()
    rows = samples.to_pandas()
    assert (rows.midi_path.notna() == rows.sample_id.str.contains("|".join(
        g.sample_id.iloc[0] for _, g in rows.groupby("augmentation_group_id", sort=False)
    ))).all()  # fmt: skip
    assert rows.midi_path.notna().sum() == 20 and len(rows) == 100  # 80 % without media
    assert rows.sample_id.str.contains("_raw_").all()
    assert not (labels_only / "audio").exists()
    assert len(list((labels_only / "midi").rglob("*.mid"))) == 20


# -- determinism, folder rules, options ---------------------------------------------------------


def test_same_arguments_give_byte_identical_files(tmp_path: Path, demo: Path) -> None:
    again = write_demo(tmp_path / "again", n_samples=40, seconds=1.0, seed=0)
    assert _hashes(again) == _hashes(demo)
    other = write_demo(tmp_path / "other", n_samples=40, seconds=1.0, seed=1)
    assert _hashes(other) != _hashes(demo)


def test_flat_layout_has_no_rudiment_subfolders(tmp_path: Path) -> None:
    root = write_demo(tmp_path / "flat", n_samples=12, seconds=0.2, nested=False)
    samples = _table(root, "samples")
    for row in samples.itertuples():
        assert row.audio_path == f"audio/{row.sample_id}.flac"
        assert pd.isna(row.midi_path) or row.midi_path == f"midi/{row.sample_id}.mid"
    assert not [p for p in (root / "audio").iterdir() if p.is_dir()]
    assert not [p for p in (root / "midi").iterdir() if p.is_dir()]


def test_midi_fraction_drops_the_midi_of_some_performances(tmp_path: Path) -> None:
    root = write_demo(tmp_path / "f", n_samples=40, seconds=0.1, midi_fraction=0.5)
    assert _table(root, "samples").midi_path.notna().sum() == 10  # of 20 performances


def test_players_and_augmentations_are_modes(tmp_path: Path) -> None:
    root = write_demo(tmp_path / "p", n_samples=30, seconds=0.1, players=5, augmentations=3)
    samples = _table(root, "samples")
    assert samples.profile_id.nunique() == 5
    assert set(samples.groupby("augmentation_group_id").size()) == {3}


def test_previous_demo_output_is_replaced_and_its_staging_folder_kept(tmp_path: Path) -> None:
    root = write_demo(tmp_path / "d", n_samples=20, seconds=0.1)
    (root / STAGING_NAME).mkdir()  # what `python -m sousa.package DIR` adds (make demo)
    (root / STAGING_NAME / "manifest.json").write_text("{}")
    write_demo(root, n_samples=8, seconds=0.1, readme=False)
    assert len(_table(root, "samples")) == 8 and not (root / "README.md").exists()
    assert len(list((root / "audio").rglob("*.flac"))) == 8
    assert (root / STAGING_NAME / "manifest.json").read_text() == "{}", "not the demo's: kept"
    write_demo(root, n_samples=4, seconds=0.1)  # no README: the marker file says it is ours
    assert len(_table(root, "samples")) == 4
    assert STAGING_NAME == STAGING_DEFAULT_NAME


def test_non_empty_foreign_dir_is_refused_by_the_api(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(DemoDirError):
        write_demo(tmp_path, n_samples=2)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / "audio").exists()


def test_a_real_generator_output_is_never_replaced(tmp_path: Path, labels_only: Path) -> None:
    """Same names as a demo, but no marker: it is someone's dataset."""
    import shutil

    real = Path(shutil.copytree(labels_only, tmp_path / "real"))
    (real / ".sousa-demo").unlink()
    (real / "README.md").unlink()
    before = _hashes(real)
    with pytest.raises(DemoDirError, match="refusing"):
        write_demo(real, n_samples=2)
    assert _hashes(real) == before


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m sousa.demo ARGS` in a child process: the entry point itself."""
    return subprocess.run(
        [sys.executable, "-m", "sousa.demo", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _main(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """`sousa.demo`'s `main(ARGS)` in this process (stderr is pytest's capture, not a
    terminal): exit status, stdout, stderr."""
    status = demo_main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_refuses_non_empty_foreign_dir_with_exit_status_2(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# not a demo")
    proc = _run_cli(str(tmp_path), "-n", "2")
    assert proc.returncode == 2
    assert "refusing" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


def test_cli_writes_and_rewrites_a_demo_and_prints_one_summary_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    for _ in range(2):  # the second run overwrites the first
        status, stdout, stderr = _main(capsys, str(out), "-n", "5", "--seconds", "0.1")
        assert status == 0, stderr
        assert len(stdout.strip().splitlines()) == 1
        assert stderr == "", "no progress bar when stderr is not a terminal"
    assert len(_table(out, "samples")) == 5


def test_cli_rerun_keeps_the_staging_folder_packaged_inside_and_says_so(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    assert _main(capsys, str(out), "-n", "5", "--seconds", "0.1")[0] == 0
    (out / STAGING_NAME).mkdir()  # `make demo` packages into DIR/hf_staging
    (out / STAGING_NAME / "manifest.json").write_text("{}")
    status, stdout, stderr = _main(capsys, str(out), "-n", "5", "--seconds", "0.1")
    assert status == 0, stderr
    assert f"kept {out / STAGING_NAME}: sousa.package wrote it" in stdout
    assert (out / STAGING_NAME / "manifest.json").read_text() == "{}"


def test_cli_mode_flags_mirror_the_generator(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    status, _, stderr = _main(
        capsys, str(out), "-n", "10", "--no-audio", "--augmentations", "5", "--quiet"
    )
    assert status == 0, stderr
    samples = _table(out, "samples")
    assert samples.audio_path.isna().all() and samples.midi_path.notna().sum() == 2
    status, _, stderr = _main(capsys, str(out), "-n", "3", "--seconds", "0.1", "--progress")
    assert status == 0 and "3/3" in stderr
    status, _, stderr = _main(
        capsys, str(out), "-n", "3", "--seconds", "0.1", "--progress", "--quiet"
    )
    assert status == 0 and "3/3" not in stderr, "--quiet wins"


def test_invalid_arguments_are_rejected(tmp_path: Path) -> None:
    for bad in (
        {"n_samples": 0},
        {"midi_fraction": 1.5},
        {"augmentations": 6},
        {"channels": 3},
        {"subtype": "PCM_8"},
        {"players": 0},
    ):
        with pytest.raises(ValueError):
            write_demo(tmp_path / "x", **bad)
    assert not (tmp_path / "x").exists()
    assert demo_main([str(tmp_path / "y"), "--augmentations", "9"]) == 2


@pytest.mark.parametrize(
    "values",
    [["a", None], [1, 2], [1, None], [1.5, None], [True, False], [None, None], [2.0, 3.0]],
)
def test_per_sample_columns_are_typed_like_pandas_3(values: list) -> None:
    from sousa.demo.tables import infer_array

    frame = pd.DataFrame({"c": values})
    assert infer_array(values).type == as_pandas_3(pa.Table.from_pandas(frame).column("c").type)
