"""Read and validate a generated SOUSA folder into a `Source`: samples per split, plain data.

Everything that can be wrong with the input is found here, before a byte is written, and
reported with the file, the column and the first offending values. After `read_source`
returns, nothing else reads the labels tables or stats the media (the auxiliary tables are
streamed later, by `tables.py`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard

from .errors import InputError, first_values
from .layout import AUDIO_PROPERTY_COLUMNS, AUXILIARY_TABLES, SHARD_COLUMNS, SPLITS
from .media import MediaFile, sample_keys, stat_media
from .media_check import BadMedia, audio_property_columns, bad_media_lines, check_media
from .splits import Unassigned, assign_splits, read_splits

PATH_COLUMNS = ("audio_path", "midi_path")
STAGING_DEFAULT_NAME = "hf_staging"


@dataclass(frozen=True, slots=True)
class Sample:
    """A sample as the shard and table writers need it."""

    sample_id: str
    split: str
    key: str  # WebDataset key: the member names are f"{key}.flac", f"{key}.json", f"{key}.mid"
    row: int  # row of `Source.labels`
    audio: MediaFile | None
    midi: MediaFile | None


@dataclass
class Source:
    """A validated source folder. `labels` holds the label columns (no media paths)."""

    root: Path
    labels: pa.Table
    splits: dict[str, list[Sample]]  # every split name, each sorted by key (empty list allowed)
    auxiliary: dict[str, Path]  # strokes/measures tables that exist
    readme: str | None
    missing: list[str] = field(default_factory=list)  # media paths allowed to be missing
    dropped: list[str] = field(default_factory=list)  # sample ids of unassigned profiles dropped
    bad_media: list[BadMedia] = field(default_factory=list)  # --skip-bad-media: labels-only
    input_files: list[Path] = field(default_factory=list)  # tables, splits.json, README

    @property
    def samples(self) -> list[Sample]:
        return [s for split in SPLITS for s in self.splits[split]]

    def fingerprint(self, options: dict) -> str:
        """A digest of every input (path, size, mtime) and the options: equal ⇒ same output."""
        h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
        for path in self.input_files:
            st = path.stat()
            h.update(f"{path.relative_to(self.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        for s in self.samples:
            for media in (s.audio, s.midi):
                if media is not None:
                    h.update(f"{media.relpath}\0{media.size}\0{media.mtime_ns}\n".encode())
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
    """Read `root`'s labels and splits, check every rule, stat every media file once.

    Every media file's head is checked (`media_check`; with `verify_audio` every FLAC is
    decoded whole, in `workers` threads). A bad file is bad input, unless `skip_bad_media`:
    then its sample is labels-only (no audio, no MIDI) and listed in `Source.bad_media`.
    The audio properties read from STREAMINFO become label columns (AUDIO_PROPERTY_COLUMNS).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    samples_path = root / "labels" / "samples.parquet"
    table = _read_table(samples_path, required=("sample_id", "profile_id"))
    if not any(c in table.column_names for c in PATH_COLUMNS):
        raise InputError(f"{samples_path}: needs an 'audio_path' or 'midi_path' column")
    _check_no_reserved_columns(table.schema, samples_path)
    sample_ids = _string_column(table, "sample_id", samples_path)
    profile_ids = _string_column(table, "profile_id", samples_path)
    _check_unique(sample_ids, "sample_id", samples_path)
    input_files = [samples_path]

    exercises_path = root / "labels" / "exercises.parquet"
    if exercises_path.exists():
        _check_no_reserved_columns(pq.read_schema(exercises_path), exercises_path)
        table = _merge_exercises(table, sample_ids, exercises_path)
        input_files.append(exercises_path)

    splits_path = root / "splits.json"
    split_of_profile = read_splits(splits_path)
    input_files.append(splits_path)
    split_of_row, dropped = assign_splits(sample_ids, profile_ids, split_of_profile, unassigned)

    audio_paths = _optional_strings(table, "audio_path", samples_path)
    midi_paths = _optional_strings(table, "midi_path", samples_path)
    keys = sample_keys(audio_paths, midi_paths, sample_ids, samples_path)
    missing: list[str] = []
    audio = stat_media(root, audio_paths, "audio_path", include_audio, missing)
    midi = stat_media(root, midi_paths, "midi_path", include_midi, missing)
    if missing and not allow_missing:
        raise InputError(
            f"{len(missing)} media file(s) named in {samples_path} are missing: "
            f"{first_values(missing)} (use --allow-missing to package without them)"
        )

    infos, bad = check_media(
        root, audio, midi, sample_ids, verify_audio=verify_audio, workers=workers,
        progress=progress,
    )  # fmt: skip
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
        audio[b.row] = midi[b.row] = None

    splits: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    for row, split in enumerate(split_of_row):
        if split is not None:
            splits[split].append(
                Sample(sample_ids[row], split, keys[row], row, audio[row], midi[row])
            )
    for split, samples in splits.items():
        samples.sort(key=lambda s: s.key)
        _check_unique_keys(samples, split, samples_path)

    labels = table.drop_columns([c for c in PATH_COLUMNS if c in table.column_names])
    _check_label_types(labels.schema, samples_path)
    for name, column in audio_property_columns(infos).items():
        labels = labels.append_column(name, column)
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
    return Source(root, labels, splits, auxiliary, readme, missing, dropped, bad, input_files)


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


def _read_table(path: Path, required: tuple[str, ...]) -> pa.Table:
    if not path.exists():
        raise InputError(f"{path}: required file is missing")
    try:  # ParquetFile, not read_table: that loads pyarrow.dataset (~40 MB) for one small file
        table = pq.ParquetFile(path).read()
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"{path}: not a readable parquet file ({e})") from e
    _check_columns(table.schema, required, path)
    return table


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


def _check_unique(values: list[str], name: str, path: Path) -> None:
    first_row: dict[str, int] = {}
    for row, value in enumerate(values):
        if value in first_row:
            raise InputError(
                f"{path}: {name} {value!r} repeats (rows {first_row[value]} and {row})"
            )
        first_row[value] = row


def _merge_exercises(table: pa.Table, sample_ids: list[str], path: Path) -> pa.Table:
    """Left-join exercises on sample_id, keeping the samples' row order and every column."""
    exercises = _read_table(path, required=("sample_id",))
    exercise_ids = _string_column(exercises, "sample_id", path)
    _check_unique(exercise_ids, "sample_id", path)
    row_of = {sid: i for i, sid in enumerate(exercise_ids)}
    take = pa.array([row_of.get(sid) for sid in sample_ids], type=pa.int64())
    picked = exercises.drop_columns(["sample_id"]).take(take)
    for name, column in zip(picked.column_names, picked.columns):
        out_name = name if name not in table.column_names else f"{name}_exercise"
        table = table.append_column(out_name, column)
    return table


def _check_unique_keys(samples: list[Sample], split: str, path: Path) -> None:
    for a, b in zip(samples, samples[1:]):
        if a.key == b.key:
            raise InputError(
                f"{path}: samples {a.sample_id!r} and {b.sample_id!r} of split '{split}' would "
                f"both be stored as member {a.key!r} (their media files share a file name)"
            )
