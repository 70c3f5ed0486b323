"""The source's tables checked as Arrow columns: required columns, names the split tables
reserve, string id columns without empty values, unique ids, label types the labels JSON can
carry, and the README's YAML header.

Each check raises `InputError` naming the file, the column and the first offending values;
Python values are made only when there is something to name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InputError, first_values
from ..layout import AUDIO_PROPERTY_COLUMNS, SHARD_COLUMNS


def read_table(
    path: Path, required: tuple[str, ...], only: tuple[str, ...] = ()
) -> tuple[pa.Table, pa.Schema]:
    """The `required` and `only` columns of a parquet file, and the whole file's schema."""
    if not path.exists():
        raise InputError(f"{path}: required file is missing")
    try:  # ParquetFile, not read_table: that loads pyarrow.dataset (~40 MB) for one small file
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
        check_columns(schema, required, path)
        table = parquet.read(columns=[n for n in schema.names if n in required + only])
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"{path}: not a readable parquet file ({e})") from e
    return table, schema


# huggingface_hub.repocard's REGEX_YAML_BLOCK: where a card's YAML front matter is
FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
# what `DatasetCardData(**data, ignore_metadata_errors=...)` cannot take as a key
_TAKEN_KEYS = ("self", "ignore_metadata_errors")


def read_readme(path: Path) -> str | None:
    """The README's text, or None without one; its YAML front matter must be what
    `huggingface_hub.DatasetCard` reads (a mapping with string keys), which the card is built
    with later: checked here with `yaml` alone, so that `huggingface_hub` is not imported on
    the way to the first shard (tests/test_card.py holds the two to the same verdicts)."""
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not readable as UTF-8 text ({e})") from e
    if problem := front_matter_problem(text):
        raise InputError(f"{path}: its YAML front matter does not parse ({problem})")
    return text


def front_matter_problem(text: str) -> str | None:
    """Why `DatasetCard(text)` would refuse `text`'s YAML front matter; None if it would not."""
    import yaml

    match = FRONT_MATTER.search(text)
    try:
        data = yaml.safe_load(match.group(2)) if match else {}
    except yaml.YAMLError as e:
        return str(e)
    if data is not None and not isinstance(data, dict):
        return "repo card metadata block should be a dict"
    keys = [k for k in data or {} if not isinstance(k, str) or k in _TAKEN_KEYS]
    return f"keys that are not names: {first_values(keys)}" if keys else None


def check_columns(schema: pa.Schema, required: tuple[str, ...], path: Path) -> None:
    absent = [c for c in required if c not in schema.names]
    if absent:
        raise InputError(f"{path}: missing column(s) {first_values(absent)}")


def check_no_reserved_columns(schema: pa.Schema, path: Path) -> None:
    """The split tables add the shard and audio-property columns: a label may not take them."""
    taken = [name for name in (*SHARD_COLUMNS, *AUDIO_PROPERTY_COLUMNS) if name in schema.names]
    if taken:
        raise InputError(
            f"{path}: column(s) {first_values(taken)} are names the split tables give to "
            "where each sample's media are and what its audio is: rename them"
        )


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def string_array(table: pa.Table, name: str, path: Path) -> pa.Array:
    """A required column of non-empty strings, as one Arrow array."""
    column = table.column(name)
    if not _is_string(column.type):
        raise InputError(f"{path}: column '{name}' must be strings, got {column.type}")
    empty = pc.or_kleene(pc.is_null(column), pc.equal(column, ""))
    if pc.any(empty).as_py():
        rows = pc.indices_nonzero(empty.combine_chunks()).to_pylist()
        raise InputError(f"{path}: column '{name}' is empty in row(s) {first_values(rows)}")
    return column.combine_chunks()


def path_array(table: pa.Table, name: str, path: Path) -> pa.Array:
    """An optional media path column as one string array: null where a row names no file
    (null or ""), all null when the table has no such column or only nulls of another type."""
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    column = table.column(name)
    if not _is_string(column.type):
        if column.null_count != len(column):
            raise InputError(f"{path}: column '{name}' must be strings, got {column.type}")
        return pa.nulls(table.num_rows, pa.string())
    column = column.cast(pa.string()).combine_chunks()
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def check_unique(values: pa.Array, name: str, path: Path) -> None:
    """No value repeats; else the first repeat (in row order) and the rows it is in.

    Checked on the sorted values (a sort costs a few bytes a row; a hash table of every
    value, as `count_distinct` builds, costs ~400 a row): Python values are made only when
    there is a repeat to name.
    """
    if len(values) < 2:
        return
    ranked = values.take(pc.sort_indices(values))
    if not pc.any(pc.equal(ranked[1:], ranked[:-1])).as_py():
        return
    first_row: dict[str, int] = {}
    for row, value in enumerate(values.to_pylist()):
        if value in first_row:
            raise InputError(
                f"{path}: {name} {value!r} repeats (rows {first_row[value]} and {row})"
            )
        first_row[value] = row


def check_label_types(schema: pa.Schema, path: Path) -> None:
    """Every label column must have a type the labels-JSON rule carries (README's table):
    a map, union or view type would package, then fail to load natively and in `sousa.load`."""
    bad = [f"{f.name} ({f.type})" for f in schema if not _json_carries(f.type)]
    if bad:
        raise InputError(
            f"{path}: label column(s) of a type the labels JSON cannot carry: "
            f"{first_values(bad)} (numbers, bool, strings, temporal, decimal, binary, "
            "dictionary, list and struct can be carried: convert the column to one of them)"
        )


PYARROW_READS_NULL_FIXED_LISTS = int(pa.__version__.split(".")[0]) >= 26


def check_fixed_lists_readable(path: Path | None) -> None:
    """pyarrow < 26 cannot read back a parquet fixed-size list column with a null row
    (apache/arrow#35692, fixed in 26.0, which needs Python >= 3.11): such a source would fail
    midway, and so would every reader of what we wrote. Refuse it up front, naming the columns.
    Reads only the fixed-size list columns, and only under such a pyarrow."""
    if PYARROW_READS_NULL_FIXED_LISTS or path is None:
        return
    parquet = pq.ParquetFile(path)
    fixed = [f.name for f in parquet.schema_arrow if _has_fixed_list(f.type)]
    bad = []
    for name in fixed:
        try:
            parquet.read(columns=[name])
        except pa.ArrowInvalid:
            bad.append(name)
    if bad:
        raise InputError(
            f"{path}: fixed-size list column(s) {first_values(bad)} have null rows, which "
            f"pyarrow {pa.__version__} cannot read back from parquet (apache/arrow#35692; "
            "fixed in pyarrow 26, on Python >= 3.11): upgrade pyarrow, or cast the column to a "
            "variable-size list (pa.list_(type))"
        )


def _has_fixed_list(t: pa.DataType) -> bool:
    if pa.types.is_fixed_size_list(t):
        return True
    if pa.types.is_struct(t):
        return any(_has_fixed_list(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_dictionary(t):
        return _has_fixed_list(t.value_type)
    return False


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
