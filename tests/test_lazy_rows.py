"""Streaming holds no split's label rows before it reaches a shard (issue 16, item 3).

`datasets` plans every split (`_split_generators`) before the first sample of any; the
builder's jobs must then hold where their rows are, not the rows. Observed through
pyarrow's own reads of the split tables (which columns were read, and when).
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import sousa

from .helpers import SMALL_SHARD, split_rows


@pytest.fixture
def label_reads(monkeypatch) -> list[list[str]]:
    """The columns of every row-group read of a parquet file, as they happen."""
    reads: list[list[str]] = []
    read_row_group = pq.ParquetFile.read_row_group

    def spy(self, i, columns=None, **kwargs):
        reads.append(list(columns or self.schema_arrow.names))
        return read_row_group(self, i, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    return reads


def test_streaming_reads_a_splits_labels_only_when_its_first_shard_is_reached(
    training_staging, label_reads
):
    from sousa.read.rows import _ROW_GROUPS

    _ROW_GROUPS.clear()  # another test of this process may have left a row group cached
    splits = sousa.load(training_staging, streaming=True)  # every split planned
    with_labels = [columns for columns in label_reads if "sample_id" in columns]
    assert with_labels == [], "label rows read before any shard was reached"
    first = next(iter(splits["train"]))
    with_labels = [columns for columns in label_reads if "sample_id" in columns]
    assert len(with_labels) == 1, "the first shard's rows: one read of its row group"
    ids = [example["sample_id"] for example in splits["train"]]
    assert first["sample_id"] == ids[0]
    assert sorted(ids) == sorted(row["sample_id"] for row in split_rows(training_staging, "train"))


def test_a_folder_packaged_again_in_the_same_process_streams_its_new_rows(demo_template, tmp_path):
    from sousa.write.pipeline import PackageOptions, package_dataset

    out = tmp_path / "hf_staging"
    for seed in (0, 1):  # another seed: the same samples in other shards and rows
        options = PackageOptions(source=demo_template, out=out, seed=seed, shard_size=SMALL_SHARD)
        package_dataset(options)
        rows = split_rows(out, "train")
        streamed = list(sousa.load(out, split="train", streaming=True))
        assert [e["sample_id"] for e in streamed] == [r["sample_id"] for r in rows]
        by_id = {r["sample_id"]: r for r in rows}
        assert all(e["tempo_bpm"] == by_id[e["sample_id"]]["tempo_bpm"] for e in streamed)
