"""Every mode of the SOUSA generator packages: with audio, and its default labels-mostly mode.

The source folders here have the generator's real properties (DESIGN.md): nested
`audio/{rudiment}/…` and `midi/{rudiment}/…`, stereo 24-bit FLAC, `large_string` columns (as
pandas 3 writes them), all-null columns, MIDI only for a performance's first augmentation, and,
without `--with-audio` and with 5 augmentations, 80 % of rows without any media file: those
are labels-only samples (null shard columns, in the split tables and the `labels` config, in
no media config).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from datasets import load_dataset
from huggingface_hub import DatasetCard
from sousa_builder.sousa import Sousa, SousaDataError

import sousa
from sousa.card_checks import stale_mentions
from sousa.demo import midi_file_bytes
from sousa.errors import InputError
from sousa.layout import SHARD_COLUMNS, SPLITS, split_table_path
from sousa.loading import LoadError
from sousa.package import main
from sousa.pipeline import PackageOptions, package_dataset

PROFILES = {"train": ["p0", "p1"], "validation": ["p2", "p3"], "test": ["p4", "p5"]}
RUDIMENTS = ("flam_tap", "single_stroke_roll")
AUGMENTATIONS = 5
N_SAMPLES = 6 * len(RUDIMENTS) * AUGMENTATIONS  # 60; MIDI for 12 of them


def write_generator_output(root: Path, with_audio: bool) -> Path:
    """A folder as `generate_dataset.py` writes it (with or without `--with-audio`)."""
    rows: dict[str, list] = {
        k: [] for k in ("sample_id", "profile_id", "rudiment_slug", "skill_tier", "tempo_bpm")
    }
    rows |= {"augmentation_preset": [], "overall_score": [], "audio_path": [], "midi_path": []}
    rng = np.random.default_rng(0)
    for p, profile in enumerate(sorted(sum(PROFILES.values(), []))):
        for rudiment in RUDIMENTS:
            for aug in range(AUGMENTATIONS):
                sample_id = f"adv{p:03d}_{rudiment}_120bpm_pad_{aug}"
                audio = f"audio/{rudiment}/{sample_id}.flac" if with_audio else None
                midi = f"midi/{rudiment}/{sample_id}.mid" if aug == 0 else None
                if audio:
                    (root / audio).parent.mkdir(parents=True, exist_ok=True)
                    stereo = rng.uniform(-0.5, 0.5, (2205, 2))
                    sf.write(root / audio, stereo, 44_100, format="FLAC", subtype="PCM_24")
                if midi:
                    (root / midi).parent.mkdir(parents=True, exist_ok=True)
                    data = midi_file_bytes([0.0, 125.0 + p], [90, 110], 120, name=sample_id)
                    (root / midi).write_bytes(data)
                values = (sample_id, profile, rudiment, "advanced", 120, f"aug{aug}")
                for name, value in zip(rows, (*values, 50.0 + p + aug, audio, midi)):
                    rows[name].append(value)
    strings = pa.large_string()  # pandas 3 writes every str column as large_string
    table = pa.table(
        {
            name: pa.array(values, type=strings if isinstance(values[0], str) else None)
            for name, values in rows.items()
            if name not in ("audio_path", "midi_path")
        }
    )
    # an all-None column is written with Arrow type null (no audio at all: audio_path too)
    table = table.append_column("audio_path", pa.array(rows["audio_path"], strings))
    if not with_audio:
        table = table.set_column(table.num_columns - 1, "audio_path", pa.nulls(N_SAMPLES))
    table = table.append_column("midi_path", pa.array(rows["midi_path"], strings))
    table = table.append_column("aug_bit_depth", pa.nulls(N_SAMPLES))
    (root / "labels").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "labels" / "samples.parquet")
    keys = {
        "train": "train_profile_ids",
        "validation": "val_profile_ids",
        "test": "test_profile_ids",
    }
    splits = {keys[split]: profiles for split, profiles in PROFILES.items()}
    (root / "splits.json").write_text(json.dumps(splits))
    return root


@pytest.fixture(scope="module")
def labels_mostly(tmp_path_factory) -> tuple[Path, Path]:
    """The generator's default mode (no audio, 5 augmentations) and its staging folder."""
    source = write_generator_output(tmp_path_factory.mktemp("gen") / "src", with_audio=False)
    staging = package_dataset(PackageOptions(source=source, shard_size=20_000)).out
    return source, staging


