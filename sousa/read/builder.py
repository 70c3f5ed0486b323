"""SOUSA reference loader: a self-contained `datasets.GeneratorBasedBuilder`.

It reads a sousa staging folder (= the Hub repo): the parquet split tables
`data/{split}-00000-of-00001.parquet` say, for every sample, which TAR shard of `audio/` and
`midi/` holds its files. The builder reads a split's table, keeps the rows selected by the
config's `filter`, and reads only the shards that hold selected rows: each either streamed
once, front to back (`dl_manager.download` + `dl_manager.iter_archive`: one GET when
streaming), or, when the selected
samples are a small part of it, by range reads of just their bytes (`{kind}_offset`: one
request per run of adjacent samples, `plan_spans`; `use_ranges` decides, from a measured
request cost). Either way every member read is matched against the table (name, size, FLAC
marker).

Configs: `audio` (default: label columns + `audio` + `midi`), `midi` (label columns + `midi`,
the samples that have MIDI) and `labels` (label columns only, from the tables: no shard is
downloaded). Every config takes `filter={column: value or [values]}`: rows whose label column
equals the value (or one of the values; `None` matches nulls), all conditions ANDed.

    builder = Sousa(base_path="path/to/hf_staging", config_name="audio",
                    filter={"skill_tier": "advanced"})          # or base_path="hf://datasets/user/sousa@main"
    builder.as_streaming_dataset(split="train")                 # no cache, one pass per shard
    builder.download_and_prepare(); builder.as_dataset(split="train")

`audio` decodes to `{"array": float32 ndarray (frames[, channels]), "sampling_rate": int,
"path": member name}`; `midi` is the Standard MIDI File bytes or None.

Label values follow the labels-JSON type rule (`json_label_type` in `sousa.layout`): the
builder returns what native `load_dataset` reads from a sample's `.json` member (timestamps as
ISO strings, durations as seconds, binary as base64, NaN as None, …), not the split tables'
source types. A labels-only sample (no audio, no MIDI: null shard columns) is in the `labels`
config only; a media config is generated for the splits that have a shard of it, and loading
a config with no shard at all is refused, naming the configs that have data.

Why a custom feature type (`FlacAudio`) for the audio: the Arrow cache written by
`download_and_prepare` must hold the FLAC bytes, not decoded PCM (16-bit FLAC decoded to float32
is ~3-5x larger), and `datasets.Audio` needs torch + torchcodec + FFmpeg to decode (and to
encode anything). `FlacAudio` is a registered feature whose Arrow storage is
`struct{bytes, path}` (like `Audio`'s) and whose `decode_example` uses soundfile. So the cache
stores the FLAC bytes (about the size of the audio shards), `Dataset.__getitem__` /
iteration decode on access, `.cast_column("audio", FlacAudio(decode=False))` gives raw bytes,
and the cached `dataset_info.json` names the type so a re-opened cache decodes the same way.
Both modes yield the FLAC bytes from `_generate_examples` and let the feature decode: in
streaming each example is decoded as it is produced, so users get decoded arrays either way
from one code path, and `IterableDataset.decode(num_threads=...)` can overlap decoding. A
member that does not start with the `fLaC` marker is refused while generating, naming member
and shard; deeper corruption is reported on decoding, naming the member.

`as_streaming_dataset` returns `SousaStream`s: `datasets.IterableDataset`s that, while their
features are the builder's and they have no format, hand out the examples with only `audio`
decoded, skipping `datasets`' per-example encoding pass, which would change nothing (the
examples are yielded in their features' python types). Any dataset derived from one
(`cast_column`, `decode`, `map`, `select_columns`, `shuffle`, …) is a plain `IterableDataset`
and applies its features in full (a `map` function itself gets the stream's examples).

Consistency is checked as the shards stream (lhotse-style "mismatched ids"): a member whose
sample is not in the split table, a selected row whose member is missing from its shard, or
a member whose size differs from the table raise `SousaDataError` naming shard and member.
Rows removed by the filter are not an error.

Where the data is: `base_path` (or `data_dir`, absolute or relative to `base_path`) is a local
staging folder or `hf://datasets/{repo_id}@{revision}`. Paths are joined here and handed to
`dl_manager` as absolute URLs: non-streaming downloads (hf:// files land in the HF cache; local
files are used in place), streaming opens them through fsspec. `manifest.json` (written last by
the packager) must exist: it lists the splits and its hash keys the cache (a different or
re-packaged staging folder never reuses a stale cache).

Besides datasets, pyarrow, numpy, soundfile and the standard library, this module imports only
`sousa.layout`, `sousa.tar_format` and `sousa.epochs` (standard library only).
`sousa.read.builder_file` inlines those three into a self-contained copy, the
`builder/sousa.py` of every staging folder and Hub repo (never a root-level `sousa.py`,
which datasets >= 4 refuses), loadable where `sousa` is not installed.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import math
import os
import posixpath
import tarfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, ClassVar

import datasets
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import soundfile as sf
from datasets.download.download_config import DownloadConfig
from datasets.features.features import decode_nested_example, require_decoding
from datasets.iterable_dataset import ExamplesIterable, FormattedExamplesIterable
from datasets.table import array_cast
from datasets.utils.file_utils import _prepare_path_and_storage_options, xopen

from ..epochs import WINDOWS, shard_order, windowed
from ..layout import (
    CONFIGS,
    MANIFEST_PATH,
    MEDIA_KINDS,
    SHARD_COLUMNS,
    SPLITS,
    Manifest,
    ManifestError,
    json_label_type,
    labels_json,
    member_key,
    shard_column,
    shard_file_path,
    shard_path,
    split_table_path,
)
from ..tar_format import (
    BLOCK,
    END_OF_ARCHIVE,
    ZERO_BLOCK,
    TarHeaderError,
    member_span,
    parse_tar_header,
)

# What `sousa.read.loading` (and any other reader) may use; the rest may change without notice.
__all__ = [
    "CONFIGS",
    "SHARD_COLUMNS",
    "FlacAudio",
    "Sousa",
    "SousaConfig",
    "SousaDataError",
    "Span",
    "decode_flac",
    "join",
    "label_columns",
    "label_converter",
    "manifest_splits",
    "no_data_message",
    "open_ranged",
    "plan_spans",
    "read_exactly",
    "read_manifest",
    "sample_example",
    "shard_archive_end",
    "span_examples",
    "split_table_path",
]

FEATURE_TYPE = "SousaFlacAudio"


class SousaDataError(ValueError):
    """The staging folder's data is inconsistent or corrupt; the message names the file."""


