"""Read and validate a generated SOUSA folder into a `Source`: samples per split, plain data.

Everything that can be wrong with the input is found here, before a byte is written, and
reported with the file, the column and the first offending values. A `Source` holds no label
values and no object per sample: per source row, a few arrays (media paths, sizes, mtimes, the
sample id) and, per split, its rows sorted by key, so its memory is a few tens of bytes a
sample. The label columns are read again, batch by batch, when they are needed
(`Source.label_batches`); the auxiliary tables are streamed by `tables.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard

from .errors import InputError, first_values
from .layout import AUDIO_PROPERTY_COLUMNS, AUXILIARY_TABLES, MEDIA_KINDS, SHARD_COLUMNS, SPLITS
from .media import sample_keys, stat_media
from .media_check import BadMedia, bad_media_lines
from .source_columns import (
    LabelColumns,
    Media,
    Sample,
    SplitSamples,
    append_exercises,
    check_media_columns,
)
from .splits import Unassigned, assign_splits, read_splits

PATH_COLUMNS = ("audio_path", "midi_path")
STAGING_DEFAULT_NAME = "hf_staging"
LABEL_BATCH_ROWS = 4096  # label rows read (and turned into Python values) at a time


@dataclass
class Source:
    """A validated source folder: per-row media columns, each split's rows, the label schema."""

    root: Path
    label_schema: pa.Schema  # the label columns: the samples table's (no media paths) + exercises'
    media: Media
    split_rows: dict[str, np.ndarray]  # every split name → its source rows, sorted by key
    auxiliary: dict[str, Path]  # strokes/measures tables that exist
    readme: str | None
    labels: LabelColumns
    missing: list[str] = field(default_factory=list)  # media paths allowed to be missing
    dropped: list[str] = field(default_factory=list)  # sample ids of unassigned profiles dropped
    bad_media: list[BadMedia] = field(default_factory=list)  # --skip-bad-media: labels-only
    input_files: list[Path] = field(default_factory=list)  # tables, splits.json, README

    @property
    def splits(self) -> dict[str, SplitSamples]:
        return {
            name: SplitSamples(name, rows, self.media) for name, rows in self.split_rows.items()
        }

    @property
    def samples(self) -> list[Sample]:
        return [s for split in SPLITS for s in self.splits[split]]

    def num_samples_of(self, split: str) -> int:
        return len(self.split_rows[split])

    def sample_ids(self, split: str) -> pa.Array:
        """The sample ids of `split`, in key order."""
        return self.media.sample_ids.take(pa.array(self.split_rows[split]))

    @property
    def num_samples(self) -> int:
        return sum(len(rows) for rows in self.split_rows.values())

    def media_count(self, kind: str) -> int:
        """Samples (of any split) whose `kind` file is packaged."""
        return sum(
            int((self.media.sizes[kind][rows] >= 0).sum()) for rows in self.split_rows.values()
        )

    def labels_only_count(self) -> int:
        """Samples (of any split) with neither audio nor MIDI packaged."""
        audio, midi = (self.media.sizes[kind] for kind in MEDIA_KINDS)
        return sum(
            int(((audio[rows] < 0) & (midi[rows] < 0)).sum()) for rows in self.split_rows.values()
        )

    def label_batches(self, rows: int | None = None) -> Iterator[tuple[int, pa.Table]]:
        """(first source row, label rows) of every source row, in row order, a batch at a time."""
        return self.labels.batches(rows or LABEL_BATCH_ROWS)

    def fingerprint(self, options: dict) -> str:
        """A digest of every input (path, size, mtime) and the options: equal ⇒ same output."""
        h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
        for path in self.input_files:
            st = path.stat()
            h.update(f"{path.relative_to(self.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        for split in SPLITS:
            rows = self.split_rows[split]
            for start in range(0, len(rows), SplitSamples.BATCH):
                batch = rows[start : start + SplitSamples.BATCH]
                columns = []
                for kind in MEDIA_KINDS:
                    paths = self.media.paths[kind].take(pa.array(batch)).to_pylist()
                    sizes = self.media.sizes[kind][batch].tolist()
                    mtimes = self.media.mtimes[kind][batch].tolist()
                    columns.append(zip(paths, sizes, mtimes))
                for row in zip(*columns):
                    for relpath, size, mtime in row:
                        if size >= 0:
                            h.update(f"{relpath}\0{size}\0{mtime}\n".encode())
        for bad in self.bad_media:  # --verify-audio finds more: it is no option of the key
            h.update(f"bad\0{bad.relpath}\n".encode())
        return h.hexdigest()


def read_source(
    root: Path,
    *,
    include_audio: bool = True,
    include_midi: bool = True,
    unassigned: Unassigned = "error",
    allow_missing: bool = False,
    verify_audio: bool = False,
    skip_bad_media: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> Source:
    """Read `root`'s sample ids, media paths and splits, check every rule, stat every media file
    once. Reads only the columns it checks; the label values stay on disk.

    Every media file's head is checked (`media_check`; with `verify_audio` every FLAC is
    decoded whole, in `workers` threads). A bad file is bad input, unless `skip_bad_media`:
    then its sample is labels-only (no audio, no MIDI) and listed in `Source.bad_media`.
    The audio properties read from STREAMINFO become label columns (AUDIO_PROPERTY_COLUMNS).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    samples_path = root / "labels" / "samples.parquet"
    table, schema = _read_table(
        samples_path, required=("sample_id", "profile_id"), only=PATH_COLUMNS
    )
    if not any(c in table.column_names for c in PATH_COLUMNS):
        raise InputError(f"{samples_path}: needs an 'audio_path' or 'midi_path' column")
    _check_no_reserved_columns(schema, samples_path)
    id_column = _string_array(table, "sample_id", samples_path)
    profiles = _string_array(table, "profile_id", samples_path)
    _check_unique_array(id_column, "sample_id", samples_path)
    sample_ids = id_column.to_pylist()
    input_files = [samples_path]
    label_columns = [n for n in schema.names if n not in PATH_COLUMNS]
    labels = LabelColumns(samples_path, label_columns)
    label_schema = pa.schema([schema.field(n) for n in label_columns], metadata=schema.metadata)

    exercises_path = root / "labels" / "exercises.parquet"
    if exercises_path.exists():
        _check_no_reserved_columns(pq.read_schema(exercises_path), exercises_path)
        labels, label_schema = _merge_exercises(
            labels, label_schema, schema, id_column, exercises_path
        )
        input_files.append(exercises_path)

    splits_path = root / "splits.json"
    split_of_profile = read_splits(splits_path)
    input_files.append(splits_path)
    split_code, dropped = _assign_splits(sample_ids, profiles, split_of_profile, unassigned)
    del profiles

    audio_paths = _optional_strings(table, "audio_path", samples_path)
    midi_paths = _optional_strings(table, "midi_path", samples_path)
    keys = sample_keys(audio_paths, midi_paths, sample_ids, samples_path)
    missing: list[str] = []
    media = Media(
        id_column,
        {
            "audio": pa.array(audio_paths, type=pa.string()),
            "midi": pa.array(midi_paths, type=pa.string()),
        },
        {},
        {},
    )
    for kind, paths, include in (
        ("audio", audio_paths, include_audio),
        ("midi", midi_paths, include_midi),
    ):
        files = stat_media(root, paths, f"{kind}_path", include, missing)
        media.sizes[kind] = np.array([f.size if f else -1 for f in files], dtype=np.int64)
        media.mtimes[kind] = np.array([f.mtime_ns if f else 0 for f in files], dtype=np.int64)
        del files
    del table, audio_paths, midi_paths
    if missing and not allow_missing:
        raise InputError(
            f"{len(missing)} media file(s) named in {samples_path} are missing: "
            f"{first_values(missing)} (use --allow-missing to package without them)"
        )

    properties, bad = check_media_columns(
        root, media, sample_ids, verify_audio=verify_audio, workers=workers, progress=progress
    )
    if bad and not skip_bad_media:
        raise InputError(
            "\n".join(
                [
                    f"{len(bad)} media file(s) named in {samples_path} are empty, truncated "
                    "or not what their extension says (--skip-bad-media packages their "
                    "samples as labels-only):",
                    *bad_media_lines(bad),
                ]
            )
        )
    for b in bad:
        for kind in MEDIA_KINDS:
            media.sizes[kind][b.row] = -1

    split_rows: dict[str, np.ndarray] = {}
    for split in SPLITS:
        rows = np.flatnonzero(split_code == SPLITS.index(split)).tolist()
        rows.sort(key=keys.__getitem__)
        _check_unique_keys([(keys[r], sample_ids[r]) for r in rows], split, samples_path)
        split_rows[split] = np.array(rows, dtype=np.int64)
    del keys, sample_ids, split_code

    _check_label_types(label_schema, samples_path)
    labels = replace(labels, extra=properties)
    label_schema = pa.schema(
        [*label_schema, *(pa.field(n, c.type) for n, c in properties.items())],
        metadata=label_schema.metadata,
    )
    auxiliary = {
        name: root / "labels" / f"{name}.parquet"
        for name in AUXILIARY_TABLES
        if (root / "labels" / f"{name}.parquet").exists()
    }
    for path in auxiliary.values():
        _check_columns(pq.read_schema(path), ("sample_id",), path)
    input_files += list(auxiliary.values())
    readme = _read_readme(root / "README.md")
    if readme is not None:
        input_files.append(root / "README.md")
    return Source(
        root, label_schema, media, split_rows, auxiliary, readme, labels, missing, dropped,
        bad, input_files,
    )  # fmt: skip


def _read_readme(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not readable as UTF-8 text ({e})") from e
    try:  # its YAML goes into the card: a broken header must stop us before anything is written
        DatasetCard(text)
    except Exception as e:  # yaml errors, and huggingface_hub's own metadata checks
        raise InputError(f"{path}: its YAML front matter does not parse ({e})") from e
    return text


# -- tables ------------------------------------------------------------------------------


def _read_table(
    path: Path, required: tuple[str, ...], only: tuple[str, ...] = ()
) -> tuple[pa.Table, pa.Schema]:
    """The `required` and `only` columns of a parquet file, and the whole file's schema."""
    if not path.exists():
        raise InputError(f"{path}: required file is missing")
    try:  # ParquetFile, not read_table: that loads pyarrow.dataset (~40 MB) for one small file
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
        _check_columns(schema, required, path)
        table = parquet.read(columns=[n for n in schema.names if n in required + only])
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"{path}: not a readable parquet file ({e})") from e
    return table, schema


def _check_columns(schema: pa.Schema, required: tuple[str, ...], path: Path) -> None:
    absent = [c for c in required if c not in schema.names]
    if absent:
        raise InputError(f"{path}: missing column(s) {first_values(absent)}")


def _check_no_reserved_columns(schema: pa.Schema, path: Path) -> None:
    """The split tables add the shard and audio-property columns: a label may not take them."""
    taken = [name for name in (*SHARD_COLUMNS, *AUDIO_PROPERTY_COLUMNS) if name in schema.names]
    if taken:
        raise InputError(
            f"{path}: column(s) {first_values(taken)} are names the split tables give to "
            "where each sample's media are and what its audio is: rename them"
        )


def _string_column(table: pa.Table, name: str, path: Path) -> list[str]:
    """A required non-null column, as Python strings."""
    column = table.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InputError(f"{path}: column '{name}' must be strings, got {column.type}")
    values = column.to_pylist()
    nulls = [i for i, v in enumerate(values) if v is None or v == ""]
    if nulls:
        raise InputError(f"{path}: column '{name}' is empty in row(s) {first_values(nulls)}")
    return values


def _optional_strings(table: pa.Table, name: str, path: Path) -> list[str | None]:
    if name not in table.column_names:
        return [None] * table.num_rows
    column = table.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        if column.null_count != len(column):
            raise InputError(f"{path}: column '{name}' must be strings, got {column.type}")
        return [None] * table.num_rows
    return [v or None for v in column.to_pylist()]


def _check_label_types(schema: pa.Schema, path: Path) -> None:
    """Every label column must have a type the labels-JSON rule carries (README's table):
    a map, union or view type would package, then fail to load natively and in `sousa.load`."""
    bad = [f"{f.name} ({f.type})" for f in schema if not _json_carries(f.type)]
    if bad:
        raise InputError(
            f"{path}: label column(s) of a type the labels JSON cannot carry: "
            f"{first_values(bad)} (numbers, bool, strings, temporal, decimal, binary, "
            "dictionary, list and struct can be carried: convert the column to one of them)"
        )


def _json_carries(t: pa.DataType) -> bool:
    is_ = pa.types
    if is_.is_dictionary(t):
        return _json_carries(t.value_type)
    if is_.is_struct(t):
        return all(_json_carries(f.type) for f in t)
    if is_.is_list(t) or is_.is_large_list(t) or is_.is_fixed_size_list(t):
        return _json_carries(t.value_type)
    simple = (is_.is_integer, is_.is_floating, is_.is_boolean, is_.is_null, is_.is_decimal)
    simple += (is_.is_string, is_.is_large_string, is_.is_binary, is_.is_large_binary)
    simple += (is_.is_fixed_size_binary, is_.is_timestamp, is_.is_date, is_.is_time)
    return any(check(t) for check in (*simple, is_.is_duration))


def _string_array(table: pa.Table, name: str, path: Path) -> pa.Array:
    """A required non-null column, as one Arrow array (`_string_column` names a bad row)."""
    column = table.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        _string_column(table, name, path)
    if column.null_count or pc.any(pc.equal(column, "")).as_py():
        _string_column(table, name, path)
    return column.combine_chunks()


def _check_unique_array(values: pa.Array, name: str, path: Path) -> None:
    """`_check_unique` with Arrow: Python values are made only when there is a repeat to name."""
    if pc.count_distinct(values).as_py() != len(values):
        _check_unique(values.to_pylist(), name, path)


def _assign_splits(
    sample_ids: list[str], profiles: pa.Array, split_of_profile: dict, unassigned: Unassigned
) -> tuple[np.ndarray, list[str]]:
    """`splits.assign_splits`, asked once a profile: each row's index in SPLITS (-1: dropped)."""
    encoded = profiles.dictionary_encode()
    uniques = encoded.dictionary.to_pylist()
    split_of_unique, _ = assign_splits(uniques, uniques, split_of_profile, unassigned)
    codes = np.array([SPLITS.index(s) if s else -1 for s in split_of_unique], dtype=np.int8)
    split_code = codes[encoded.indices.to_numpy()]
    dropped = [sample_ids[r] for r in np.flatnonzero(split_code < 0).tolist()]
    return split_code, dropped


def _check_unique(values: list[str], name: str, path: Path) -> None:
    first_row: dict[str, int] = {}
    for row, value in enumerate(values):
        if value in first_row:
            raise InputError(
                f"{path}: {name} {value!r} repeats (rows {first_row[value]} and {row})"
            )
        first_row[value] = row


def _merge_exercises(
    labels: LabelColumns,
    schema: pa.Schema,
    sample_schema: pa.Schema,
    sample_ids: pa.Array,
    path: Path,
) -> tuple[LabelColumns, pa.Schema]:
    """Left-join exercises on sample_id, keeping the samples' row order and every column:
    the row of each sample in the exercises table, and the joined label schema."""
    exercises, exercise_schema = _read_table(path, required=("sample_id",))
    exercise_ids = _string_array(exercises, "sample_id", path)
    _check_unique_array(exercise_ids, "sample_id", path)
    found = pc.index_in(sample_ids, value_set=exercise_ids.cast(sample_ids.type))
    rows = pc.fill_null(found, -1).to_numpy().astype(np.int64)
    names = [n for n in exercise_schema.names if n != "sample_id"]
    reserved = tuple(n for n in PATH_COLUMNS if n in sample_schema.names)
    picked = exercise_schema.empty_table().select(names)
    empty = append_exercises(schema.empty_table(), picked, reserved)
    labels = LabelColumns(labels.samples_path, labels.columns, path, rows, reserved)
    return labels, empty.schema


def _check_unique_keys(keyed: list[tuple[str, str]], split: str, path: Path) -> None:
    """`keyed`: (key, sample_id) of a split's samples, sorted by key."""
    for (key, a), (other, b) in zip(keyed, keyed[1:]):
        if key == other:
            raise InputError(
                f"{path}: samples {a!r} and {b!r} of split '{split}' would "
                f"both be stored as member {key!r} (their media files share a file name)"
            )
