"""Tests for sousa.demo: the synthetic SOUSA-shaped folder the packager consumes."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from sousa.demo import DemoDirError, encode_vlq, midi_file_bytes, write_demo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("demo") / "out", n_samples=40, seconds=1.0, seed=0)


def _table(root: Path, name: str):
    return pq.read_table(root / "labels" / f"{name}.parquet").to_pandas()


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


def test_flac_files_are_44k1_mono_of_the_stated_length_and_not_silent(demo: Path) -> None:
    samples = _table(demo, "samples")
    for rel, dur in zip(samples.audio_path, samples.duration_sec, strict=True):
        data, sr = sf.read(demo / rel, dtype="float32")
        info = sf.info(demo / rel)
        assert (sr, info.channels, info.format, info.subtype) == (44100, 1, "FLAC", "PCM_16")
        assert len(data) == 44100 == round(dur * 44100)
        assert np.abs(data).max() > 0.05


def test_audio_length_follows_seconds_argument(tmp_path: Path) -> None:
    root = write_demo(tmp_path / "short", n_samples=3, seconds=0.05)
    for rel in _table(root, "samples").audio_path:
        assert sf.info(root / rel).frames == round(0.05 * 44100)
    assert len(_table(root, "strokes")) >= 3


def test_midi_files_are_format0_smf_with_one_note_on_per_stroke(demo: Path) -> None:
    samples = _table(demo, "samples")
    strokes = _table(demo, "strokes")
    with_midi = samples[samples.midi_path.notna()]
    assert len(with_midi) > 0
    for row in with_midi.itertuples():
        data = (demo / row.midi_path).read_bytes()
        midi = _parse_midi(data)
        assert (midi["format"], midi["ntracks"], midi["division"]) == (0, 1, 480)
        assert [tag for tag, _ in midi["tracks"]] == [b"MTrk"]
        assert midi["tempo"] == round(60_000_000 / row.tempo_bpm)
        s = strokes[strokes.sample_id == row.sample_id]
        assert len(midi["notes_on"]) == len(s) > 0
        assert {ch for _, ch, _, _ in midi["notes_on"]} == {9}  # channel 10
        assert sorted(v for *_, v in midi["notes_on"]) == sorted(s.actual_velocity)


def test_midi_fraction_is_roughly_respected(demo: Path) -> None:
    samples = _table(demo, "samples")
    assert samples.midi_path.notna().sum() == 32  # 0.8 * 40


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


def test_label_paths_point_at_existing_files(demo: Path) -> None:
    samples = _table(demo, "samples")
    for rel in samples.audio_path:
        assert (demo / rel).is_file()
        assert rel.startswith("audio/")
    for rel in samples.midi_path.dropna():
        assert (demo / rel).is_file()
        assert rel.startswith("midi/")
    on_disk = {p.relative_to(demo).as_posix() for p in (demo / "midi").rglob("*.mid")}
    assert on_disk == set(samples.midi_path.dropna())


def test_sample_ids_are_unique_and_filename_safe(demo: Path) -> None:
    samples = _table(demo, "samples")
    assert samples.sample_id.is_unique
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", s) for s in samples.sample_id)
    for row in samples.itertuples():
        assert row.sample_id.startswith(f"{row.profile_id}_{row.rudiment_slug}_s")
        assert row.audio_path == f"audio/{row.rudiment_slug}/{row.sample_id}.flac"


def test_label_tables_have_the_expected_columns_and_types(demo: Path) -> None:
    samples = _table(demo, "samples")
    assert list(samples.columns) == [
        "sample_id",
        "profile_id",
        "rudiment_slug",
        "tempo_bpm",
        "duration_sec",
        "num_cycles",
        "skill_tier",
        "soundfont",
        "augmentation_preset",
        "audio_path",
        "midi_path",
    ]
    assert set(samples.skill_tier) <= {"beginner", "intermediate", "advanced", "professional"}
    assert samples.tempo_bpm.dtype.kind == "i" and samples.num_cycles.min() >= 1
    assert samples.augmentation_preset.isna().any() and samples.augmentation_preset.notna().any()
    strokes = _table(demo, "strokes")
    assert set(strokes.hand) == {"L", "R"}
    assert set(strokes.stroke_type) <= {"tap", "accent", "grace", "diddle"}
    assert (strokes.is_grace_note == (strokes.stroke_type == "grace")).all()
    assert set(strokes.sample_id) == set(samples.sample_id)
    for _, g in strokes.groupby("sample_id"):
        assert list(g.stroke_index) == list(range(len(g)))
    measures = _table(demo, "measures")
    assert set(measures.sample_id) == set(samples.sample_id)
    assert list(measures.columns[2:]) == [
        "timing_mean_error_ms",
        "timing_std_ms",
        "velocity_mean",
        "velocity_std",
    ]
    exercises = _table(demo, "exercises")
    assert list(exercises.sample_id) == sorted(samples.sample_id)
    assert exercises.timing_accuracy.between(0, 100).all()


def test_first_sorted_samples_have_null_scores_and_no_midi(demo: Path) -> None:
    samples = _table(demo, "samples").sort_values("sample_id")
    exercises = _table(demo, "exercises").set_index("sample_id")
    first = samples.sample_id.iloc[:6]
    assert samples.midi_path.iloc[:6].isna().all()
    assert exercises.loc[first, "overall_score"].isna().all()
    assert exercises.loc[first, "hand_balance"].isna().all()
    # ...but the columns are not null everywhere
    assert exercises.overall_score.notna().any() and exercises.hand_balance.notna().any()
    # parquet rows are in sorted order, so "first 5 rows" == "first 5 sample_ids"
    assert list(_table(demo, "samples").sample_id) == sorted(samples.sample_id)


def test_splits_cover_every_profile_once_and_each_split_has_samples(demo: Path) -> None:
    splits = json.loads((demo / "splits.json").read_text())
    assert set(splits) == {"train_profile_ids", "val_profile_ids", "test_profile_ids"}
    all_ids = [p for ids in splits.values() for p in ids]
    samples = _table(demo, "samples")
    assert len(all_ids) == len(set(all_ids))
    assert set(all_ids) == set(samples.profile_id)
    for ids in splits.values():
        assert samples.profile_id.isin(ids).sum() > 0
    assert len(splits["train_profile_ids"]) > len(splits["val_profile_ids"])


def test_readme_has_hub_front_matter(demo: Path) -> None:
    text = (demo / "README.md").read_text()
    front = text.split("---\n")[1]
    for line in ("license: cc-by-4.0", "pretty_name: SOUSA (demo)", "- audio-classification"):
        assert line in front
    assert "Synthetic Open Unified Snare Assessment" in text


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


def test_strokes_parquet_is_written_in_several_row_groups(demo: Path) -> None:
    meta = pq.ParquetFile(demo / "labels" / "strokes.parquet").metadata
    assert meta.num_row_groups > 1
    # a sample's strokes never straddle two row groups
    f = pq.ParquetFile(demo / "labels" / "strokes.parquet")
    seen: set[str] = set()
    for i in range(meta.num_row_groups):
        ids = set(f.read_row_group(i, columns=["sample_id"]).column(0).to_pylist())
        assert not ids & seen
        seen |= ids


def test_previous_demo_output_is_overwritten(tmp_path: Path) -> None:
    root = write_demo(tmp_path / "d", n_samples=20, seconds=0.1)
    write_demo(root, n_samples=8, seconds=0.1)
    assert len(_table(root, "samples")) == 8
    assert len(list((root / "audio").rglob("*.flac"))) == 8


def test_non_empty_foreign_dir_is_refused_by_the_api(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(DemoDirError):
        write_demo(tmp_path, n_samples=2)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / "audio").exists()


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sousa.demo", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_refuses_non_empty_foreign_dir_with_exit_status_2(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# not a demo")
    proc = _run_cli(str(tmp_path), "-n", "2")
    assert proc.returncode == 2
    assert "refusing" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


def test_cli_writes_and_rewrites_a_demo_and_prints_one_summary_line(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    for _ in range(2):  # the second run overwrites the first
        proc = _run_cli(str(out), "-n", "5", "--seconds", "0.1")
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.strip().splitlines()) == 1
    assert len(_table(out, "samples")) == 5


def test_invalid_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_demo(tmp_path / "x", n_samples=0)
    with pytest.raises(ValueError):
        write_demo(tmp_path / "x", midi_fraction=1.5)