def table_rows(staging: Path) -> list[dict]:
    return [r for s in SPLITS for r in pq.read_table(staging / split_table_path(s)).to_pylist()]


def test_the_default_generator_mode_packages_and_says_which_configs(tmp_path, capsys):
    source = write_generator_output(tmp_path / "src", with_audio=False)
    assert main([str(source), "--quiet", "--shard-size", "20KB"]) == 0
    out = capsys.readouterr().out
    line = "configs: midi (12 samples); no audio config: no audio file packaged; 48 labels-only"
    assert line in out


def test_labels_only_samples_are_table_rows_with_null_shard_columns(labels_mostly):
    source, staging = labels_mostly
    rows = table_rows(staging)
    assert len(rows) == N_SAMPLES
    labels_only = [r for r in rows if not r["sample_id"].endswith("_0")]
    assert len(labels_only) == N_SAMPLES * 4 // 5
    assert all(r[c] is None for r in labels_only for c in SHARD_COLUMNS)
    with_midi = [r for r in rows if r["sample_id"].endswith("_0")]
    assert all(r["midi_filename"] == f"{r['sample_id']}.mid" for r in with_midi)
    assert not (staging / "audio").exists()


def test_labels_only_samples_load_in_the_labels_config_and_in_no_media_config(labels_mostly):
    source, staging = labels_mostly
    every = {r["sample_id"] for r in table_rows(staging)}
    for streaming in (True, False):
        labels = sousa.load(staging, "labels", streaming=streaming)
        assert {e["sample_id"] for split in SPLITS for e in labels[split]} == every
        midi = sousa.load(staging, "midi", streaming=streaming)
        got = {e["sample_id"]: e["midi"] for split in SPLITS for e in midi[split]}
        assert sorted(got) == sorted(s for s in every if s.endswith("_0"))
        for sample_id, data in got.items():
            rudiment = next(r for r in RUDIMENTS if r in sample_id)
            assert data == (source / "midi" / rudiment / f"{sample_id}.mid").read_bytes()


def test_the_card_declares_only_configs_with_data_and_native_loading_reads_them(labels_mostly):
    _, staging = labels_mostly
    card = DatasetCard.load(staging / "README.md").data
    assert [c["config_name"] for c in card["configs"]] == ["midi"]
    assert [i["config_name"] for i in card["dataset_info"]] == ["midi"]
    text = (staging / "README.md").read_text()
    assert 'load_dataset("<user>/sousa", "midi",' in text and '"audio",' not in text
    assert "The `data/` tables hold all 60 samples; a sample with neither audio nor MIDI" in text
    files = json.loads((staging / "manifest.json").read_text())["files"]
    assert stale_mentions(text, files) == [], "the generated text names only what exists"
    ds = load_dataset(str(staging), "midi", split="test", streaming=True)
    keys = sorted(e["__key__"] for e in ds)
    assert keys == sorted(f"adv{p:03d}_{r}_120bpm_pad_0" for p in (4, 5) for r in RUDIMENTS)


@pytest.mark.parametrize("streaming", [False, True])
def test_loading_a_config_without_data_names_the_configs_that_have_it(labels_mostly, streaming):
    _, staging = labels_mostly
    with pytest.raises(LoadError, match="config 'audio' has no data .*configs with data: midi, "):
        sousa.load(staging, split="test", streaming=streaming)
    with pytest.raises(LoadError, match="configs with data: midi, labels"):
        sousa.load(staging, "audio", streaming=streaming)
    builder = Sousa(base_path=str(staging), config_name="audio", cache_dir=str(staging / "x"))
    with pytest.raises(SousaDataError, match="config 'audio' has no data"):
        list(builder.as_streaming_dataset(split="test"))


