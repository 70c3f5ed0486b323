"""The reference builder (sousa/read/builder.py) against a real staging folder, both modes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from sousa.layout import SHARD_COLUMNS, SPLITS
from sousa.read.builder import Sousa, SousaDataError
from sousa.read.package_builder import PackageSousa

from .helpers import split_rows

# -- fixtures ----------------------------------------------------------------------------------


def label_names(staging: Path) -> list[str]:
    names = pq.read_schema(staging / "data/train-00000-of-00001.parquet").names
    return [n for n in names if n not in SHARD_COLUMNS]


def source_media(demo_template: Path) -> dict[str, dict]:
    """sample_id → {"audio": Path, "midi": Path | None} from the source folder's table."""
    table = pq.read_table(demo_template / "labels/samples.parquet").to_pylist()
    return {
        r["sample_id"]: {
            "audio": demo_template / r["audio_path"],
            "midi": demo_template / r["midi_path"] if r["midi_path"] else None,
        }
        for r in table
    }


def assert_matches_source(examples: list[dict], config: str, staging: Path, split, demo_template):
    """Labels equal the split table's rows, audio the source FLAC, MIDI the source file."""
    rows = {r["sample_id"]: r for r in split_rows(staging, split)}
    media = source_media(demo_template)
    labels = label_names(staging)
    if config == "midi":
        rows = {k: r for k, r in rows.items() if r["midi_shard"] is not None}
    assert sorted(e["sample_id"] for e in examples) == sorted(rows)
    for ex in examples:
        row = rows[ex["sample_id"]]
        assert {k: ex[k] for k in labels} == {k: row[k] for k in labels}
        expected_keys = set(labels) | {"audio": {"audio", "midi"}, "midi": {"midi"}}.get(
            config, set()
        )
        assert set(ex) == expected_keys
        files = media[ex["sample_id"]]
        if config == "audio":
            pcm, rate = sf.read(files["audio"], dtype="float32")
            assert ex["audio"]["sampling_rate"] == rate
            assert ex["audio"]["path"] == f"{ex['sample_id']}.flac"
            assert ex["audio"]["array"].dtype == np.float32
            np.testing.assert_array_equal(ex["audio"]["array"], pcm)
        if config in ("audio", "midi"):
            expected = files["midi"].read_bytes() if files["midi"] else None
            assert ex["midi"] == expected


class DownloadLog:
    """Records every URL the builder asks a (streaming or not) download manager for."""

    def __init__(self, monkeypatch):
        self.urls: list[str] = []
        for cls in (datasets.DownloadManager, datasets.StreamingDownloadManager):
            monkeypatch.setattr(cls, "download", self._wrap(cls.download))

    def _wrap(self, original):
        log = self

        def download(manager, url_or_urls):
            urls = url_or_urls if isinstance(url_or_urls, list) else [url_or_urls]
            log.urls.extend(str(u) for u in urls)
            return original(manager, url_or_urls)

        return download

    def shards(self) -> list[str]:
        return sorted(u for u in self.urls if u.endswith(".tar"))


def builder(staging: Path, config: str, cache_dir: Path, cls=Sousa, **kwargs) -> Sousa:
    """The staged builder (`Sousa`), or `sousa.load`'s (`cls=PackageSousa`)."""
    return cls(base_path=str(staging), config_name=config, cache_dir=str(cache_dir), **kwargs)


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["audio", "midi", "labels"])
def test_every_config_and_split_streams_equal_to_the_source(
    config, staging, demo_template, tmp_path
):
    b = builder(staging, config, tmp_path)
    for split in SPLITS:
        examples = list(b.as_streaming_dataset(split=split))
        assert examples, split
        assert_matches_source(examples, config, staging, split, demo_template)


@pytest.mark.parametrize("config", ["audio", "midi", "labels"])
def test_every_config_and_split_prepares_to_arrow_equal_to_the_source(
    config, staging, demo_template, tmp_path
):
    b = builder(staging, config, tmp_path)
    b.download_and_prepare()
    for split in SPLITS:
        ds = b.as_dataset(split=split)
        assert_matches_source(list(ds), config, staging, split, demo_template)


