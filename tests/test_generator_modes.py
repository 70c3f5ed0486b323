"""Every mode of the SOUSA generator packages: with audio, and its default labels-mostly mode.

The source folders come from `sousa.demo.write_demo`, which has the generator's real
properties (DESIGN.md): nested `audio/{rudiment}/…` and `midi/{rudiment}/…`, stereo 24-bit
FLAC, `large_string` columns (as pandas 3 writes them), all-null columns, MIDI only for a
performance's first augmentation, and, without audio (`with_audio=False`, the generator's
default) and with 5 augmentations, 80 % of rows without any media file: those are labels-only
samples (null shard columns, in the split tables and the `labels` config, in no media config).
The real generator's default mode (zakkeown/SOUSA, 4,000 rows) was checked by hand the same
way (issue 9's note).
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

import sousa
from sousa.card.checks import stale_mentions
from sousa.demo import write_demo
from sousa.errors import InputError
from sousa.layout import SHARD_COLUMNS, SPLITS, split_table_path
from sousa.package import main
from sousa.read.builder import Sousa, SousaDataError
from sousa.read.loading import LoadError
from sousa.write.pipeline import PackageOptions, package_dataset

N_SAMPLES = 60  # 12 performances x 5 augmentations: MIDI for the first of each


def write_generator_output(root: Path, with_audio: bool) -> Path:
    """A folder as `generate_dataset.py` writes it (with or without `--with-audio`)."""
    return write_demo(root, n_samples=N_SAMPLES, seconds=0.05, with_audio=with_audio,
                      augmentations=5)  # fmt: skip


def source_rows(source: Path) -> dict[str, dict]:
    return {r["sample_id"]: r for r in pq.read_table(source / "labels/samples.parquet").to_pylist()}


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
    media = source_rows(source)
    rows = table_rows(staging)
    assert sorted(r["sample_id"] for r in rows) == sorted(media)
    labels_only = [r for r in rows if media[r["sample_id"]]["midi_path"] is None]
    assert len(labels_only) == N_SAMPLES * 4 // 5
    assert all(r[c] is None for r in labels_only for c in SHARD_COLUMNS)
    with_midi = [r for r in rows if media[r["sample_id"]]["midi_path"] is not None]
    assert all(r["midi_filename"] == f"{r['sample_id']}.mid" for r in with_midi)
    assert not (staging / "audio").exists()


def test_labels_only_samples_load_in_the_labels_config_and_in_no_media_config(labels_mostly):
    source, staging = labels_mostly
    media = source_rows(source)
    for streaming in (True, False):
        labels = sousa.load(staging, "labels", streaming=streaming)
        assert sorted(e["sample_id"] for split in SPLITS for e in labels[split]) == sorted(media)
        midi = sousa.load(staging, "midi", streaming=streaming)
        got = {e["sample_id"]: e["midi"] for split in SPLITS for e in midi[split]}
        assert sorted(got) == sorted(s for s, r in media.items() if r["midi_path"])
        for sample_id, data in got.items():
            assert data == (source / media[sample_id]["midi_path"]).read_bytes()


def test_the_card_declares_only_configs_with_data_and_native_loading_reads_them(labels_mostly):
    source, staging = labels_mostly
    card = DatasetCard.load(staging / "README.md").data
    assert [c["config_name"] for c in card["configs"]] == ["midi"]
    assert [i["config_name"] for i in card["dataset_info"]] == ["midi"]
    text = (staging / "README.md").read_text()
    assert 'load_dataset("<user>/sousa", "midi",' in text and '"audio",' not in text
    assert "The `data/` tables hold all 60 samples; a sample with neither audio nor MIDI" in text
    files = json.loads((staging / "manifest.json").read_text())["files"]
    assert stale_mentions(text, files) == [], "the generated text names only what exists"
    media = source_rows(source)
    test_ids = [
        r["sample_id"] for r in pq.read_table(staging / split_table_path("test")).to_pylist()
    ]
    for example in load_dataset(str(staging), "midi", split="test", streaming=True):
        sample_id = example["json"]["sample_id"]
        assert example["__key__"] == sample_id and sample_id in test_ids  # the MIDI file's stem
        assert example["mid"] == (source / media[sample_id]["midi_path"]).read_bytes()
        test_ids.remove(sample_id)
    assert all(media[s]["midi_path"] is None for s in test_ids), "every MIDI sample, once"


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
    test_profiles = set(json.loads((source / "splits.json").read_text())["test_profile_ids"])
    table = pq.read_table(source / "labels" / "samples.parquet")
    in_test = pa.array([p in test_profiles for p in table.column("profile_id").to_pylist()])
    midi = table.column("midi_path")
    table = table.set_column(
        table.schema.get_field_index("midi_path"),
        "midi_path",
        pa.compute.if_else(in_test, pa.scalar(None, midi.type), midi),
    )
    pq.write_table(table, source / "labels" / "samples.parquet")
    staging = package_dataset(PackageOptions(source=source)).out
    with pytest.raises(LoadError, match="no sample in split 'test'.*its splits: train, validation"):
        sousa.load(staging, "midi", split="test", streaming=True)
    loaded = sousa.load(staging, "midi", streaming=True)
    assert sorted(loaded) == ["train", "validation"]
    in_test_split = sum(in_test.to_pylist())
    assert in_test_split and len(list(sousa.load(staging, "labels", split="test"))) == in_test_split


def test_a_labels_only_samples_key_is_its_sample_id_under_the_same_rules(tmp_path, capsys):
    source = write_generator_output(tmp_path / "src", with_audio=False)
    table = pq.read_table(source / "labels" / "samples.parquet")
    ids = table.column("sample_id").to_pylist()
    row = table.column("midi_path").to_pylist().index(None)  # a row without media
    ids[row] = "adv000_flam_tap.v2"  # its key would be its sample_id, with a dot
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
    media = source_rows(source)
    assert {sf.info(source / r["audio_path"]).subtype for r in media.values()} == {"PCM_24"}
    seen = []
    for split in SPLITS:
        for example in sousa.load(staging, split=split, streaming=True):
            row = media[example["sample_id"]]
            pcm, rate = sf.read(source / row["audio_path"], dtype="float32")
            assert pcm.ndim == 2 and pcm.shape[1] == 2 and rate == example["audio"]["sampling_rate"]
            np.testing.assert_array_equal(example["audio"]["array"], pcm)
            midi = (source / row["midi_path"]).read_bytes() if row["midi_path"] else None
            assert example["midi"] == midi
            seen.append(example["sample_id"])
    assert sorted(seen) == sorted(media)
    card = DatasetCard.load(staging / "README.md").data
    assert [c["config_name"] for c in card["configs"]] == ["audio", "midi"]


def test_generator_audio_mode_loads_natively(with_audio, native_audio):
    source, staging = with_audio
    media = source_rows(source)
    want = [
        r["sample_id"] for r in pq.read_table(staging / split_table_path("validation")).to_pylist()
    ]
    keys = []
    for example in load_dataset(str(staging), "audio", split="validation", streaming=True):
        pcm, _ = sf.read(source / media[example["__key__"]]["audio_path"], dtype="float32")
        decoded = example["flac"].get_all_samples().data.numpy()
        np.testing.assert_allclose(decoded.T, pcm, atol=1e-6)
        keys.append(example["__key__"])
    assert sorted(keys) == sorted(want)