def test_a_split_without_a_configs_media_is_refused_naming_the_splits_with_it(tmp_path):
    source = write_generator_output(tmp_path / "src", with_audio=False)
    table = pq.read_table(source / "labels" / "samples.parquet")
    test_rows = pa.array([p in PROFILES["test"] for p in table.column("profile_id").to_pylist()])
    midi = table.column("midi_path")
    table = table.set_column(
        table.schema.get_field_index("midi_path"),
        "midi_path",
        pa.compute.if_else(test_rows, pa.scalar(None, midi.type), midi),
    )
    pq.write_table(table, source / "labels" / "samples.parquet")
    staging = package_dataset(PackageOptions(source=source)).out
    with pytest.raises(LoadError, match="no sample in split 'test'.*its splits: train, validation"):
        sousa.load(staging, "midi", split="test", streaming=True)
    loaded = sousa.load(staging, "midi", streaming=True)
    assert sorted(loaded) == ["train", "validation"]
    assert len(list(sousa.load(staging, "labels", split="test", streaming=True))) == 20


def test_a_labels_only_samples_key_is_its_sample_id_under_the_same_rules(tmp_path, capsys):
    source = write_generator_output(tmp_path / "src", with_audio=False)
    table = pq.read_table(source / "labels" / "samples.parquet")
    ids = table.column("sample_id").to_pylist()
    ids[1] = "adv000_flam_tap.v2"  # no media: its key would be its sample_id, with a dot
    table = table.set_column(0, "sample_id", pa.array(ids, pa.large_string()))
    pq.write_table(table, source / "labels" / "samples.parquet")
    with pytest.raises(InputError, match=r"sample_id 'adv000_flam_tap\.v2' \(a sample without"):
        package_dataset(PackageOptions(source=source))
    assert main([str(source), "--quiet"]) == 2
    assert not (source / "hf_staging").exists()


@pytest.fixture(scope="module")
def with_audio(tmp_path_factory) -> tuple[Path, Path]:
    """`--with-audio`: nested stereo 24-bit FLAC for every row, MIDI for the first augmentation."""
    source = write_generator_output(tmp_path_factory.mktemp("gen") / "src", with_audio=True)
    staging = package_dataset(PackageOptions(source=source, shard_size=200_000)).out
    return source, staging


def test_generator_audio_mode_loads_back_equal_to_the_source(with_audio):
    source, staging = with_audio
    seen = 0
    for split in SPLITS:
        for example in sousa.load(staging, split=split, streaming=True):
            rudiment = next(r for r in RUDIMENTS if r in example["sample_id"])
            pcm, rate = sf.read(
                source / "audio" / rudiment / f"{example['sample_id']}.flac", dtype="float32"
            )
            assert pcm.shape == (2205, 2) and rate == example["audio"]["sampling_rate"]
            np.testing.assert_array_equal(example["audio"]["array"], pcm)
            midi = source / "midi" / rudiment / f"{example['sample_id']}.mid"
            assert example["midi"] == (midi.read_bytes() if midi.exists() else None)
            seen += 1
    assert seen == N_SAMPLES
    card = DatasetCard.load(staging / "README.md").data
    assert [c["config_name"] for c in card["configs"]] == ["audio", "midi"]


def test_generator_audio_mode_loads_natively(with_audio, native_audio):
    source, staging = with_audio
    ds = load_dataset(str(staging), "audio", split="validation", streaming=True)
    keys = []
    for example in ds:
        rudiment = next(r for r in RUDIMENTS if r in example["__key__"])
        pcm, _ = sf.read(
            source / "audio" / rudiment / f"{example['__key__']}.flac", dtype="float32"
        )
        decoded = example["flac"].get_all_samples().data.numpy()
        np.testing.assert_allclose(decoded.T, pcm, atol=1e-6)
        keys.append(example["__key__"])
    assert len(keys) == 20
