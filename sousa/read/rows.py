"""Lazy rows of a split table: `TableRows` (rows by position, read when asked, the last row
group kept for the next shard) and `RowsByName` (a shard's rows as dicts, a batch at a time).

What `sousa.load`'s builder (`sousa.read.package_builder`) holds per shard job until the
shard is reached: a few integers a row. Public pyarrow only; not staged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .builder import open_file

__all__ = ["RowsByName", "TableRows"]


@dataclass(frozen=True)
class TableRows:
    """Rows of a parquet split table, by position: read when asked, not before.

    `indices` (ascending) are row numbers of the table at `path` (a local path or a URL,
    opened with `download_config`); `read` reads only the row groups holding them, and only
    `columns`."""

    path: str
    indices: Any  # numpy int64 array, ascending
    download_config: Any = None
    version: str = ""  # the table's sha256 (manifest): what the cache is keyed by, with path

    def read(self, columns: list[str]) -> pa.Table:
        """The rows, in `indices` order, with `columns`. The row groups holding them are read
        one at a time (one thread), each kept only for its rows, so at most one row group is
        in memory beside the rows. The last one read stays cached (one process-wide entry):
        the next shard, which usually starts in it, does not read it again."""
        key = (self.path, self.version, tuple(columns))
        cached = _ROW_GROUPS.get(key)
        sizes = cached["sizes"] if cached else None
        if sizes is None or self._groups(sizes) != [cached.get("group")]:
            with open_file(self.path, self.download_config) as f:
                return self._read(pq.ParquetFile(f), key, columns)
        return self._read(None, key, columns)

    def _read(self, parquet: pq.ParquetFile | None, key: tuple, columns: list[str]) -> pa.Table:
        cached = _ROW_GROUPS.get(key) or {}
        if parquet is not None:
            meta = parquet.metadata
            cached["sizes"] = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        sizes = cached["sizes"]
        starts = np.cumsum([0, *sizes])
        group_of = np.searchsorted(starts, self.indices, side="right") - 1
        parts = []
        for group in self._groups(sizes):
            if cached.get("group") != group:
                table = parquet.read_row_group(group, columns=columns, use_threads=False)
                cached.update(group=group, table=table)
            rows = self.indices[group_of == group] - starts[group]
            parts.append(cached["table"].take(pa.array(rows)))
        _ROW_GROUPS.clear()
        _ROW_GROUPS[key] = cached
        return pa.concat_tables(parts) if parts else pa.table({c: [] for c in columns})

    def _groups(self, sizes: list[int]) -> list[int]:
        """The row groups (ascending) holding `indices`, for row groups of `sizes` rows."""
        starts = np.cumsum([0, *sizes])
        return np.unique(np.searchsorted(starts, self.indices, side="right") - 1).tolist()


_ROW_GROUPS: dict = {}  # TableRows.read's cache: {(path, version, columns): {sizes, group, table}}


class RowsByName:
    """A shard's rows by member name (`key` column), made into dicts a batch of rows at a
    time when first asked for: a shard of tens of thousands of samples is held as Arrow
    columns, not as a dict a row. Asked in table order (as a shard streams), each row is
    converted once."""

    BATCH = 256

    def __init__(self, table: pa.Table, key: str):
        self._table = table
        self._index = {name: i for i, name in enumerate(table.column(key).to_pylist())}
        self._start, self._rows = 0, []

    def __getitem__(self, name: str) -> dict:
        i = self._index[name]
        if not self._start <= i < self._start + len(self._rows):
            self._start = i
            self._rows = self._table.slice(i, self.BATCH).to_pylist()
        return self._rows[i - self._start]

    def __contains__(self, name) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)
