"""The label tables, typed as the generator's pandas 3 writes them, written with pyarrow.

The generator builds each table with ``pa.Table.from_pandas(pd.DataFrame(records))``, so its
Arrow types are pandas 3's inference: strings → ``large_string``, ints → ``int64`` (or
``double`` when a value is missing), floats → ``double`` with NaN as null, bools → ``bool``,
and a column with no value at all → ``null``. `infer_array` applies that rule to Python values
(the per-sample tables, built in memory); the per-stroke and per-measure tables are streamed, so
their schema is worked out first, from the grids the demo will play (which values can be
missing depends on the grid alone). Parquet as the generator writes it: snappy, 1,000-row row
groups. No pandas metadata: the bytes depend on the data only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .labels import measure_columns, stroke_columns
from .performance import Grid, Performance

COMPRESSION = "snappy"
ROW_GROUP_ROWS = 1_000


def infer_array(values: list) -> pa.Array:
    """A column of Python values (None = missing) typed as pandas 3 + from_pandas would."""
    present = [v for v in values if v is not None]
    if not present:
        return pa.nulls(len(values))
    if isinstance(present[0], str):
        return pa.array(values, pa.large_string())
    if isinstance(present[0], bool):
        return pa.array(values, pa.bool_())
    if isinstance(present[0], int) and len(present) == len(values):
        return pa.array(values, pa.int64())
    floats = [math.nan if v is None else float(v) for v in values]
    return pa.array(floats, pa.float64(), from_pandas=True)


def records_table(records: list[dict]) -> pa.Table:
    """Records with the same keys → a table, columns in key order."""
    names = list(records[0])
    return pa.table({name: infer_array([r[name] for r in records]) for name in names})


def write_table(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS)


def _field(name: str, values: object, has_value: bool) -> pa.Field:
    if isinstance(values, tuple):  # (codes, labels)
        return pa.field(name, pa.large_string())
    kind = np.asarray(values).dtype.kind
    if kind == "b":
        return pa.field(name, pa.bool_())
    if kind in "iu":
        return pa.field(name, pa.int64())
    return pa.field(name, pa.float64() if has_value else pa.null())


def label_schema(columns, grids: list[Grid]) -> pa.Schema:
    """The schema of `columns(performance)` over every grid, then sample_id (as the generator)."""
    dry = [
        columns(Performance(g, g.intended_ms, g.kind * 0 + 80, g.kind * 0 + 80, 0.0)) for g in grids
    ]
    fields = []
    for name, values in dry[0].items():
        has_value = any(
            not isinstance(d[name], tuple) and not np.isnan(np.asarray(d[name], float)).all()
            for d in dry
        )
        fields.append(_field(name, values, has_value))
    return pa.schema([*fields, pa.field("sample_id", pa.large_string())])


def stroke_schema(grids: list[Grid]) -> pa.Schema:
    return label_schema(stroke_columns, grids)


def measure_schema(grids: list[Grid]) -> pa.Schema:
    return label_schema(measure_columns, grids)


class LabelWriter:
    """Streams per-sample column arrays into one parquet file in 1,000-row row groups.

    Arrays are collected per column and turned into Arrow once per batch of rows: per-sample
    Arrow tables would cost more than the labels themselves.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema = schema
        self.writer = pq.ParquetWriter(path, schema, compression=COMPRESSION)
        self.names = [f.name for f in schema if f.name != "sample_id"]
        self.columns: dict[str, list] = {name: [] for name in self.names}
        self.labels: dict[str, tuple[str, ...]] = {}
        self.ids: list[str] = []
        self.lengths: list[int] = []
        self.rest = schema.empty_table()  # rows short of a whole row group, kept for the next

    def add(self, sample_id: str, columns: dict[str, object]) -> None:
        self.ids.append(sample_id)
        self.lengths.append(len(columns["index"]))
        for name in self.names:
            values = columns[name]
            if isinstance(values, tuple):  # string column as (codes, labels)
                values, self.labels[name] = values
            self.columns[name].append(values)
        if sum(self.lengths) >= 8 * ROW_GROUP_ROWS:
            self._flush(final=False)

    def _batch(self) -> pa.Table:
        n = sum(self.lengths)
        arrays = []
        for field in self.schema:
            if field.name == "sample_id":
                ids = pa.array(self.ids, field.type)
                arrays.append(
                    pc.take(ids, pa.array(np.repeat(np.arange(len(self.ids)), self.lengths)))
                )
            elif pa.types.is_null(field.type):
                arrays.append(pa.nulls(n))
            elif field.name in self.labels:
                codes = np.concatenate(self.columns[field.name])
                arrays.append(pc.take(pa.array(self.labels[field.name], field.type), codes))
            else:
                arrays.append(
                    pa.array(np.concatenate(self.columns[field.name]), field.type, from_pandas=True)
                )
        self.ids, self.lengths = [], []
        self.columns = {name: [] for name in self.names}
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _flush(self, final: bool) -> None:
        table = pa.concat_tables([self.rest, self._batch()]) if self.ids else self.rest
        cut = table.num_rows if final else table.num_rows // ROW_GROUP_ROWS * ROW_GROUP_ROWS
        if cut:
            self.writer.write_table(table.slice(0, cut), row_group_size=ROW_GROUP_ROWS)
        self.rest = table.slice(cut)

    def close(self) -> None:
        self._flush(final=True)
        self.writer.close()
