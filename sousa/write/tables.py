"""Parquet tables: the split tables (labels + shard columns) and the auxiliary tables.

The shard columns are the one index shared by the writer, the builder, `fetch` and the
checks: `{kind}_shard` (shard file name inside the `{kind}/` folder), `{kind}_filename`
(member name), `{kind}_offset` and `{kind}_size` (the member's data bytes in the shard).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..layout import (
    MEDIA_KINDS,
    MEMBER_EXTENSIONS,
    SHARD_FIELDS,
    auxiliary_table_path,
    shard_column,
)
from .staging import FileDigest, HashingWriter, atomic_writer

if TYPE_CHECKING:
    from .source import Media, Source

SHARD_FIELD_TYPES = {
    "shard": pa.string(),
    "filename": pa.string(),
    "offset": pa.int64(),
    "size": pa.int64(),
}
AUX_BATCH_ROWS = 8_192  # rows a batch: bounds memory (65,536 cost ~70 MB more at 4 GB)
TABLE_ROW_GROUP = 10_000  # rows a row group of a split table; also the rows held at a time
POSITION = "__position"  # the spilled rows' place in their split table (never written)


class ShardLocations:
    """Where each sample of a split (by its position in shard order) has its media member:
    the shard, the member's data offset and size; -1 where it has none."""

    def __init__(self, rows: np.ndarray, media: Media) -> None:
        self.rows, self.media = rows, media
        self.names: dict[str, list[str]] = {kind: [] for kind in MEDIA_KINDS}
        self.shard = {kind: np.full(len(rows), -1, dtype=np.int32) for kind in MEDIA_KINDS}
        self.offset = {kind: np.full(len(rows), -1, dtype=np.int64) for kind in MEDIA_KINDS}

    def add(self, kind: str, shard_name: str, positions: np.ndarray, offsets: np.ndarray) -> None:
        """The samples at `positions` are in shard `shard_name`, their media at `offsets`."""
        self.shard[kind][positions] = len(self.names[kind])
        self.offset[kind][positions] = offsets
        self.names[kind].append(shard_name)

    def columns(self, start: int, stop: int) -> dict[str, pa.Array]:
        """The eight shard columns of positions `start:stop`; null where a sample has no file."""
        rows = self.rows[start:stop]
        keys = self.media.keys(rows)
        columns: dict[str, pa.Array] = {}
        for kind in MEDIA_KINDS:
            shard = self.shard[kind][start:stop]
            absent = shard < 0
            names = self.names[kind]
            values = {
                "shard": [None if i < 0 else names[i] for i in shard.tolist()],
                "filename": [
                    None if i < 0 else f"{key}.{MEMBER_EXTENSIONS[kind]}"
                    for i, key in zip(shard.tolist(), keys)
                ],
                "offset": pa.array(self.offset[kind][start:stop], mask=absent),
                "size": pa.array(self.media.sizes[kind][rows], mask=absent),
            }
            for name in SHARD_FIELDS:
                columns[shard_column(kind, name)] = pa.array(
                    values[name], type=SHARD_FIELD_TYPES[name]
                )
        return columns