def decode_flac(data: bytes, name: str | None, shard: str | None = None) -> dict:
    """FLAC bytes → `{"array": float32 ndarray, "sampling_rate": int, "path": name}`."""
    try:
        array, sampling_rate = sf.read(io.BytesIO(data), dtype="float32")
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, TypeError …
        where = f" in shard {shard!r}" if shard else ""
        raise SousaDataError(f"corrupt FLAC member {name!r}{where}: {err}") from err
    return {"array": array, "sampling_rate": int(sampling_rate), "path": name}


def check_flac_header(data: bytes, name: str, shard: str) -> None:
    """Refuse bytes that do not start as FLAC does (the `fLaC` marker): a check that costs
    nothing per sample. Damage further in surfaces when the audio is decoded, naming the
    member then."""
    if data[:4] != b"fLaC":
        raise SousaDataError(
            f"corrupt FLAC member {name!r} in shard {shard!r}: it does not start with 'fLaC' "
            f"(starts {data[:4]!r})"
        )


@dataclass
class FlacAudio:
    """Audio stored as FLAC bytes in Arrow, decoded on access with soundfile (no torch).

    Storage `struct{bytes: binary, path: string}`; decoded value `{"array", "sampling_rate",
    "path"}`. Encoding accepts FLAC bytes, `{"bytes", "path"}`, a file path, or a decoded
    `{"array", "sampling_rate"}` dict (encoded to 16-bit FLAC).
    """

    decode: bool = True
    dtype: ClassVar[str] = "dict"
    pa_type: ClassVar[Any] = pa.struct({"bytes": pa.binary(), "path": pa.string()})
    _type: str = field(default=FEATURE_TYPE, init=False, repr=False)

    def __call__(self):
        return self.pa_type

    def encode_example(self, value) -> dict:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return {"bytes": bytes(value), "path": None}
        if isinstance(value, (str, os.PathLike)):
            with open(value, "rb") as f:
                return {"bytes": f.read(), "path": os.path.basename(os.fspath(value))}
        if isinstance(value, dict):
            if value.get("bytes") is not None or "array" not in value:
                return {"bytes": value.get("bytes"), "path": value.get("path")}
            buf = io.BytesIO()
            sf.write(buf, np.asarray(value["array"]), int(value["sampling_rate"]), format="FLAC")
            return {"bytes": buf.getvalue(), "path": value.get("path")}
        raise TypeError(f"FlacAudio cannot encode a {type(value).__name__}")

    def decode_example(self, value: dict, token_per_repo_id=None) -> dict:
        if value.get("bytes") is None:
            raise SousaDataError(f"audio {value.get('path')!r} has no bytes")
        return decode_flac(value["bytes"], value.get("path"))

    def flatten(self):
        if self.decode:
            raise ValueError("Cannot flatten a decoded FlacAudio feature.")
        return {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}

    def cast_storage(self, storage: pa.Array) -> pa.StructArray:
        if pa.types.is_binary(storage.type) or pa.types.is_large_binary(storage.type):
            storage = array_cast(storage, pa.binary())
            paths = pa.array([None] * len(storage), type=pa.string())
            storage = pa.StructArray.from_arrays(
                [storage, paths], ["bytes", "path"], mask=storage.is_null()
            )
        return array_cast(storage, self.pa_type)

    def embed_storage(self, storage: pa.StructArray, **kwargs) -> pa.StructArray:
        return array_cast(storage, self.pa_type)  # the bytes are always embedded already


def _register_feature() -> None:
    """Make `FlacAudio` known by name, so a cached `dataset_info.json` deserialises it."""
    from datasets.features import features as features_module

    if FEATURE_TYPE not in features_module._FEATURE_TYPES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # register_feature is marked experimental
            features_module.register_feature(FlacAudio, FEATURE_TYPE)


_register_feature()


@dataclass
class SousaConfig(datasets.BuilderConfig):
    """A config (`audio`, `midi`, `labels`) plus an optional row filter on label columns.

    `filter={column: value or [values]}`: keep rows whose column equals the value (or one of
    the values; `None` matches nulls); several columns are ANDed. It is part of the cache key.
    `shard_seed` (streaming): read epoch `epoch` in its order (`sousa.epochs`): the shards in
    `shard_order(shard_seed, epoch, names)`, each shard's samples `windowed` by runs of
    `window` samples (None: `WINDOWS[config]`). The order depends only on (seed, epoch,
    shard), so a state dict taken mid-epoch loads into a dataset of the same seed and epoch,
    whatever the process.
    """

    filter: dict | None = None
    shard_seed: int | None = None
    epoch: int = 0
    window: int | None = None


def _is_url(path: str) -> bool:
    return "://" in path


def resolve_root(base_path: str | None, data_dir: str | None) -> str:
    """The staging folder: `data_dir` (absolute, or relative to `base_path`) else `base_path`."""
    if data_dir:
        data_dir = os.fspath(data_dir)
        if _is_url(data_dir) or os.path.isabs(data_dir) or not base_path:
            root = data_dir
        else:
            root = posixpath.join(os.fspath(base_path), data_dir)
    elif base_path:
        root = os.fspath(base_path)
    else:
        raise ValueError(
            "no staging folder given: pass base_path= (a local sousa staging folder or "
            "hf://datasets/{repo_id}@{revision})"
        )
    return root.rstrip("/") if _is_url(root) else os.path.abspath(root)


