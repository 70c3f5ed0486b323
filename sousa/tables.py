"""Parquet tables: the split tables (labels + shard columns) and the auxiliary tables.

The shard columns are the one index shared by the writer, the builder, `fetch` and the
checks: `{kind}_shard` (shard file name inside the `{kind}/` folder), `{kind}_filename`
(member name), `{kind}_offset` and `{kind}_size` (the member's data bytes in the shard).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .layout import MEDIA_KINDS, SHARD_FIELDS, auxiliary_table_path, shard_column
from .shards import ShardInfo
from .source import Sample
from .staging import FileDigest, HashingWriter, atomic_writer

SHARD_FIELD_TYPES = {
    "shard": pa.string(),
    "filename": pa.string(),
    "offset": pa.int64(),
    "size": pa.int64(),
}
SHARD_INFO_ATTRIBUTES = {"shard": "shard_name"}  # ShardInfo keeps the seed's attribute name
AUX_BATCH_ROWS = 8_192  # rows a batch: bounds memory (65,536 cost ~70 MB more at 4 GB)


def shard_columns(
    samples: list[Sample], locations: dict[str, dict[str, ShardInfo]]
) -> dict[str, pa.Array]:
    """The eight shard columns for `samples`; `locations[kind][sample_id]`, null if absent."""
    columns: dict[str, pa.Array] = {}
    for kind in MEDIA_KINDS:
        found = [locations.get(kind, {}).get(s.sample_id) for s in samples]
        for name in SHARD_FIELDS:
            attr = SHARD_INFO_ATTRIBUTES.get(name, name)
            values = [getattr(info, attr) if info else None for info in found]
            columns[shard_column(kind, name)] = pa.array(values, type=SHARD_FIELD_TYPES[name])
    return columns


def split_table(labels: pa.Table, samples: list[Sample], shard_cols: dict) -> pa.Table:
    """One row per sample of a split, in shard order: label columns then shard columns."""
    rows = labels.take(pa.array([s.row for s in samples], type=pa.int64()))
    for name, column in shard_cols.items():
        rows = rows.append_column(name, column)
    return rows.replace_schema_metadata(None)


def write_table(table: pa.Table, path: Path) -> FileDigest:
    """Write a parquet file atomically (no pandas metadata: the bytes depend on the data only)."""
    with atomic_writer(path) as out:
        pq.write_table(table, out, compression="zstd", row_group_size=10_000)
    return out.digest


def write_auxiliary(
    name: str, source_path: Path, ids_by_split: dict[str, list[str]], out: Path
) -> dict[str, FileDigest]:
    """Split a (possibly huge) per-sample table by its sample_id, one record batch at a time.

    Memory stays bounded by AUX_BATCH_ROWS whatever the table's size. Rows of samples not in
    any split (dropped, unknown) are left out. Returns the files written, by relative path.
    """
    parquet = pq.ParquetFile(source_path)
    schema = parquet.schema_arrow.remove_metadata()
    id_type = schema.field("sample_id").type
    value_sets = {split: pa.array(ids, type=id_type) for split, ids in ids_by_split.items()}
    sinks: dict[str, HashingWriter] = {}
    with ExitStack() as stack:
        writers: dict[str, pq.ParquetWriter] = {}
        for batch in parquet.iter_batches(batch_size=AUX_BATCH_ROWS):
            table = pa.Table.from_batches([batch], schema=schema)
            for split, value_set in value_sets.items():
                part = table.filter(pc.is_in(table.column("sample_id"), value_set=value_set))
                if part.num_rows == 0:
                    continue
                if split not in writers:
                    sinks[split] = stack.enter_context(
                        atomic_writer(out / auxiliary_table_path(name, split))
                    )
                    writers[split] = stack.enter_context(
                        pq.ParquetWriter(sinks[split], schema, compression="zstd")
                    )
                writers[split].write_table(part)
    return {auxiliary_table_path(name, split): sink.digest for split, sink in sinks.items()}
