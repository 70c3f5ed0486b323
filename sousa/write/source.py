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

from ..errors import InputError, first_values
from ..layout import AUXILIARY_TABLES, MANIFEST_PATH, MEDIA_KINDS, SPLITS
from .media_check import BadMedia, bad_media_lines
from .source_checks import (
    check_columns,
    check_fixed_lists_readable,
    check_label_types,
    check_no_reserved_columns,
    check_unique,
    path_array,
    read_readme,
    read_table,
    string_array,
)
from .source_columns import (
    LabelColumns,
    Media,
    Sample,
    SplitSamples,
    append_exercises,
    check_media_columns,
    scan_media,
)
from .splits import Unassigned, assign_splits, read_splits

PATH_COLUMNS = ("audio_path", "midi_path")  # the media path columns of the samples table
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
    once. Reads only the columns it checks, as Arrow; the label values stay on disk, and the
    per-row Python work (keys, stats, head checks) goes a batch of rows at a time.

    Every media file's head is checked (`media_check`; with `verify_audio` every FLAC is
    decoded whole, in `workers` threads). A bad file is bad input, unless `skip_bad_media`:
    then its sample is labels-only (no audio, no MIDI) and listed in `Source.bad_media`.
    The audio properties read from STREAMINFO become label columns (AUDIO_PROPERTY_COLUMNS).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    if (root / MANIFEST_PATH).is_file() and not (root / "labels").is_dir():
        raise InputError(
            f"{root}: this is a staging folder (it has {MANIFEST_PATH}): give the generator's "
            f"output folder, the one holding labels/ and splits.json (perhaps {root.parent})"
        )
    samples_path = root / "labels" / "samples.parquet"
    table, schema = read_table(
        samples_path, required=("sample_id", "profile_id"), only=PATH_COLUMNS
    )
    if not any(c in table.column_names for c in PATH_COLUMNS):
        raise InputError(f"{samples_path}: needs an 'audio_path' or 'midi_path' column")
    check_no_reserved_columns(schema, samples_path)
    sample_ids = string_array(table, "sample_id", samples_path)
    profiles = string_array(table, "profile_id", samples_path)
    check_unique(sample_ids, "sample_id", samples_path)
    input_files = [samples_path]
    label_columns = [n for n in schema.names if n not in PATH_COLUMNS]
    labels = LabelColumns(samples_path, label_columns)
    label_schema = pa.schema([schema.field(n) for n in label_columns], metadata=schema.metadata)

    exercises_path = root / "labels" / "exercises.parquet"
    if exercises_path.exists():
        check_no_reserved_columns(pq.read_schema(exercises_path), exercises_path)
        labels, label_schema = _merge_exercises(
            labels, label_schema, schema, sample_ids, exercises_path
        )
        input_files.append(exercises_path)

    splits_path = root / "splits.json"
    split_of_profile = read_splits(splits_path)
    input_files.append(splits_path)
    split_code, dropped = _assign_splits(sample_ids, profiles, split_of_profile, unassigned)
    del profiles

    paths = {kind: path_array(table, f"{kind}_path", samples_path) for kind in MEDIA_KINDS}
    del table
    include = {"audio": include_audio, "midi": include_midi}
    media, missing = scan_media(root, sample_ids, paths, include, samples_path)
    if missing and not allow_missing:
        raise InputError(
            f"{len(missing)} media file(s) named in {samples_path} are missing: "
            f"{first_values(missing)} (use --allow-missing to package without them)"
        )

    properties, bad = check_media_columns(
        root, media, verify_audio=verify_audio, workers=workers, progress=progress
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

    split_rows = {
        split: _rows_by_key(media, split_code == i, split, samples_path)
        for i, split in enumerate(SPLITS)
    }
    del split_code

    check_label_types(label_schema, samples_path)
    for path in (samples_path, labels.exercises_path):
        check_fixed_lists_readable(path)
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
        check_columns(pq.read_schema(path), ("sample_id",), path)
    input_files += list(auxiliary.values())
    readme = read_readme(root / "README.md")
    if readme is not None:
        input_files.append(root / "README.md")
    return Source(
        root, label_schema, media, split_rows, auxiliary, readme, labels, missing, dropped,
        bad, input_files,
    )  # fmt: skip


def _assign_splits(
    sample_ids: pa.Array, profiles: pa.Array, split_of_profile: dict, unassigned: Unassigned
) -> tuple[np.ndarray, list[str]]:
    """`splits.assign_splits`, asked once a profile: each row's index in SPLITS (-1: dropped)."""
    encoded = profiles.dictionary_encode()
    uniques = encoded.dictionary.to_pylist()
    split_of_unique, _ = assign_splits(uniques, uniques, split_of_profile, unassigned)
    codes = np.array([SPLITS.index(s) if s else -1 for s in split_of_unique], dtype=np.int8)
    split_code = codes[encoded.indices.to_numpy()]
    dropped = sample_ids.filter(pa.array(split_code < 0)).to_pylist()
    return split_code, dropped


def _merge_exercises(
    labels: LabelColumns,
    schema: pa.Schema,
    sample_schema: pa.Schema,
    sample_ids: pa.Array,
    path: Path,
) -> tuple[LabelColumns, pa.Schema]:
    """Left-join exercises on sample_id, keeping the samples' row order and every column:
    the row of each sample in the exercises table, and the joined label schema."""
    exercises, exercise_schema = read_table(path, required=("sample_id",))
    exercise_ids = string_array(exercises, "sample_id", path)
    check_unique(exercise_ids, "sample_id", path)
    found = pc.index_in(sample_ids, value_set=exercise_ids.cast(sample_ids.type))
    rows = pc.fill_null(found, -1).to_numpy().astype(np.int64)
    names = [n for n in exercise_schema.names if n != "sample_id"]
    reserved = tuple(n for n in PATH_COLUMNS if n in sample_schema.names)
    picked = exercise_schema.empty_table().select(names)
    empty = append_exercises(schema.empty_table(), picked, reserved)
    labels = LabelColumns(labels.samples_path, labels.columns, path, rows, reserved)
    return labels, empty.schema


def _rows_by_key(media: Media, in_split: np.ndarray, split: str, path: Path) -> np.ndarray:
    """The source rows `in_split`, sorted by key (stable: a tie keeps row order); two samples
    of the split with one key are bad input (they would be one member name)."""
    rows = np.flatnonzero(in_split)
    keys = media.key_column.take(pa.array(rows))
    order = pc.sort_indices(keys).to_numpy()
    rows, keys = rows[order], keys.take(pa.array(order))
    if len(rows) > 1:
        same = pc.equal(keys[1:], keys[:-1])
        if pc.any(same).as_py():
            i = pc.index(same, True).as_py()
            a, b = (media.sample_ids[int(r)].as_py() for r in rows[i : i + 2])
            raise InputError(
                f"{path}: samples {a!r} and {b!r} of split '{split}' would "
                f"both be stored as member {keys[i].as_py()!r} (their media files share a "
                "file name)"
            )
    return rows.astype(np.int64)
