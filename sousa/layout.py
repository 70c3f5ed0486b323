"""The staging format, defined once: every fact a writer and a reader of it must agree on.

Split names, every staged path, the shard columns, the members a sample has in a shard of each
kind and how a member name reads back, the manifest (`Manifest`: its JSON, format and
version), WebDataset key rules and the labels-JSON encoding. The TAR dialect of the shards is
its sibling `sousa.tar_format`. Every writer and reader in `sousa/` takes these from here.

Standard library only: `sousa.write.builder_file` inlines the parts of this module (and of
`tar_format`) that the builder uses into the self-contained builder of every Hub repo.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
from dataclasses import dataclass

from .tar_format import MAX_NAME_BYTES as MAX_MEMBER_NAME_BYTES

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
ORDERS = ("shuffled", "sorted")  # by a keyed hash of (seed, sample_id), or by key
CARD_PATH = "README.md"
BUILDER_PATH = "builder/sousa.py"  # never a root-level sousa.py: datasets >= 4 refuses it
AUXILIARY_TABLES = ("strokes", "measures")
FIGURES_FOLDER = "figures"  # images the card embeds
MANAGED_FOLDERS = ("data", *MEDIA_KINDS, "auxiliary", "builder", FIGURES_FOLDER)
# The staging folder's local state: the one-writer lock (holding the writer's pid) and the
# stamps behind reuse. In no manifest, never pushed, and under `.cache/huggingface/`, which
# `upload_folder` and `hf upload` skip by default (huggingface_hub `utils/_paths.py`,
# `DEFAULT_IGNORE_PATTERNS`), so a hand upload of the folder publishes only the dataset.
LOCAL_STATE_FOLDER = ".cache/huggingface/sousa"
LOCK_PATH = f"{LOCAL_STATE_FOLDER}/writer.lock"
STAMPS_PATH = f"{LOCAL_STATE_FOLDER}/stamps.jsonl"
LEGACY_LOCAL_FILES = (".sousa.lock", ".sousa-stamps.jsonl")  # where sousa 0.1 kept them


def split_table_path(split: str) -> str:
    """One row per sample of `split`: labels + shard columns."""
    return f"data/{split}-00000-of-00001.parquet"


def shard_path(kind: str, split: str, index: int) -> str:
    return shard_file_path(kind, f"{split}-{index:05d}.tar")


def shard_file_path(kind: str, shard_name: str) -> str:
    """The staged path of the shard a `{kind}_shard` column names (a file name in `kind/`)."""
    return f"{kind}/{shard_name}"


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


def member_key_and_part(name: str) -> tuple[str, str]:
    """(key, part) of a shard member named by `sample_members`, its inverse: the key up to the
    FIRST dot (`member_key`), the part ("audio", "labels", "midi") from the extension after it.
    Any other name is a ValueError naming it."""
    key = member_key(name)
    part = _PART_OF_EXTENSION.get(name[len(key) + 1 :])
    if part is None or key_problem(key):
        raise ValueError(
            f"member {name!r} is not a sample member (key.{', key.'.join(_PART_OF_EXTENSION)})"
        )
    return key, part


_PART_OF_EXTENSION = {extension: part for part, extension in MEMBER_EXTENSIONS.items()}


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


class ManifestError(ValueError):
    """A manifest this code does not read; the message says why (naming both versions)."""


@dataclass(frozen=True)
class FileDigest:
    """A staged file as the manifest lists it: its size in bytes and its sha256 (hex)."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """`manifest.json`: every staged file but itself, with its size and sha256. Written last,
    it marks a complete staging folder.

    `source_fingerprint` keys reuse (the input and the code that packaged it); `order` and
    `seed` say how samples are ordered within a split (`ORDERS`; None in a manifest written
    before they were recorded). `to_json` writes exactly what `from_json` reads: the one
    place the manifest's keys, format and version are written and checked.
    """

    files: dict[str, FileDigest]
    source_fingerprint: str
    order: str | None = "shuffled"
    seed: int | None = 0

    def to_dict(self) -> dict:
        """The JSON object, keys in a fixed order and files sorted (same manifest, same bytes)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "source_fingerprint": self.source_fingerprint,
            "order": self.order,
            "seed": self.seed,
            "files": {
                path: {"size": d.size, "sha256": d.sha256} for path, d in sorted(self.files.items())
            },
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        """The manifest in `data`; a `ManifestError` if it is not JSON, not a sousa manifest,
        another format or version (naming both), or has a malformed entry."""
        try:
            found = json.loads(data)
        except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
            raise ManifestError(f"unreadable ({err})") from None
        if not isinstance(found, dict) or not isinstance(found.get("files"), dict):
            raise ManifestError("not a sousa staging manifest (no 'files')")
        format_, version = found.get("format"), found.get("version")
        if (format_, version) != (FORMAT, FORMAT_VERSION):
            raise ManifestError(
                f"manifest format {format_!r} version {version!r}; this code reads "
                f"{FORMAT!r} version {FORMAT_VERSION} (upgrade sousa, or re-package)"
            )
        files = {}
        for path, entry in found["files"].items():
            fields = entry if isinstance(entry, dict) else {}
            size, sha256 = fields.get("size"), fields.get("sha256")
            if not _is_count(size) or not isinstance(sha256, str):
                raise ManifestError(f"malformed entry for {path!r}: {entry!r}")
            files[path] = FileDigest(size, sha256)
        order, seed = found.get("order"), found.get("seed")
        if order not in (*ORDERS, None) or not (seed is None or _is_count(seed)):
            raise ManifestError(f"malformed order {order!r} or seed {seed!r}")
        return cls(files, str(found.get("source_fingerprint", "")), order, seed)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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


# ---- the card's label statistics: the source label columns it summarises, and its figures ----
TIER_COLUMN = "skill_tier"
TIER_ORDER = ("beginner", "intermediate", "advanced", "professional")  # the generator's tiers
RUDIMENT_COLUMN = "rudiment_slug"
SCORE_COLUMN = "overall_score"
EXPECTED_NUMERIC_LABELS = (SCORE_COLUMN, "tempo_bpm", "duration_sec")  # said when absent
SCORE_FIGURE_PATH = f"{FIGURES_FOLDER}/overall_score_by_tier.png"
RUDIMENT_FIGURE_PATH = f"{FIGURES_FOLDER}/samples_by_rudiment_and_tier.png"