def join(root: str, relative: str) -> str:
    return f"{root}/{relative}" if _is_url(root) else os.path.join(root, *relative.split("/"))


def read_manifest(root: str, download_config: DownloadConfig) -> Manifest:
    """The staging folder's manifest; a `SousaDataError` naming it if missing or unreadable."""
    path = join(root, MANIFEST_PATH)
    try:
        with xopen(path, "rb", download_config=download_config) as f:
            return Manifest.from_json(f.read())
    except FileNotFoundError as err:
        raise SousaDataError(
            f"{root} is not a complete sousa staging folder: {MANIFEST_PATH} is missing"
        ) from err
    except ManifestError as err:
        raise SousaDataError(f"{path}: {err}") from None


def manifest_splits(manifest: Manifest) -> list[str]:
    return [s for s in SPLITS if split_table_path(s) in manifest.files]


def config_splits(manifest: Manifest) -> dict[str, list[str]]:
    """The splits each config has data in: a media config where the split has a shard (they
    are numbered from 0), `labels` wherever there is a split table. A config with no split
    has no data: the card does not declare it and loading it is refused."""
    splits = manifest_splits(manifest)
    found = {
        kind: [s for s in splits if shard_path(kind, s, 0) in manifest.files]
        for kind in MEDIA_KINDS
    }
    return found | {"labels": splits}


def no_data_message(root: str, manifest: Manifest, config: str, split: str | None = None) -> str:
    """Why `config` (in `split`) cannot be loaded, naming what can be, or "" if it can."""
    available = config_splits(manifest)
    if not available.get(config):
        having = [name for name in CONFIGS if available.get(name)]
        return (
            f"config {config!r} has no data in {root} (no {config} file was packaged); "
            f"configs with data: {', '.join(having)}"
        )
    if split is not None and split in manifest_splits(manifest) and split not in available[config]:
        return (
            f"config {config!r} has no sample in split {split!r} of {root}; "
            f"its splits: {', '.join(available[config])}"
        )
    return ""