def test_arrow_cache_holds_flac_bytes_within_1_5x_the_media_and_reopens_decoding(
    staging, demo_template, tmp_path
):
    b = builder(staging, "audio", tmp_path)
    b.download_and_prepare()
    for split in SPLITS:
        rows = split_rows(staging, split)
        media = sum(r["audio_size"] + (r["midi_size"] or 0) for r in rows)
        arrow = sum(p.stat().st_size for p in tmp_path.rglob(f"*-{split}*.arrow"))
        assert 0 < arrow <= 1.5 * media, (split, arrow, media)
    # the raw storage is the FLAC bytes; a new builder on the same cache decodes the same way
    raw = b.as_dataset(split="train").with_format("arrow")[:1].column("audio").to_pylist()[0]
    assert raw["bytes"][:4] == b"fLaC"
    again = builder(staging, "audio", tmp_path).as_dataset(split="train")
    assert_matches_source(list(again), "audio", staging, "train", demo_template)


def test_filter_on_one_shard_downloads_exactly_that_shard(staging, tmp_path, monkeypatch):
    rows = split_rows(staging, "train")
    assert len({r["audio_shard"] for r in rows}) > 2, "fixture must have several train shards"
    target = rows[-1]["audio_shard"]
    ids = [r["sample_id"] for r in rows if r["audio_shard"] == target]
    log = DownloadLog(monkeypatch)
    b = builder(staging, "audio", tmp_path, filter={"sample_id": ids})
    b.download_and_prepare()
    ds = b.as_dataset(split="train")
    assert sorted(ds["sample_id"]) == sorted(ids)
    train_shards = [u for u in log.shards() if "/train-" in u]
    assert train_shards == [str(staging / "audio" / target)]

    # one sample of the shard: `sousa.load`'s builder reads it by range, the shard is neither
    # downloaded nor streamed
    log.urls.clear()
    one = builder(staging, "audio", tmp_path, PackageSousa, filter={"sample_id": ids[:1]})
    streamed = list(one.as_streaming_dataset(split="train"))
    assert [e["sample_id"] for e in streamed] == ids[:1]
    assert [u for u in log.shards() if "/train-" in u] == []


def test_filter_selects_rows_by_value_or_values_and_keeps_other_shards_unread(
    staging, tmp_path, monkeypatch
):
    log = DownloadLog(monkeypatch)
    b = builder(staging, "audio", tmp_path, filter={"skill_tier": ["advanced", "professional"]})
    got = list(b.as_streaming_dataset(split="train"))
    rows = [
        r for r in split_rows(staging, "train") if r["skill_tier"] in ("advanced", "professional")
    ]
    assert sorted(e["sample_id"] for e in got) == sorted(r["sample_id"] for r in rows)
    needed = sorted(str(staging / "audio" / s) for s in {r["audio_shard"] for r in rows})
    read = [u for u in log.shards() if "/train-" in u]
    # shards are mixed: each holds some selected rows, and is read whole (through dl_manager)
    # or by range reads of just those rows (`use_ranges`), never a shard without one
    assert needed and set(read) <= set(needed), "only shards holding selected rows"


def test_labels_config_downloads_no_shard(staging, tmp_path, monkeypatch):
    log = DownloadLog(monkeypatch)
    b = builder(staging, "labels", tmp_path)
    b.download_and_prepare()
    streamed = list(b.as_streaming_dataset(split="train"))
    assert log.shards() == []
    tables = [str(staging / f"data/{split}-00000-of-00001.parquet") for split in SPLITS]
    assert sorted(log.urls) == sorted(tables * 2), "each table, through dl_manager, per mode"
    assert len(streamed) == len(split_rows(staging, "train"))


def test_unknown_filter_column_is_refused_naming_it(staging, tmp_path):
    with pytest.raises(ValueError, match="unknown column 'no_such'"):
        builder(staging, "audio", tmp_path, filter={"no_such": 1})


