"""The packaging plan: every file of the staging folder and where each sample's bytes go.

Pure data computed from a validated `Source` before any byte is written: the shards with the
samples they hold (hence every member and byte offset), the split tables, the copies of
`--no-sharding`.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from .errors import InputError
from .limits import check_hub_file_limits
from .shards import Member, ShardInfo, cut, member_span, shard_path, shard_size
from .shards import locations as locations_of
from .source import SPLITS, MediaFile, Sample, Source
from .tables import MEDIA_KINDS, shard_columns, split_table, split_table_path


@dataclass
class Plan:
    """What a packaging run will write, relative to the staging folder."""

    source: Source
    shards: list[SampleShard] = field(default_factory=list)
    tables: dict[str, pa.Table] = field(default_factory=dict)  # data/{split}-….parquet
    copies: dict[str, str] = field(default_factory=dict)  # --no-sharding: dest → source file


@dataclass(frozen=True, eq=False)
class SampleShard:
    """A shard as the consecutive samples it holds; members are derived, not stored.

    Audio shards hold `{key}.flac`, `{key}.json`, `{key}.mid`; MIDI shards `{key}.json`,
    `{key}.mid` (name order, so a sample's members are adjacent and sorted). Holding samples
    rather than members, and the labels JSON's sizes rather than its bytes, keeps the plan of
    100,000 samples to a few tens of MB; the JSON is made again when the shard is written.
    """

    path: str
    kind: str  # "audio" or "midi"
    root: str  # the source folder: media paths are relative to it
    labels: pa.Table  # the source's label table (shared, not copied): JSON is made from it
    samples: tuple[Sample, ...]
    json_sizes: array  # bytes of each sample's labels JSON, parallel to `samples`
    size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", shard_size(size for _, size in self.layout()))

    def layout(self) -> Iterator[tuple[str, int]]:
        for sample, json_size in zip(self.samples, self.json_sizes):
            if self.kind == "audio":
                yield f"{sample.key}.flac", sample.audio.size
            yield f"{sample.key}.json", json_size
            if sample.midi is not None:
                yield f"{sample.key}.mid", sample.midi.size

    def iter_members(self) -> Iterator[Member]:
        taken = self.labels.take(pa.array([s.row for s in self.samples], type=pa.int64()))
        rows = (row for batch in taken.to_batches(1024) for row in batch.to_pylist())
        for sample, row, planned in zip(self.samples, rows, self.json_sizes):
            if self.kind == "audio":
                yield self._media(sample, "flac", sample.audio)
            data = labels_json(row)
            if len(data) != planned:  # every offset after it would be wrong
                raise RuntimeError(f"{sample.sample_id}: labels JSON changed size since planning")
            yield Member(f"{sample.key}.json", len(data), data=data)
            if sample.midi is not None:
                yield self._media(sample, "mid", sample.midi)

    def _media(self, sample: Sample, extension: str, media: MediaFile) -> Member:
        return Member(
            f"{sample.key}.{extension}", media.size, os.path.join(self.root, media.relpath)
        )


def build_plan(source: Source, shard_size: int, sharded: bool = True) -> Plan:
    """Plan shards (or copies) for every split that has samples, then the split tables."""
    plan = Plan(source)
    json_sizes = labels_json_sizes(source.labels) if sharded else array("I")
    for split in SPLITS:
        samples = source.splits[split]
        if not samples:
            continue
        if sharded:
            locations = _plan_split_shards(plan, samples, json_sizes, shard_size)
            columns = shard_columns(samples, locations)
        else:
            columns = _plan_split_copies(plan, samples)
        plan.tables[split_table_path(split)] = split_table(source.labels, samples, columns)
    if not sharded:
        check_hub_file_limits(list(plan.copies) + list(plan.tables))
    return plan


def labels_json_sizes(labels: pa.Table) -> array:
    """Each row's labels JSON size, made batch by batch (the bytes are not kept)."""
    return array(
        "I",
        (len(labels_json(row)) for batch in labels.to_batches(4096) for row in batch.to_pylist()),
    )


def _plan_split_shards(
    plan: Plan, samples: list[Sample], json_sizes: array, shard_size: int
) -> dict[str, dict[str, ShardInfo]]:
    """Cut each kind's samples into shards; return where each sample's media landed."""
    locations: dict[str, dict[str, ShardInfo]] = {kind: {} for kind in MEDIA_KINDS}
    root = str(plan.source.root)
    for kind in MEDIA_KINDS:
        held = [s for s in samples if getattr(s, kind) is not None]
        sizes = array("I", (json_sizes[s.row] for s in held))
        spans = [_group_span(s, size, kind) for s, size in zip(held, sizes)]
        for i, indices in enumerate(cut(spans, shard_size)):
            shard = SampleShard(
                shard_path(kind, samples[0].split, i),
                kind,
                root,
                plan.source.labels,
                tuple(held[j] for j in indices),
                sizes[indices.start : indices.stop],
            )
            plan.shards.append(shard)
            media_names = (f"{s.key}.{MEDIA_EXTENSION[kind]}" for s in shard.samples)
            media = {name: s.sample_id for name, s in zip(media_names, shard.samples)}
            for info in locations_of(shard):
                if info.filename in media:
                    locations[kind][media[info.filename]] = info
    return locations


MEDIA_EXTENSION = {"audio": "flac", "midi": "mid"}


def _group_span(sample: Sample, json_size: int, kind: str) -> int:
    """Archive bytes of one sample's members in a shard of `kind`."""
    span = member_span(json_size)
    if kind == "audio":
        span += member_span(sample.audio.size)
    return span + (member_span(sample.midi.size) if sample.midi is not None else 0)


def labels_json(row: dict) -> bytes:
    """A sample's labels as compact JSON (NaN becomes null: JSON has no NaN)."""
    try:
        text = _ENCODER.encode(row)
    except ValueError:  # a NaN or infinity somewhere: the slow path cleans it
        text = _ENCODER.encode(_finite(row))
    return text.encode()


def _json_default(value):
    """Arrow values JSON has no type for: dates and times as ISO text, decimals as floats."""
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return _finite(float(value))
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as JSON")


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
)


def _plan_split_copies(plan: Plan, samples: list[Sample]) -> dict[str, pa.Array]:
    """--no-sharding: the seed's layout, one file per media file under audio/ and midi/."""
    columns = {}
    for kind in MEDIA_KINDS:
        dests = []
        for s in samples:
            media = getattr(s, kind)
            dest = f"{kind}/{s.key}.{MEDIA_EXTENSION[kind]}" if media else None
            if dest in plan.copies:
                raise InputError(f"--no-sharding: two samples would both be written as {dest}")
            if dest:
                plan.copies[dest] = os.path.join(plan.source.root, media.relpath)
            dests.append(dest)
        columns[kind] = pa.array(dests, type=pa.string())
    return columns