def manifest_fingerprint(root: str, manifest: Manifest) -> str:
    """A cache key: where the data is and what it is (the manifest lists every file's sha256)."""
    text = json.dumps({"root": root, "files": manifest.to_dict()["files"]}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def label_columns(schema: pa.Schema) -> list[str]:
    return [name for name in schema.names if name not in SHARD_COLUMNS]


def label_features(schema: pa.Schema) -> datasets.Features:
    """The label columns' features by the type rule (`json_label_type`): what the card declares
    and native loading returns, so both loaders give the same values."""
    fields = [schema.field(name) for name in label_columns(schema)]
    return datasets.Features.from_arrow_schema(
        pa.schema([f.with_type(json_label_type(f.type, pa)) for f in fields])
    )


def json_labels(row: dict) -> dict:
    """A row's label values by the type rule: exactly what native loading reads from the
    sample's labels JSON (the same bytes, decoded the same way)."""
    return json.loads(labels_json(row))


def label_converter(schema: pa.Schema):
    """`json_labels` for the rows of one label schema, without encoding what JSON holds exactly.

    Integers, bool, strings and nulls pass through (JSON gives them back unchanged); a float
    column only loses NaN and infinities; every other column goes through `json_labels`. A
    test checks the result equals `json_labels` on a row of every type.
    """
    rules = []  # (column, rule) in schema order: "exact", "float" or "json"
    for name in label_columns(schema):
        t = schema.field(name).type
        value = t.value_type if pa.types.is_dictionary(t) else t
        exact = any(is_(value) for is_ in _EXACT_IN_JSON)
        rules.append(
            (name, "exact" if exact else "float" if pa.types.is_floating(value) else "json")
        )

    def convert(row: dict) -> dict:
        out = {}
        for name, rule in rules:
            value = row[name]
            if rule == "float" and value is not None and not math.isfinite(value):
                value = None
            elif rule == "json":
                value = json_labels({name: value})[name]
            out[name] = value
        return out

    return convert


_EXACT_IN_JSON = (
    pa.types.is_integer,
    pa.types.is_boolean,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_null,
)


def filter_table(table: pa.Table, filter: dict | None, where: str = "") -> pa.Table:
    """Rows matching `{column: value or [values]}` (ANDed; `None` matches nulls)."""
    if not filter:
        return table
    if not isinstance(filter, dict):
        raise ValueError(f"filter must be a dict {{column: value or [values]}}, got {filter!r}")
    mask = None
    for column, wanted in filter.items():
        if column not in table.column_names or column in SHARD_COLUMNS:
            raise ValueError(
                f"filter: unknown column {column!r}{where}; label columns: "
                f"{', '.join(label_columns(table.schema))}"
            )
        values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        data = table.column(column)
        try:
            value_set = pa.array(values, type=data.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
            raise ValueError(
                f"filter: values {values!r} do not fit column {column!r} ({data.type}): {err}"
            ) from err
        matches = pc.is_in(data, value_set=value_set, skip_nulls=False)
        matches = pc.fill_null(matches, False)
        mask = matches if mask is None else pc.and_(mask, matches)
    return table.filter(mask)


# Range reads: what a request costs beyond its body, in bytes of shard streamed in the same
# time, for choosing between range reads of a shard's selected members and streaming it whole
# (`use_ranges`). Measured with benchmarks/selective.py (BENCHMARKS.md, "Selective reads"):
# 0.5-1.1 MB over the loopback Hub emulator (range reads won below 3-10 % of a shard),
# 23-56 KB on a local disk with a warm page cache while shards stream through tarfile
# (`dl_manager.iter_archive`). The real Hub's requests cost more (TLS, redirects): 1 MiB, the
# emulator's upper figure, errs towards streaming whole shards there.
REQUEST_COST = {"remote": 1024 * 1024, "local": 64 * 1024}
MAX_GAP = 8 * 1024  # read across a gap this small rather than issue one more request


def sample_example(row: dict, labels, kind: str, members: dict, shard: str) -> dict:
    """A split-table row + its members' bytes from a `kind` shard → the example (the one
    definition: the builder's streams and range reads, and `sousa.fetch`, all use it).

    `labels` is the split table's `label_converter` (label values by the labels-JSON type
    rule). `members` maps member name → bytes (at least the row's `{kind}_filename`, and for
    audio its MIDI member when the row has one). The example has the label columns, `audio` as
    `{"bytes": FLAC, "path": member}` (audio config; decoded by `FlacAudio`) and `midi` bytes
    or None. Checked against the row: member present, size as the table says, FLAC marker.
    """
    name = row[shard_column(kind, "filename")]
    example = labels(row)
    data = _member(row, kind, members, shard)
    if kind == "audio":
        check_flac_header(data, name, shard)
        example["audio"] = {"bytes": data, "path": name}
        has_midi = row[shard_column("midi", "filename")]
        example["midi"] = _member(row, "midi", members, shard) if has_midi else None
    else:
        example["midi"] = data
    return example


def _member(row: dict, kind: str, members: dict, shard: str) -> bytes:
    name, expected = row[shard_column(kind, "filename")], row[shard_column(kind, "size")]
    data = members.get(name)
    if data is None:
        raise SousaDataError(
            f"shard {shard} lacks {name!r}, which the split table puts there (mismatched ids)"
        )
    if expected is not None and expected != len(data):
        raise SousaDataError(
            f"member {name!r} of shard {shard} has {len(data)} bytes, the split table says "
            f"{expected}"
        )
    return data


@dataclass(frozen=True)
class Span:
    """Bytes `[start, end)` of a shard: whole members (headers included) of the selected
    rows `first:stop` (rows in offset order), and whatever lies between them."""

    start: int
    end: int
    first: int
    stop: int


def plan_spans(
    offsets: list[int],
    whole: list[bool],
    sizes: list[int],
    shard_offsets: list[int],
    archive_end: int,
    max_gap: int = MAX_GAP,
) -> list[Span]:
    """Coalesced byte ranges holding selected members of one shard.

    `offsets`/`sizes`: the selected rows' members (ascending offsets). A row with `whole`
    needs its whole sample (an audio member and the MIDI member after it): its span runs to
    the next sample's first header, found among `shard_offsets` (every table member of the
    shard, ascending), or to `archive_end`. Otherwise the span is the member and its header.
    Spans closer than `max_gap` merge: one request instead of two.
    """
    spans: list[Span] = []
    for i, (offset, size, to_next) in enumerate(zip(offsets, sizes, whole)):
        start, end = offset - BLOCK, offset + size
        if to_next:
            j = bisect.bisect_right(shard_offsets, offset)
            end = shard_offsets[j] - BLOCK if j < len(shard_offsets) else archive_end
        if spans and start - spans[-1].end <= max_gap:
            spans[-1] = Span(spans[-1].start, max(end, spans[-1].end), spans[-1].first, i + 1)
        else:
            spans.append(Span(start, end, i, i + 1))
    return spans


def shard_archive_end(manifest: Manifest, shard: str) -> int:
    """Where the last member of `shard` (e.g. `audio/train-00000.tar`) ends: its size in the
    manifest less the end-of-archive blocks."""
    entry = manifest.files.get(shard)
    if entry is None:
        raise SousaDataError(f"the manifest does not list {shard}, which the split table names")
    return entry.size - END_OF_ARCHIVE


def use_ranges(spans: list[Span], shard_size: int, where: str) -> bool:
    """Range-read the spans (rather than stream the whole shard) when their bytes plus a
    request's cost each come to less than the shard."""
    cost = sum(s.end - s.start for s in spans) + len(spans) * REQUEST_COST[where]
    return cost < shard_size


def open_ranged(path: str, size: int | None, download_config: DownloadConfig) -> BinaryIO:
    """A file where every `read(n)` after `seek(o)` fetches exactly bytes `o..o+n`: one HTTP
    range request for a URL (fsspec `cache_type="none"`: no read-ahead), a plain unbuffered
    file locally. `size` (from the manifest) spares a metadata request."""
    if not _is_url(path):
        return open(path, "rb", buffering=0)
    url, options = _prepare_path_and_storage_options(path, download_config=download_config)
    fs, inner = fsspec.core.url_to_fs(url, **options.get(url.split("://", 1)[0], {}))
    return fs.open(inner, "rb", cache_type="none", size=size)


def read_exactly(f: BinaryIO, start: int, length: int, where: str) -> bytes:
    """`length` bytes at `start` of the open file `f` (a short read is a truncated shard)."""
    f.seek(start)
    chunks, remaining = [], length
    while remaining > 0:
        chunk = f.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    if len(data) != length:
        raise SousaDataError(
            f"{where}: expected {length} bytes at offset {start}, got {len(data)} "
            "(truncated shard?)"
        )
    return data


def member_header(header: bytes, shard: str, offset: int) -> tuple[str, int]:
    """(name, size) of the member header at `offset` of a shard (`parse_tar_header`); a block
    that is not one is a `SousaDataError` naming the shard and offset."""
    try:
        return parse_tar_header(header)
    except TarHeaderError as err:
        if str(err) == "no TAR header":
            raise SousaDataError(
                f"shard {shard}: no TAR header at offset {offset}: the split table's offsets do "
                "not match the shard, or the shard is damaged"
            ) from None
        raise SousaDataError(f"shard {shard}: {err}") from None


def span_members(data: bytes, start: int, shard: str) -> dict[str, bytes]:
    """The TAR members (name → bytes) in a span read at `start` of a shard: each header's
    checksum, name and size are parsed, so offsets that miss a header are caught here."""
    members, pos = {}, 0
    while pos + BLOCK <= len(data):
        header = data[pos : pos + BLOCK]
        if header == ZERO_BLOCK:
            break  # the end-of-archive blocks
        name, size = member_header(header, shard, start + pos)
        body = data[pos + BLOCK : pos + BLOCK + size]
        if len(body) != size:
            raise SousaDataError(f"shard {shard}: member {name!r} runs past its span")
        members[name] = body
        pos += member_span(size)
    return members


def archive_members(archive, shard: str) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each member as `dl_manager.iter_archive` streams them (one GET, front
    to back); a shard tarfile cannot read is a `SousaDataError` naming it. (A header damaged
    after the first ends tarfile's walk early: the missing members are reported then.)"""
    try:
        for name, fileobj in archive:
            yield name, fileobj.read()
    except (tarfile.TarError, EOFError) as err:
        raise SousaDataError(f"shard {shard}: not a readable TAR ({err})") from err


def span_examples(data: bytes, span: Span, rows: list[dict], kind: str, labels, shard: str,
                  stems: frozenset) -> Iterator[tuple[str, dict]]:  # fmt: skip
    """(key, example) of each selected row in a span read from a shard (`rows`: the span's
    rows); a member whose sample is not in the split table (`stems`) is a mismatch."""
    members = span_members(data, span.start, shard)
    strangers = sorted(name for name in members if member_key(name) not in stems)
    if strangers:
        raise SousaDataError(
            f"member {strangers[0]!r} of shard {shard} belongs to no sample of the split table "
            "(mismatched ids: shard and table disagree)"
        )
    for row in rows:
        example = sample_example(row, labels, kind, members, shard)
        yield example.get("sample_id", member_key(row[shard_column(kind, "filename")])), example


@dataclass(frozen=True)
class TableRows:
    """Rows of a parquet split table, by position: read when asked, not before.

    `indices` (ascending) are row numbers of the table at `path` (a local path or a URL);
    `read` reads only the row groups holding them, and only `columns`, so a job holds a few
    integers a row until its shard is reached."""

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
            with xopen(self.path, "rb", download_config=self.download_config) as f:
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


@dataclass(frozen=True)
class ShardJob:
    """One shard to read: streamed whole (`archive`) or by range reads (`url` + `spans`).

    `rows` locates every split-table row in this shard (`TableRows`); the builder reads them
    when it reaches the shard (`Sousa._job_rows`), so jobs weigh a few bytes a row however
    many shards and splits there are."""

    kind: str  # "audio" or "midi"
    name: str  # shard file name inside the kind's folder
    rows: TableRows  # ALL the split table's rows in this shard
    archive: Any = None  # streamed: dl_manager.iter_archive(path): (name, file) pairs
    url: str | None = None  # range-read: the shard's path or URL
    size: int = 0  # range-read: the shard's size (manifest)
    spans: tuple = ()  # range-read: the coalesced byte ranges (`plan_spans`) of the selected rows
    order: tuple = ()  # (seed, epoch, window): yield the samples `windowed`; () as written

    @property
    def shard(self) -> str:
        return shard_file_path(self.kind, self.name)


ROW = "__sousa_row__"  # the row-number column added to a split table's index while planning


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


class TypedExamples(FormattedExamplesIterable):
    """The builder's examples with only their decodable columns decoded: what
    `FormattedExamplesIterable` gives for them, without its per-example encoding pass.

    Valid because `Sousa._generate_examples` yields every column already in the python value
    its feature encodes to (`features.encode_example(example) == example`, tested), so that
    pass would change nothing but the decoding. Derived iterables (`shard_data_sources`, …)
    stay of this type; the rest (state dict, shard count) is `FormattedExamplesIterable`'s.
    """

    def __init__(self, ex_iterable, formatting, features, token_per_repo_id, **kwargs):
        super().__init__(ex_iterable, formatting, features, token_per_repo_id, **kwargs)
        self._decoded = [name for name, feature in features.items() if require_decoding(feature)]

    def __iter__(self):
        tokens = self.token_per_repo_id
        for key, example in self.ex_iterable:
            for name in self._decoded:
                value = example.get(name)
                if value is not None:
                    example[name] = decode_nested_example(
                        self.features[name], value, token_per_repo_id=tokens
                    )
            yield key, example

    def shuffle_data_sources(self, generator) -> TypedExamples:
        return self._like(self.ex_iterable.shuffle_data_sources(generator))

    def shard_data_sources(self, num_shards: int, index: int, contiguous=True) -> TypedExamples:
        return self._like(self.ex_iterable.shard_data_sources(num_shards, index, contiguous))

    def reshard_data_sources(self) -> TypedExamples:
        return self._like(self.ex_iterable.reshard_data_sources())

    def _like(self, ex_iterable) -> TypedExamples:
        return TypedExamples(ex_iterable, self.formatting, self.features, self.token_per_repo_id)


class ResumeError(ValueError):
    """A state dict that does not fit the stream it is loaded into (the message says why)."""


class ShardJobExamples(ExamplesIterable):
    """The builder's streamed examples, whose state dict also names the shards it reads.

    `datasets` resumes a reader by its shard index and the samples it yielded in that shard;
    a state saved by a reader of other shards (another `num_workers` or world size, another
    epoch's order) would resume the wrong shards, repeating and losing samples silently.
    Iterating after loading such a state raises `ResumeError`, naming both readers' shards.
    (The names are one string: `datasets` loads a state into the unsplit stream first, where
    a list of another length would not fit.)"""

    def _init_state_dict(self) -> dict:
        super()._init_state_dict()
        self._state_dict["shards"] = self.shard_names()
        return self._state_dict

    def shard_names(self) -> str:
        return " ".join(job.name for job in self.kwargs["jobs"])

    def __iter__(self):
        saved = (self._state_dict or {}).get("shards")
        if saved is not None and saved != self.shard_names():
            raise ResumeError(
                f"this state dict was saved by a reader of shards {saved.split()}, but this "
                f"reader reads {self.shard_names().split()}: resume with the num_workers, "
                "world size, seed and epoch the state was saved with"
            )
        yield from super().__iter__()

    def shuffle_data_sources(self, generator) -> ShardJobExamples:
        """As `datasets` shuffles the shards for an epoch > 0, unless they are in an epoch's
        order already (a seed): that order is the epoch's, whoever iterates it."""
        if self._ordered():
            return self
        return self._like(super().shuffle_data_sources(generator))

    def _ordered(self) -> bool:
        jobs = self.kwargs["jobs"]
        return bool(jobs and jobs[0].order)

    def shard_data_sources(self, num_shards: int, index: int, contiguous=True):
        return self._like(super().shard_data_sources(num_shards, index, contiguous))

    def reshard_data_sources(self) -> ShardJobExamples:
        return self._like(super().reshard_data_sources())

    def in_epoch(self, epoch: int) -> ShardJobExamples:
        """These jobs in `epoch`'s order (`Sousa.epoch_jobs`); self if they are in it."""
        jobs = self.kwargs["jobs"]
        if not self._ordered() or jobs[0].order[1] == epoch:
            return self
        builder = self.generate_examples_fn.__self__
        return self._like_kwargs(self.kwargs | {"jobs": builder.epoch_jobs(jobs, epoch)})

    def _like(self, plain: ExamplesIterable) -> ShardJobExamples:
        return self._like_kwargs(plain.kwargs)

    def _like_kwargs(self, kwargs: dict) -> ShardJobExamples:
        return ShardJobExamples(
            self.generate_examples_fn, kwargs, self.generate_more_kwargs_fn,
            self.sleep_on_threads_shutdown,
        )  # fmt: skip


class SousaStream(datasets.IterableDataset):
    """A split streamed by the builder, as `datasets.IterableDataset` streams it, with one
    shortcut: while its features are the builder's and it has no format, its examples skip
    the per-example encoding pass (`TypedExamples`); they are the same examples. Every
    method deriving a dataset (`cast_column`, `decode`, `map`, `select_columns`, `shuffle`, …)
    returns a plain `IterableDataset`, which applies its features in full, as usual; `map`'s
    function alone is fed by `TypedExamples` (its input features are the stream's)."""

    def map(self, *args, **kwargs) -> datasets.IterableDataset:
        """`IterableDataset.map`, its function fed by `TypedExamples` (the same examples)."""
        mapped = super().map(*args, **kwargs)
        source = mapped._ex_iterable
        if _builder_typed(getattr(source, "ex_iterable", None)):
            inner = source.ex_iterable
            source.ex_iterable = TypedExamples(
                inner.ex_iterable, None, inner.features, inner.token_per_repo_id
            )
        return mapped

    def set_epoch(self, epoch: int) -> None:
        """`IterableDataset.set_epoch`; a stream with a seed (`sousa.load(seed=)`) also takes
        that epoch's order: `set_epoch(e)` gives the order of `load(seed=s, epoch=e)`, here
        and in the datasets derived from this one afterwards (`map`, `split_dataset_by_node`).
        A derived dataset's own `set_epoch` cannot reach the builder: it keeps the order of
        the epoch this stream had when it was derived."""
        super().set_epoch(epoch)
        self._ex_iterable = _in_epoch(self._ex_iterable, self.epoch)

    def _prepare_ex_iterable_for_iteration(self, batch_size: int = 1, drop_last_batch=False):
        # the epoch again: persistent DataLoader workers see set_epoch only through `epoch`
        self._ex_iterable = _in_epoch(self._ex_iterable, self.epoch)
        prepared = super()._prepare_ex_iterable_for_iteration(batch_size, drop_last_batch)
        if not _builder_typed(prepared):
            return prepared
        features, tokens = prepared.features, prepared.token_per_repo_id
        return TypedExamples(prepared.ex_iterable, None, features, tokens)


def _builder_typed(prepared) -> bool:
    """Whether `prepared` only applies a `Sousa` builder's own features, unformatted, to the
    examples of its `_generate_examples` (the one case `TypedExamples` stands in for)."""
    if type(prepared) is not FormattedExamplesIterable or prepared.formatting is not None:
        return False
    source = prepared.ex_iterable
    if type(source) not in (ExamplesIterable, ShardJobExamples):
        return False
    builder = getattr(source.generate_examples_fn, "__self__", None)
    return isinstance(builder, Sousa) and prepared.features == builder.info.features


class Sousa(datasets.GeneratorBasedBuilder):
    """SOUSA drum-rudiment performances from a sousa staging folder or Hub repo."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = SousaConfig
    BUILDER_CONFIGS = [
        SousaConfig(name="audio", version=VERSION, description="labels + FLAC audio + MIDI"),
        SousaConfig(name="midi", version=VERSION, description="labels + MIDI (samples with MIDI)"),
        SousaConfig(name="labels", version=VERSION, description="labels only (no shard read)"),
    ]
    DEFAULT_CONFIG_NAME = "audio"
    DEFAULT_WRITER_BATCH_SIZE = 64  # rows hold ~MB of FLAC each: keep Arrow batches small

    def as_streaming_dataset(self, split=None, base_path=None):
        """`datasets`' streaming dataset (or dict of them by split), each a `SousaStream`."""
        streamed = super().as_streaming_dataset(split=split, base_path=base_path)
        if isinstance(streamed, datasets.IterableDataset):
            return _typed(streamed)
        for name in list(streamed):
            streamed[name] = _typed(streamed[name])
        return streamed

    def __init__(self, *args, **kwargs):
        storage_options = kwargs.get("storage_options") or {}
        self._download_config = DownloadConfig(
            token=kwargs.get("token"), storage_options=storage_options
        )
        self._root = resolve_root(kwargs.get("base_path"), kwargs.get("data_dir"))
        self._manifest = read_manifest(self._root, self._download_config)
        self._splits = manifest_splits(self._manifest)
        if kwargs.get("hash") is None:
            kwargs["hash"] = manifest_fingerprint(self._root, self._manifest)
        self._schema: pa.Schema | None = None
        super().__init__(*args, **kwargs)
        # validate the filter now, against the label schema, rather than mid-download
        filter_table(self._label_schema().empty_table(), self.config.filter, f" in {self._root}")

    @property
    def splits(self) -> list[str]:
        """The splits the staging folder has (from its manifest), in SPLITS order."""
        return list(self._splits)

    @property
    def manifest(self) -> Manifest:
        """The staging folder's manifest (every file's size and sha256, the samples' order)."""
        return self._manifest

    # -- info --------------------------------------------------------------------------------

    def _label_schema(self) -> pa.Schema:
        if self._schema is None:
            if not self._splits:
                raise SousaDataError(f"{self._root}: the manifest lists no split table (data/)")
            path = join(self._root, split_table_path(self._splits[0]))
            with xopen(path, "rb", download_config=self._download_config) as f:
                schema = pq.read_schema(f)
            missing = [c for c in SHARD_COLUMNS if c not in schema.names]
            if missing:
                raise SousaDataError(
                    f"{path}: not a sharded split table, missing columns {missing} "
                    "(was it packaged with --no-sharding?)"
                )
            self._schema = schema.remove_metadata()
        return self._schema

    def _info(self) -> datasets.DatasetInfo:
        schema = self._label_schema()
        features = dict(label_features(schema))
        if self.config.name == "audio":
            features["audio"] = FlacAudio()
        if self.config.name in ("audio", "midi"):
            features["midi"] = datasets.Value("binary")
        return datasets.DatasetInfo(
            description="SOUSA: synthetic drum-rudiment performances with dense labels.",
            features=datasets.Features(features),
        )

    # -- splits ------------------------------------------------------------------------------

    def _split_generators(self, dl_manager):
        if self.config.name not in CONFIGS:
            raise ValueError(f"unknown config {self.config.name!r}; choose from {CONFIGS}")
        download_config = getattr(dl_manager, "download_config", self._download_config)
        problem = no_data_message(self._root, self._manifest, self.config.name)
        if problem:
            raise SousaDataError(problem)
        generators = []
        for split in config_splits(self._manifest)[self.config.name]:
            table_path = dl_manager.download(join(self._root, split_table_path(split)))
            version = self._manifest.files[split_table_path(split)].sha256
            table = TableRows(table_path, None, download_config, version)
            if self.config.name == "labels":
                gen_kwargs = {"table": table, "jobs": None}
            else:
                gen_kwargs = {"table": None, "jobs": self._shard_jobs(dl_manager, table)}
            generators.append(datasets.SplitGenerator(name=split, gen_kwargs=gen_kwargs))
        pa.default_memory_pool().release_unused()
        return generators

    def _index(self, table: TableRows) -> pa.Table:
        """The split table's shard columns of `kind`, the filter's columns and row numbers."""
        kind = self.config.name
        columns = [shard_column(kind, f) for f in ("shard", "offset", "size")]
        columns += [shard_column("midi", "filename")] if kind == "audio" else []
        columns += [c for c in (self.config.filter or {}) if c not in columns]
        with xopen(table.path, "rb", download_config=table.download_config) as f:
            index = pq.ParquetFile(f).read(columns=columns, use_threads=False)
        return index.append_column(ROW, pa.array(np.arange(len(index), dtype=np.int64)))

    def _shard_jobs(self, dl_manager, table: TableRows) -> list[ShardJob]:
        """One job per shard holding selected rows: range reads of those rows' members when
        they cost less than the shard (`use_ranges`), else the whole shard, downloaded (or,
        streaming, located). Without a filter every shard streams whole, so every member is
        checked against the table. Only the split table's shard columns (and the filter's)
        are read here; a job reads its rows' labels when its shard is reached.

        Streaming, every shard of the split is a job; one without selected rows has neither
        archive nor spans and yields nothing. `datasets` gives DataLoader workers and
        `split_dataset_by_node` ranks whole jobs only while their count divides evenly: a
        filter must not change it. With the config's `shard_seed`, streamed jobs come in
        the order `shard_order(n, shard_seed, epoch)` (every process computes the same).
        """
        kind = self.config.name
        streaming = getattr(dl_manager, "is_streaming", False)
        index = self._index(table)
        shard, offset = shard_column(kind, "shard"), shard_column(kind, "offset")
        selected = filter_table(index, self.config.filter)
        names = pc.unique((index if streaming else selected).column(shard).drop_null())
        jobs, streamed = [], []
        for name in sorted(names.to_pylist()):
            in_shard = index.filter(pc.equal(index.column(shard), name))
            rows = selected.filter(pc.equal(selected.column(shard), name)).sort_by(offset)
            where = replace(table, indices=in_shard.column(ROW).to_numpy())
            job = ShardJob(kind, name, where)
            if len(rows) == 0:
                pass  # streaming: kept so the job count does not depend on the filter
            elif spans := self._spans_if_they_pay(job, rows, in_shard):
                url = join(self._root, job.shard)
                job = replace(job, url=url, size=self._shard_size(job), spans=tuple(spans))
            else:
                streamed.append(len(jobs))
            jobs.append(job)
        paths = dl_manager.download([join(self._root, jobs[i].shard) for i in streamed])
        for i, path in zip(streamed, paths):
            jobs[i] = replace(jobs[i], archive=dl_manager.iter_archive(path))
        return self.epoch_jobs(jobs, self.config.epoch) if streaming else jobs

    def epoch_jobs(self, jobs: list[ShardJob], epoch: int) -> list[ShardJob]:
        """`jobs` in the order of `epoch` (`shard_order`), each to yield its samples in that
        epoch's order; as they are without the config's `shard_seed`."""
        seed = self.config.shard_seed
        if seed is None:
            return jobs
        window = self.config.window or WINDOWS.get(self.config.name, 1)
        by_name = {job.name: job for job in jobs}
        order = shard_order(seed, epoch, sorted(by_name))
        return [replace(by_name[name], order=(seed, epoch, window)) for name in order]

    def _shard_size(self, job: ShardJob) -> int | None:
        entry = self._manifest.files.get(job.shard)
        return entry.size if entry else None

    def _spans(self, job: ShardJob, rows: pa.Table, in_shard: pa.Table) -> list[Span]:
        """`rows`: the selected rows of the shard in offset order; `in_shard`: all of them."""
        offset = shard_column(job.kind, "offset")
        whole = [False] * len(rows)
        if job.kind == "audio":  # a sample with MIDI: read on to the next sample
            whole = [
                m is not None for m in rows.column(shard_column("midi", "filename")).to_pylist()
            ]
        return plan_spans(
            rows.column(offset).to_pylist(),
            whole,
            rows.column(shard_column(job.kind, "size")).to_pylist(),
            sorted(in_shard.column(offset).drop_null().to_pylist()),
            (self._shard_size(job) or 0) - END_OF_ARCHIVE,
        )

    def _spans_if_they_pay(self, job: ShardJob, rows: pa.Table, in_shard: pa.Table):
        """A filtered shard's spans when range-reading them costs less than streaming it."""
        size = self._shard_size(job)
        if not self.config.filter or not size:
            return None
        spans = self._spans(job, rows, in_shard)
        where = "remote" if _is_url(self._root) else "local"
        return spans if use_ranges(spans, size, where) else None

    # -- examples ----------------------------------------------------------------------------

    def _generate_examples(self, table=None, jobs=None):
        if table is not None:  # the labels config: the split table's rows, a batch at a time
            yield from self._generate_labels(table)
            return
        labels = label_converter(self._label_schema())
        for job in jobs:
            if job.spans:
                examples = self._generate_ranges(job, labels)
            elif job.archive is not None:
                examples = self._generate_shard(job, labels)
            else:
                continue  # no selected row in that shard
            if job.order:
                seed, epoch, window = job.order
                examples = windowed(examples, seed, epoch, job.name, window)
            yield from examples

    def _generate_labels(self, table: TableRows):
        with xopen(table.path, "rb", download_config=table.download_config) as f:
            parquet = pq.ParquetFile(f)
            convert = label_converter(parquet.schema_arrow)
            columns = label_columns(parquet.schema_arrow)
            for group in range(parquet.num_row_groups):
                batch = filter_table(parquet.read_row_group(group), self.config.filter)
                for row in batch.select(columns).to_pylist():
                    row = convert(row)
                    yield row.get("sample_id", str(row)), row

    def _job_rows(self, job: ShardJob) -> tuple[pa.Table, frozenset]:
        """(the filter's rows of the job's shard, in offset order; the member stems of all
        its rows), read from the split table now."""
        kind = job.kind
        member, offset = shard_column(kind, "filename"), shard_column(kind, "offset")
        columns = [*label_columns(self._label_schema()), member, offset, shard_column(kind, "size")]
        columns += [] if kind == "midi" else [shard_column("midi", f) for f in ("filename", "size")]
        table = job.rows.read(columns)
        stems = frozenset(member_key(name) for name in table.column(member).to_pylist())
        table = filter_table(table, self.config.filter)
        pa.default_memory_pool().release_unused()
        offsets = table.column(offset).to_numpy(zero_copy_only=False)
        return (table if np.all(offsets[1:] >= offsets[:-1]) else table.sort_by(offset)), stems

    def _generate_ranges(self, job: ShardJob, labels):
        """Read only the selected samples' spans of a shard, one request per span."""
        rows, stems = self._job_rows(job)
        with open_ranged(job.url, job.size, self._download_config) as f:
            for span in job.spans:
                data = read_exactly(f, span.start, span.end - span.start, job.shard)
                part = rows.slice(span.first, span.stop - span.first).to_pylist()
                yield from span_examples(data, span, part, job.kind, labels, job.shard, stems)

    def _generate_shard(self, job: ShardJob, labels):
        """Stream one shard; group each sample's adjacent members; check against the table."""
        rows, stems = self._job_rows(job)
        selected = RowsByName(rows, shard_column(job.kind, "filename"))
        wanted = set(selected) | set(
            rows.column(shard_column("midi", "filename")).drop_null().to_pylist()
        )
        seen: set = set()
        members = archive_members(job.archive, job.shard)
        yield from self._walk(job, labels, selected, wanted, stems, members, seen)
        missing = sorted(set(selected) - seen)
        if missing:
            raise SousaDataError(
                f"shard {job.shard} lacks {len(missing)} member(s) the split table "
                f"puts there (mismatched ids): {missing[:5]}"
            )

    def _walk(self, job: ShardJob, labels, selected: dict, wanted: set, stems, archive, seen):
        stem, members = None, {}
        for name, data in archive:
            if member_key(name) not in stems:
                raise SousaDataError(
                    f"member {name!r} of shard {job.shard} belongs to no sample of "
                    "the split table (mismatched ids: shard and table disagree)"
                )
            if member_key(name) != stem:
                yield from self._finish_sample(job, labels, selected, members, seen)
                stem, members = member_key(name), {}
            if name in wanted:
                members[name] = data
        yield from self._finish_sample(job, labels, selected, members, seen)

    def _finish_sample(self, job: ShardJob, labels, selected: dict, members: dict, seen: set):
        for name in members:
            if name in selected:
                seen.add(name)
                example = sample_example(selected[name], labels, job.kind, members, job.shard)
                yield example.get("sample_id", member_key(name)), example


def _in_epoch(ex_iterable, epoch: int):
    return ex_iterable.in_epoch(epoch) if isinstance(ex_iterable, ShardJobExamples) else ex_iterable


def _typed(streamed: datasets.IterableDataset) -> SousaStream:
    source = streamed._ex_iterable
    if type(source) is ExamplesIterable and source.kwargs.get("jobs") is not None:
        source = ShardJobExamples(
            source.generate_examples_fn, source.kwargs, source.generate_more_kwargs_fn,
            source.sleep_on_threads_shutdown,
        )  # fmt: skip
    return SousaStream(
        ex_iterable=source,
        info=streamed.info,
        split=streamed.split,
        formatting=streamed._formatting,
        distributed=streamed._distributed,
        token_per_repo_id=streamed._token_per_repo_id,
    )
