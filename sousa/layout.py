"""The staging format, defined once: every fact a writer and a reader of it must agree on.

Split names, every staged path, the shard columns, the members a sample has in a shard of each
kind, the manifest's format and version, WebDataset key rules and the labels-JSON encoding.
Every writer and reader in `sousa/` takes these from here.

`builder/sousa.py` must stay self-contained (it is loaded from the Hub repo on its own), so it
holds a copy of the block between the BEGIN and END marks, byte for byte;
`tests/test_layout.py` fails when the two differ. The block uses the standard library only,
for the same reason.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math

# ---- BEGIN sousa.layout (builder/sousa.py holds a byte-identical copy) ----
FORMAT = "sousa-staging"
FORMAT_VERSION = 1

SPLITS = ("train", "validation", "test")
MEDIA_KINDS = ("audio", "midi")  # each is a TAR config and a folder of shards
CONFIGS = (*MEDIA_KINDS, "labels")  # what the reference loader offers
MEMBER_EXTENSIONS = {"audio": "flac", "labels": "json", "midi": "mid"}
SHARD_FIELDS = ("shard", "filename", "offset", "size")
SHARD_COLUMNS = tuple(f"{kind}_{name}" for kind in MEDIA_KINDS for name in SHARD_FIELDS)
AUDIO_PROPERTY_COLUMNS = ("audio_sample_rate", "audio_channels", "audio_frames")  # STREAMINFO

MANIFEST_PATH = "manifest.json"  # written last: the mark of a complete staging folder
MANIFEST_ORDER = "order"  # manifest key: how samples are ordered within a split (ORDERS)
MANIFEST_SEED = "seed"  # manifest key: the seed of the "shuffled" order
ORDERS = ("shuffled", "sorted")  # by a keyed hash of (seed, sample_id), or by key
CARD_PATH = "README.md"
BUILDER_PATH = "builder/sousa.py"  # never a root-level sousa.py: datasets >= 4 refuses it
AUXILIARY_TABLES = ("strokes", "measures")
MANAGED_FOLDERS = ("data", *MEDIA_KINDS, "auxiliary", "builder")
MAX_MEMBER_NAME_BYTES = 100  # a ustar header's name field; longer names need pax headers


def split_table_path(split: str) -> str:
    """One row per sample of `split`: labels + shard columns."""
    return f"data/{split}-00000-of-00001.parquet"


def shard_path(kind: str, split: str, index: int) -> str:
    return f"{kind}/{split}-{index:05d}.tar"


def split_table_glob(split: str) -> str:
    """The card's `data_files` pattern for `split_table_path`."""
    return f"data/{split}-*.parquet"


def shard_glob(kind: str, split: str) -> str:
    """The card's `data_files` pattern for `shard_path`."""
    return f"{kind}/{split}-*.tar"


def auxiliary_table_path(table: str, split: str) -> str:
    return f"auxiliary/{table}/{split}-00000-of-00001.parquet"


def shard_column(kind: str, field: str) -> str:
    """`audio_offset`, `midi_shard`, …: where a sample's `kind` member lives."""
    return f"{kind}_{field}"


def sample_members(kind: str, key: str, has_midi: bool) -> list[tuple[str, str]]:
    """(member name, part) of one sample in a shard of `kind`, in archive order.

    `part` names where the bytes come from: "audio" (the FLAC), "labels" (the labels JSON),
    "midi" (the MIDI file). Audio shards hold flac, json and mid; MIDI shards json and mid.
    Name order, so a sample's members are adjacent and sorted, as WebDataset wants.
    """
    parts = ["audio"] if kind == "audio" else []
    parts += ["labels", "midi"] if has_midi else ["labels"]
    return [(f"{key}.{MEMBER_EXTENSIONS[part]}", part) for part in parts]


def member_key(name: str) -> str:
    """A member's WebDataset key: its name up to the FIRST dot (as datasets and webdataset)."""
    return name.split(".", 1)[0]


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a WebDataset key, or None if it can."""
    longest = f"{key}.{max(MEMBER_EXTENSIONS.values(), key=len)}"
    if not key:
        return "empty"
    if "." in key:
        return "contains a dot"
    if key.startswith("__"):
        return "starts with '__'"
    if len(longest.encode()) > MAX_MEMBER_NAME_BYTES:
        return f"makes a member name over {MAX_MEMBER_NAME_BYTES} bytes"
    return None


def manifest_problem(manifest: object) -> str | None:
    """Why `manifest` is not one this code reads (naming both versions), or None."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return "not a sousa staging manifest (no 'files')"
    found = (manifest.get("format"), manifest.get("version"))
    if found != (FORMAT, FORMAT_VERSION):
        return (
            f"manifest format {found[0]!r} version {found[1]!r}; this code reads "
            f"{FORMAT!r} version {FORMAT_VERSION} (upgrade sousa, or re-package)"
        )
    return None


def labels_json(row: dict) -> bytes:
    """A sample's labels as compact JSON, each value written by the type rule below."""
    try:
        text = _LABELS_ENCODER.encode(row)
    except ValueError:  # a NaN or infinity somewhere: the slow path cleans it
        text = _LABELS_ENCODER.encode(_finite(row))
    return text.encode()


def json_label_type(t, pa):
    """The type rule: what a label column of Arrow type `t` is once written as labels JSON.

    The card declares this type, native `load_dataset` returns it (the WebDataset loader
    yields `json.loads` of the member) and the reference loader applies the same rule to the
    split tables' values, so both return the same values. Exact for numbers, bool, strings,
    null, lists and structs of them, and dictionaries (their values); otherwise (README's
    table): timestamp, date, time → ISO 8601 string (`isoformat`, with the UTC offset when
    the column has a time zone); duration → float64 seconds; decimal → float64; binary →
    base64 string; NaN and infinities → null. `pa` is pyarrow, passed in so that this block
    imports nothing beyond the standard library.
    """
    is_ = pa.types
    if is_.is_timestamp(t) or is_.is_date(t) or is_.is_time(t):
        return pa.string()
    if is_.is_duration(t) or is_.is_decimal(t):
        return pa.float64()
    if is_.is_binary(t) or is_.is_large_binary(t) or is_.is_fixed_size_binary(t):
        return pa.string()
    if is_.is_dictionary(t):
        return json_label_type(t.value_type, pa)
    if is_.is_struct(t):
        return pa.struct([f.with_type(json_label_type(f.type, pa)) for f in t])
    if is_.is_fixed_size_list(t):
        return pa.list_(json_label_type(t.value_type, pa), t.list_size)
    if is_.is_list(t) or is_.is_large_list(t):
        return pa.list_(json_label_type(t.value_type, pa))
    return t


def _json_default(value):
    """Label values JSON has no type for, by the rule of `json_label_type`."""
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, datetime.timedelta)):
        seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else value
        return _finite(float(seconds))
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as JSON")


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


_LABELS_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
)
# ---- END sousa.layout ----


def layout_block(text: str) -> str:
    """The marked block of a file's text (for the test that pins the builder's copy)."""
    begin = text.index("# ---- BEGIN sousa.layout")
    end = text.index("# ---- END sousa.layout ----")
    return text[begin:end]
