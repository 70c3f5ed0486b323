"""The uploader tests of the seed plan (the design this project grew from; README "The seed
plan"), tasks 7-10: HubConfig and DatasetUploader, import path changed.

Deliberate differences from the seed: `prepare()` writes the WebDataset layout, so the MIDI
member of a sample is named after its audio file's key (`a1.mid`, not `m1.mid`); and the
media files are real FLAC/MIDI bytes here (the seed used placeholder bytes, which packaging
would also accept: it never decodes).
"""

import json

import pandas as pd
import pytest

from sousa.demo import midi_file_bytes
from sousa.seed_api import DatasetUploader, HubConfig

from .helpers import write_flac


class TestHubConfig:
    """Tests for HubConfig dataclass."""

    def test_use_tar_shards_default_true(self, tmp_path):
        config = HubConfig(dataset_dir=tmp_path, repo_id="test/repo")
        assert config.use_tar_shards is True

    def test_tar_shard_size_default(self, tmp_path):
        config = HubConfig(dataset_dir=tmp_path, repo_id="test/repo")
        assert config.tar_shard_size_bytes == 1_000_000_000


class TestDatasetUploaderHelpers:
    """Tests for DatasetUploader helper methods."""

    @pytest.fixture
    def sample_dataset(self, tmp_path):
        """A minimal dataset structure (the seed's fixture)."""
        labels_dir = tmp_path / "labels"
        labels_dir.mkdir()
        samples_df = pd.DataFrame(
            {
                "sample_id": ["s1", "s2", "s3", "s4"],
                "profile_id": ["p1", "p1", "p2", "p3"],
                "audio_path": ["audio/a1.flac", "audio/a2.flac", "audio/a3.flac", "audio/a4.flac"],
                "midi_path": ["midi/m1.mid", "midi/m2.mid", "midi/m3.mid", "midi/m4.mid"],
            }
        )
        samples_df.to_parquet(labels_dir / "samples.parquet")
        exercises_df = pd.DataFrame(
            {"sample_id": ["s1", "s2", "s3", "s4"], "overall_score": [80.0, 85.0, 75.0, 90.0]}
        )
        exercises_df.to_parquet(labels_dir / "exercises.parquet")
        splits = {
            "train_profile_ids": ["p1"],
            "val_profile_ids": ["p2"],
            "test_profile_ids": ["p3"],
        }
        with open(tmp_path / "splits.json", "w") as f:
            json.dump(splits, f)
        return tmp_path

    def write_media(self, root):
        (root / "audio").mkdir()
        (root / "midi").mkdir()
        for i in range(1, 5):
            write_flac(root / "audio" / f"a{i}.flac", seconds=0.1, seed=i)
            (root / "midi" / f"m{i}.mid").write_bytes(
                midi_file_bytes([0.0, 250.0 * i], [100, 90], 120)
            )

    def test_use_tar_shards_can_be_disabled(self, sample_dataset):
        """`use_tar_shards=False` prepares the seed's one-file-per-media layout; the default,
        TAR shards (and no media file outside them)."""
        self.write_media(sample_dataset)
        sharded = DatasetUploader(HubConfig(dataset_dir=sample_dataset, repo_id="t/r")).prepare()
        assert sorted(p.name for p in (sharded / "audio").iterdir()) == [
            "test-00000.tar",
            "train-00000.tar",
            "train-00001.tar",
            "validation-00000.tar",
        ]  # a split's fewest shards by default: 2, or one a sample (order.feed_shards)
        config = HubConfig(
            dataset_dir=sample_dataset,
            repo_id="test/repo",
            use_tar_shards=False,
            staging_dir=sample_dataset / "files",
        )
        files = DatasetUploader(config).prepare()
        assert not list(files.rglob("*.tar"))
        for i in range(1, 5):
            copy = files / "audio" / f"a{i}.flac"
            assert copy.read_bytes() == (sample_dataset / "audio" / f"a{i}.flac").read_bytes()

    def test_get_filenames_by_split_audio(self, sample_dataset):
        self.write_media(sample_dataset)
        uploader = DatasetUploader(HubConfig(dataset_dir=sample_dataset, repo_id="test/repo"))
        result = uploader._get_filenames_by_split("audio")
        assert set(result) == {"train", "validation", "test"}
        assert set(result["train"]) == {"a1.flac", "a2.flac"}
        assert set(result["validation"]) == {"a3.flac"}
        assert set(result["test"]) == {"a4.flac"}

    def test_create_media_archives_creates_tar_files(self, sample_dataset):
        self.write_media(sample_dataset)
        config = HubConfig(dataset_dir=sample_dataset, repo_id="test/repo")
        uploader = DatasetUploader(config)
        config.staging_dir.mkdir(parents=True)

        shard_map = uploader._create_media_archives("audio", "flac")

        audio_staging = config.staging_dir / "audio"
        assert (audio_staging / "train-00000.tar").exists()
        assert (audio_staging / "validation-00000.tar").exists()
        assert (audio_staging / "test-00000.tar").exists()
        assert len(shard_map) == 4
        assert shard_map["a1.flac"].shard_name == "train-00000.tar"
        assert uploader.stats.audio_files == 4

    def test_prepare_with_tar_shards_adds_shard_columns(self, sample_dataset):
        self.write_media(sample_dataset)
        config = HubConfig(dataset_dir=sample_dataset, repo_id="test/repo", use_tar_shards=True)
        staging_dir = DatasetUploader(config).prepare()

        train_df = pd.read_parquet(staging_dir / "data" / "train-00000-of-00001.parquet")
        for column in ("audio_shard", "audio_filename", "midi_shard", "midi_filename"):
            assert column in train_df.columns
        assert train_df["audio_shard"].iloc[0] == "train-00000.tar"
        assert train_df["audio_filename"].iloc[0] in ["a1.flac", "a2.flac"]
        assert train_df["midi_filename"].iloc[0] in ["a1.mid", "a2.mid"]  # keyed by the audio
        assert list(train_df["overall_score"]) == [80.0, 85.0]