@dataclass(frozen=True, eq=False)
class PlannedTable:
    """A split table to write: one row per sample of a split, in shard order (`rows`, source
    rows), label columns then `columns` (the shard columns, or the copies' paths)."""

    source: Source
    rows: np.ndarray
    columns: ShardLocations | dict[str, pa.Array]

    @property
    def num_rows(self) -> int:
        return len(self.rows)

    @property
    def nbytes(self) -> int:
        """The table's size estimated from above without reading a label value: each label
        file's uncompressed bytes a row (parquet metadata) and the audio-property columns'
        bytes a row, times the rows, plus the extra columns' Arrow size."""
        labels, total = self.source.labels, 0
        for path in filter(None, (labels.samples_path, labels.exercises_path)):
            meta = pq.read_metadata(path)
            size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            total += -(-size * self.num_rows // max(1, meta.num_rows))
        for column in labels.extra.values():
            total += -(-column.nbytes * self.num_rows // max(1, len(column)))
        for start in range(0, self.num_rows, TABLE_ROW_GROUP):
            columns = self.extra_columns(start, min(start + TABLE_ROW_GROUP, self.num_rows))
            total += sum(column.nbytes for column in columns.values())
        return total

    def extra_columns(self, start: int, stop: int) -> dict[str, pa.Array]:
        if isinstance(self.columns, ShardLocations):
            return self.columns.columns(start, stop)
        return {name: column[start:stop] for name, column in self.columns.items()}

    def chunks(self) -> Iterator[pa.Table]:
        """The table, `TABLE_ROW_GROUP` rows at a time, holding no more than that.

        One pass over the label rows spills each wanted row, with its position, to the
        temporary file of its chunk; each chunk is then read back, put in order and given
        its extra columns.
        """
        position = np.full(len(self.source.media.sizes["audio"]), -1, dtype=np.int64)
        position[self.rows] = np.arange(len(self.rows))
        with tempfile.TemporaryDirectory(prefix="sousa-table-") as tmp, ExitStack() as stack:
            spills: dict[int, pa.ipc.RecordBatchFileWriter] = {}
            for start, batch in self.source.label_batches():
                places = position[start : start + batch.num_rows]
                picked = np.flatnonzero(places >= 0)
                if not len(picked):
                    continue
                places = places[picked]
                part = batch.take(picked).append_column(POSITION, pa.array(places))
                chunk_of = places // TABLE_ROW_GROUP
                for chunk in np.unique(chunk_of).tolist():
                    if chunk not in spills:
                        sink = stack.enter_context(pa.OSFile(f"{tmp}/{chunk}.arrow", "wb"))
                        spills[chunk] = stack.enter_context(pa.ipc.new_file(sink, part.schema))
                    spills[chunk].write_table(part.filter(pa.array(chunk_of == chunk)))
            for spill in spills.values():
                spill.close()
            for chunk in range(-(-self.num_rows // TABLE_ROW_GROUP)):
                with pa.OSFile(f"{tmp}/{chunk}.arrow") as f:
                    table = pa.ipc.open_file(f).read_all()
                order = np.argsort(table.column(POSITION).to_numpy())
                table = table.take(order).drop_columns([POSITION])
                start = chunk * TABLE_ROW_GROUP
                for name, column in self.extra_columns(start, start + table.num_rows).items():
                    table = table.append_column(name, column)
                yield table.replace_schema_metadata(None)


def write_table(table: pa.Table | PlannedTable, path: Path) -> FileDigest:
    """Write a parquet file atomically (no pandas metadata: the bytes depend on the data only).

    A `PlannedTable` is written a row group at a time, so its rows are never all in memory.
    """
    with atomic_writer(path) as out:
        if isinstance(table, pa.Table):
            pq.write_table(table, out, compression="zstd", row_group_size=TABLE_ROW_GROUP)
        else:
            with ExitStack() as stack:
                writer = None
                for chunk in table.chunks():
                    if writer is None:
                        writer = stack.enter_context(
                            pq.ParquetWriter(out, chunk.schema, compression="zstd")
                        )
                    writer.write_table(chunk, row_group_size=TABLE_ROW_GROUP)
    return out.digest


def write_auxiliary(
    name: str, source_path: Path, ids_by_split: dict[str, Sequence[str] | pa.Array], out: Path
) -> dict[str, FileDigest]:
    """Split a (possibly huge) per-sample table by its sample_id, one record batch at a time.

    Memory stays bounded by AUX_BATCH_ROWS whatever the table's size. Rows of samples not in
    any split (dropped, unknown) are left out. Returns the files written, by relative path.
    """
    parquet = pq.ParquetFile(source_path)
    schema = parquet.schema_arrow.remove_metadata()
    id_type = schema.field("sample_id").type
    value_sets = {split: pa.array(ids).cast(id_type) for split, ids in ids_by_split.items()}
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