def test_folder_without_manifest_is_refused(staging, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(staging, copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(SousaDataError, match="manifest.json is missing"):
        builder(copy, "audio", tmp_path / "cache")


def _member_offset(staging: Path, kind: str, split: str = "train") -> dict:
    return next(r for r in split_rows(staging, split) if r[f"{kind}_shard"] is not None)


@pytest.fixture
def broken(staging, tmp_path) -> Path:
    """A private copy of the staging folder that a test may damage."""
    copy = tmp_path / "broken"
    shutil.copytree(staging, copy)
    return copy


def test_corrupt_flac_member_names_member_and_shard(broken, tmp_path):
    row = _member_offset(broken, "audio")
    with open(broken / "audio" / row["audio_shard"], "r+b") as f:
        f.seek(row["audio_offset"])
        f.write(b"\0" * 64)  # the FLAC header
    b = builder(broken, "audio", tmp_path / "cache")
    pattern = f"corrupt FLAC member '{row['audio_filename']}' in shard 'audio/{row['audio_shard']}'"
    with pytest.raises(SousaDataError, match=pattern):
        list(b.as_streaming_dataset(split="train"))
    with pytest.raises(datasets.exceptions.DatasetGenerationError) as caught:
        b.download_and_prepare()  # datasets wraps the error: ours is the cause
    assert isinstance(caught.value.__cause__, SousaDataError)
    assert re.search(pattern, str(caught.value.__cause__))


def test_table_row_missing_from_its_shard_is_a_mismatch(broken, tmp_path):
    path = broken / "data/train-00000-of-00001.parquet"
    table = pq.read_table(path)
    names = table.column("audio_filename").to_pylist()
    renamed = [names[0].replace(".flac", "x.flac")] + names[1:]
    table = table.set_column(table.schema.get_field_index("audio_filename"), "audio_filename",
                             [renamed])  # fmt: skip
    pq.write_table(table, path)
    b = builder(broken, "audio", tmp_path / "cache")
    with pytest.raises(SousaDataError, match="mismatched ids"):
        list(b.as_streaming_dataset(split="train"))


def test_shard_member_absent_from_the_table_is_a_mismatch(broken, tmp_path):
    path = broken / "data/train-00000-of-00001.parquet"
    table = pq.read_table(path)
    dropped = table.column("sample_id")[0].as_py()
    pq.write_table(table.slice(1), path)
    b = builder(broken, "audio", tmp_path / "cache")
    with pytest.raises(SousaDataError, match=f"{dropped}.*belongs to no sample"):
        list(b.as_streaming_dataset(split="train"))


def test_a_damaged_tar_header_is_refused_naming_the_shard(broken, tmp_path):
    """tarfile ends its walk at a damaged header: the members after it are reported missing."""
    row = _member_offset(broken, "audio")
    header = row["audio_offset"] - 512
    with open(broken / "audio" / row["audio_shard"], "r+b") as f:
        f.seek(header + 3)  # inside the member name: the checksum no longer matches
        f.write(b"Z")
    b = builder(broken, "audio", tmp_path / "cache")
    pattern = f"shard audio/{row['audio_shard']}(: not a readable TAR| lacks)"
    with pytest.raises(SousaDataError, match=pattern):
        list(b.as_streaming_dataset(split="train"))


def test_a_truncated_shard_is_refused_while_streaming(broken, tmp_path):
    row = split_rows(broken, "train")[-1]
    shard = broken / "audio" / row["audio_shard"]
    shard.write_bytes(shard.read_bytes()[: row["audio_offset"] + 10])
    b = builder(broken, "audio", tmp_path / "cache")
    pattern = f"shard audio/{row['audio_shard']}: not a readable TAR \\(unexpected end of data"
    with pytest.raises(SousaDataError, match=pattern):
        list(b.as_streaming_dataset(split="train"))


def test_without_register_feature_the_staged_builder_still_streams(staging, monkeypatch):
    """`register_feature` is the one name the builder takes that `datasets` does not export
    (guarded): were it gone, the feature type stays unknown and streaming is unchanged."""
    from datasets.features import features

    from sousa.read.flac_audio import FEATURE_TYPE, register_flac_audio

    monkeypatch.delitem(features._FEATURE_TYPES, FEATURE_TYPE)
    monkeypatch.delattr(features, "register_feature")
    assert register_flac_audio() is False
    with pytest.raises(ValueError, match=FEATURE_TYPE):
        datasets.Features.from_dict({"audio": {"_type": FEATURE_TYPE}})
    stream = Sousa(base_path=str(staging), config_name="audio").as_streaming_dataset("validation")
    examples = list(stream)
    assert len(examples) == len(split_rows(staging, "validation"))
    assert all(e["audio"]["array"].dtype == np.float32 for e in examples)
