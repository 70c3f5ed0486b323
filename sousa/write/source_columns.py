"""A source folder as columns: its media per source row, its samples made on demand, and its
label columns read back batch by batch (the exercises joined per batch).

`source.read_source` builds these; they hold a few numbers and strings a row, never the label
values or an object per sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..layout import MEDIA_KINDS
from .media import MediaFile, MediaStat, key_error, sample_keys
from .media_check import BadMedia, HeadChecks, audio_property_columns, check_media, verify_bar

CHECK_BATCH = 4096  # source rows whose media are checked at a time
SCAN_BATCH = 4096  # source rows whose keys are made and media stat'ed at a time


@dataclass(frozen=True, slots=True)
class Sample:
    """A sample as the shard and table writers need it (made on demand from `Source`)."""

    sample_id: str
    split: str
    key: str  # WebDataset key: the member names are f"{key}.flac", f"{key}.json", f"{key}.mid"
    row: int  # row of the source's label table
    audio: MediaFile | None
    midi: MediaFile | None


@dataclass(frozen=True, eq=False)
class Media:
    """Every source row's media, as columns: `paths[kind]` is the path named in the table
    (null if none), `sizes[kind]` the file's size, or -1 when it is not packaged (absent,
    missing, or its kind left out), `mtimes[kind]` its mtime (ns); `key_column` each row's
    WebDataset key (`media.sample_keys`), derived once."""

    sample_ids: pa.Array
    paths: dict[str, pa.Array]
    sizes: dict[str, np.ndarray]
    mtimes: dict[str, np.ndarray]
    key_column: pa.Array

    def keys(self, rows: np.ndarray) -> list[str]:
        """The WebDataset keys of `rows`."""
        return self.key_column.take(pa.array(rows, type=pa.int64())).to_pylist()

    def files(self, kind: str, rows: np.ndarray) -> list[MediaFile | None]:
        """The packaged `kind` file of each of `rows`, or None."""
        paths = self.paths[kind].take(pa.array(rows, type=pa.int64())).to_pylist()
        sizes, mtimes = self.sizes[kind][rows].tolist(), self.mtimes[kind][rows].tolist()
        return [
            MediaFile(p, size, mtime) if size >= 0 else None
            for p, size, mtime in zip(paths, sizes, mtimes)
        ]


def scan_media(
    root: Path,
    sample_ids: pa.Array,
    paths: dict[str, pa.Array],
    include: dict[str, bool],
    table_path: Path,
) -> tuple[Media, list[str]]:
    """Every row's key and one stat of each of its media files, `SCAN_BATCH` rows at a time
    (no Python value of all rows at once), and the media files missing (audio's, then MIDI's).

    Raises, after the pass, for the first of: keys that cannot be WebDataset keys, unsafe
    audio paths, unsafe MIDI paths (each error names its first offending values).
    """
    stats = {kind: MediaStat(root, f"{kind}_path", include[kind]) for kind in MEDIA_KINDS}
    sizes = {kind: np.empty(len(sample_ids), dtype=np.int64) for kind in MEDIA_KINDS}
    mtimes = {kind: np.empty(len(sample_ids), dtype=np.int64) for kind in MEDIA_KINDS}
    keys: list[pa.Array] = [pa.array([], type=pa.string())]
    bad_keys: list[str] = []
    for start in range(0, len(sample_ids), SCAN_BATCH):
        stop = min(start + SCAN_BATCH, len(sample_ids))
        batch = {kind: paths[kind][start:stop].to_pylist() for kind in MEDIA_KINDS}
        ids = sample_ids[start:stop].to_pylist()
        keys.append(pa.array(sample_keys(*batch.values(), ids, bad_keys), type=pa.string()))
        for kind in MEDIA_KINDS:
            sizes[kind][start:stop], mtimes[kind][start:stop] = stats[kind].stat(batch[kind])
    if bad_keys:
        raise key_error(bad_keys, table_path)
    for kind in MEDIA_KINDS:
        stats[kind].check()
    media = Media(sample_ids, paths, sizes, mtimes, pa.concat_arrays(keys))
    return media, [p for kind in MEDIA_KINDS for p in stats[kind].missing]


class SplitSamples:
    """The samples of one split, sorted by key, made into `Sample`s only while iterated."""

    BATCH = 1024

    def __init__(self, name: str, rows: np.ndarray, media: Media) -> None:
        self.name, self.rows, self._media = name, rows, media

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Sample]:
        for start in range(0, len(self.rows), self.BATCH):
            rows = self.rows[start : start + self.BATCH]
            ids = self._media.sample_ids.take(pa.array(rows, type=pa.int64())).to_pylist()
            keys = self._media.keys(rows)
            audio, midi = (self._media.files(kind, rows) for kind in MEDIA_KINDS)
            yield from map(Sample, ids, [self.name] * len(rows), keys, rows.tolist(), audio, midi)


@dataclass(frozen=True, eq=False)
class LabelColumns:
    """Where the label columns are read from: the samples table without its media paths, then
    the exercises table's columns joined on sample_id (`exercise_rows`: its row for each
    samples row, -1 if none), then the `extra` columns (one value per samples row: the audio
    properties) sliced per batch."""

    samples_path: Path
    columns: list[str]
    exercises_path: Path | None = None
    exercise_rows: np.ndarray | None = None
    reserved: tuple[str, ...] = ()  # the media path columns the samples table has
    extra: dict[str, pa.Array] = field(default_factory=dict)

    def batches(self, rows: int) -> Iterator[tuple[int, pa.Table]]:
        start = 0
        exercises = _ExerciseRows(self.exercises_path) if self.exercises_path else None
        for batch in pq.ParquetFile(self.samples_path).iter_batches(rows, columns=self.columns):
            table = pa.Table.from_batches([batch])
            if exercises is not None:
                wanted = self.exercise_rows[start : start + table.num_rows]
                table = append_exercises(table, exercises.take(wanted), self.reserved)
            for name, column in self.extra.items():
                table = table.append_column(name, column.slice(start, table.num_rows))
            yield start, table
            start += table.num_rows


class _ExerciseRows:
    """Rows of the exercises table by number, reading only the row groups that hold them."""

    def __init__(self, path: Path) -> None:
        self._file = pq.ParquetFile(path)
        names = [n for n in self._file.schema_arrow.names if n != "sample_id"]
        self._columns = names
        counts = [
            self._file.metadata.row_group(i).num_rows for i in range(self._file.num_row_groups)
        ]
        self._starts = np.cumsum([0, *counts])
        self._loaded: tuple[list[int], pa.Table] | None = None

    def take(self, rows: np.ndarray) -> pa.Table:
        present = rows >= 0
        groups = np.searchsorted(self._starts, rows[present], side="right") - 1
        needed = sorted(set(groups.tolist()))
        if self._loaded is None or self._loaded[0] != needed:
            self._loaded = (needed, self._file.read_row_groups(needed, columns=self._columns))
        first = np.zeros(len(self._starts), dtype=np.int64)  # each group's first loaded row
        if needed:
            sizes = np.diff(self._starts)[needed]
            first[needed] = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        positions = np.zeros(len(rows), dtype=np.int64)
        positions[present] = rows[present] - self._starts[groups] + first[groups]
        return self._loaded[1].take(pa.array(positions, mask=~present))


def append_exercises(table: pa.Table, picked: pa.Table, reserved: tuple[str, ...]) -> pa.Table:
    """The exercises' columns after the samples', renamed `{name}_exercise` on a clash with a
    column before it (the media path columns, `reserved`, count though they are not labels)."""
    for name, column in zip(picked.column_names, picked.columns):
        clash = name in table.column_names or name in reserved
        out_name = f"{name}_exercise" if clash else name
        table = table.append_column(out_name, column)
    return table


def check_media_columns(
    root: Path,
    media: Media,
    *,
    verify_audio: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> tuple[dict[str, pa.Array], list[BadMedia]]:
    """`media_check.check_media` on every row's packaged media, `CHECK_BATCH` rows at a time
    (one progress bar for all): the audio property columns (one value per source row, null
    without good audio) and the bad files, in row order."""
    bad: list[BadMedia] = []
    parts: list[dict[str, pa.Array]] = [audio_property_columns([])]
    with verify_bar(progress and verify_audio) as bar, HeadChecks(workers) as heads:
        for start in range(0, len(media.sample_ids), CHECK_BATCH):
            stop = min(start + CHECK_BATCH, len(media.sample_ids))
            rows = np.arange(start, stop, dtype=np.int64)
            infos, found = check_media(
                root, media.files("audio", rows), media.files("midi", rows),
                media.sample_ids[start:stop].to_pylist(), verify_audio=verify_audio,
                workers=workers, bar=bar, heads=heads,
            )  # fmt: skip
            bad += [replace(b, row=b.row + start) for b in found]
            parts.append(audio_property_columns(infos))
    columns = {name: pa.concat_arrays([p[name] for p in parts]) for name in parts[0]}
    return columns, bad
