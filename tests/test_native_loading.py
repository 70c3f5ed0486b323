"""Native loading with the real `datasets` and no code of ours: every config, split and mode."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from datasets import load_dataset
from huggingface_hub import DatasetCard

from sousa.layout import SHARD_COLUMNS, SPLITS, split_table_path
from sousa.write.pipeline import PackageOptions, package_dataset

from .helpers import source_rows


def expected(staging, source, split, config):
    """The split's samples that the config holds, by WebDataset key."""
    rows = pq.read_table(staging / split_table_path(split)).to_pylist()
    media = source_rows(source)
    kind = "audio" if config == "audio" else "midi"
    return {
        row[f"{kind}_filename"].split(".")[0]: (row, media[row["sample_id"]])
        for row in rows
        if row[f"{kind}_shard"] is not None
    }


def test_without_declared_features_the_first_samples_break_inference(demo_template, tmp_path):
    """In key order the demo's first sample has no score and no MIDI, the next ones have:
    inference fails.

    So the card's declared features are what make native loading work (the next test).
    """
    bare = tmp_path / "bare"
    options = PackageOptions(source=demo_template, out=bare, shard_size=10**9, order="sorted")
    package_dataset(options)
    first = pq.read_table(bare / split_table_path("train")).slice(0, 5).to_pylist()
    assert first[0]["overall_score"] is None and first[0]["midi_shard"] is None
    assert any(r["midi_shard"] is not None for r in first[1:])
    card = DatasetCard.load(bare / "README.md")
    card.data.pop("dataset_info")
    card.save(bare / "README.md")
    with pytest.raises(ValueError, match="don't share the same prefix or the same types"):
        next(iter(load_dataset(str(bare), "audio", split="train", streaming=True)))


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "prepared"])
@pytest.mark.parametrize("config", ["audio", "midi"])
def test_every_config_and_split_loads_natively_equal_to_the_source(
    staging, demo_template, native_audio, config, streaming, tmp_path
):
    for split in SPLITS:
        want = expected(staging, demo_template, split, config)
        ds = load_dataset(
            str(staging), config, split=split, streaming=streaming, cache_dir=str(tmp_path)
        )
        seen = []
        for sample in ds:
            seen.append(sample["__key__"])
            row, media = want[sample["__key__"]]
            assert sample["json"] == {k: v for k, v in row.items() if k not in SHARD_COLUMNS}
            midi = media["midi_path"]
            assert sample["mid"] == ((demo_template / midi).read_bytes() if midi else None)
            if config == "audio":
                decoded = sample["flac"].get_all_samples()
                source_audio, rate = sf.read(demo_template / media["audio_path"], dtype="float32")
                assert decoded.sample_rate == rate
                channels_first = source_audio.T if source_audio.ndim == 2 else source_audio[None]
                np.testing.assert_allclose(decoded.data.numpy(), channels_first, atol=1e-6)
        assert sorted(seen) == sorted(want), "every sample exactly once"
