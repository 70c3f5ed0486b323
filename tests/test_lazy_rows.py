"""Streaming holds no split's label rows before it reaches a shard (issue 16, item 3).

`datasets` plans every split (`_split_generators`) before the first sample of any; the
builder's jobs must then hold where their rows are, not the rows. Observed through
pyarrow's own reads of the split tables (which columns were read, and when).
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import sousa

from .helpers import split_rows


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
    splits = sousa.load(training_staging, streaming=True)  # every split planned
    with_labels = [columns for columns in label_reads if "sample_id" in columns]
    assert with_labels == [], "label rows read before any shard was reached"
    first = next(iter(splits["train"]))
    with_labels = [columns for columns in label_reads if "sample_id" in columns]
    assert len(with_labels) == 1, "the first shard's rows: one read of its row group"
    ids = [example["sample_id"] for example in splits["train"]]
    assert first["sample_id"] == ids[0]
    assert sorted(ids) == sorted(row["sample_id"] for row in split_rows(training_staging, "train"))
