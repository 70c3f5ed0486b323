"""The packaging plan: every file of the staging folder and where each sample's bytes go.

Pure data computed from a validated `Source` before any byte is written: the shards with the
samples they hold (hence every member and byte offset), the split tables, the copies of
`--no-sharding`.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from .errors import InputError
from .layout import (
    MEDIA_KINDS,
    MEMBER_EXTENSIONS,
    SPLITS,
    labels_json,
    sample_members,
    shard_path,
    split_table_path,
)
from .limits import check_hub_file_limits
from .order import balanced_cut, ordered
from .shards import Member, ShardInfo, shard_size
from .shards import locations as locations_of
from .source import MediaFile, Sample, Source
from .tables import shard_columns, split_table
from .tar_format import member_span


@dataclass
class Plan:
    """What a packaging run will write, relative to the staging folder."""

    source: Source
    order: str = "shuffled"  # how samples are ordered within a split (layout.ORDERS)
    seed: int = 0  # the seed of the shuffled order
    shards: list[SampleShard] = field(default_factory=list)
    tables: dict[str, pa.Table] = field(default_factory=dict)  # data/{split}-….parquet
    copies: dict[str, str] = field(default_factory=dict)  # --no-sharding: dest → source file
    notes: list[str] = field(default_factory=list)  # what the summary must say (fewer shards)


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

    @property
    def name(self) -> str:
        """The shard's file name inside its kind's folder (the `{kind}_shard` column)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def split(self) -> str:
        return self.samples[0].split

    def layout(self) -> Iterator[tuple[str, int]]:
        for sample, json_size in zip(self.samples, self.json_sizes):
            for name, part in sample_members(self.kind, sample.key, sample.midi is not None):
                yield name, json_size if part == "labels" else _media(sample, part).size

    def iter_members(self) -> Iterator[Member]:
        taken = self.labels.take(pa.array([s.row for s in self.samples], type=pa.int64()))
        rows = (row for batch in taken.to_batches(1024) for row in batch.to_pylist())
        for sample, row, planned in zip(self.samples, rows, self.json_sizes):
            for name, part in sample_members(self.kind, sample.key, sample.midi is not None):
                if part != "labels":
                    media = _media(sample, part)
                    yield Member(name, media.size, os.path.join(self.root, media.relpath))
                    continue
                data = labels_json(row)
                if len(data) != planned:  # every offset after it would be wrong
                    raise RuntimeError(f"{sample.sample_id}: labels JSON changed size")
                yield Member(name, len(data), data=data)


def _media(sample: Sample, part: str) -> MediaFile:
    """The source file behind a media part ("audio" or "midi") of a sample."""
    return sample.audio if part == "audio" else sample.midi


def build_plan(
    source: Source,
    shard_size: int,
    sharded: bool = True,
    *,
    order: str = "shuffled",
    seed: int = 0,
    shard_multiple: int = 1,
) -> Plan:
    """Plan shards (or copies) for every split that has samples, then the split tables.

    Each split's samples are put in `order` (see `order.ordered`) once, here: shards, split
    tables and copies all follow it, so a table lists its rows in the order a stream yields them.
    """
    plan = Plan(source, order, seed)
    json_sizes = labels_json_sizes(source.labels) if sharded else array("I")
    for split in SPLITS:
        samples = ordered(source.splits[split], order, seed, lambda s: s.sample_id)
        if not samples:
            continue
        if sharded:
            locations = _plan_split_shards(plan, samples, json_sizes, shard_size, shard_multiple)
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
    plan: Plan, samples: list[Sample], json_sizes: array, shard_size: int, multiple: int
) -> dict[str, dict[str, ShardInfo]]:
    """Cut each kind's samples into balanced shards; return where each sample's media landed."""
    locations: dict[str, dict[str, ShardInfo]] = {kind: {} for kind in MEDIA_KINDS}
    root = str(plan.source.root)
    for kind in MEDIA_KINDS:
        held = [s for s in samples if getattr(s, kind) is not None]
        sizes = array("I", (json_sizes[s.row] for s in held))
        spans = array("q", (_group_span(s, size, kind) for s, size in zip(held, sizes)))
        cut = balanced_cut(spans, shard_size, multiple)
        if cut.note:
            plan.notes.append(f"{kind}/{samples[0].split}: {cut.note}")
        for i, indices in enumerate(cut.shards):
            shard = SampleShard(
                shard_path(kind, samples[0].split, i),
                kind,
                root,
                plan.source.labels,
                tuple(held[j] for j in indices),
                sizes[indices.start : indices.stop],
            )
            plan.shards.append(shard)
            media_names = (f"{s.key}.{MEMBER_EXTENSIONS[kind]}" for s in shard.samples)
            media = {name: s.sample_id for name, s in zip(media_names, shard.samples)}
            for info in locations_of(shard.name, shard.layout()):
                if info.filename in media:
                    locations[kind][media[info.filename]] = info
    return locations


def _group_span(sample: Sample, json_size: int, kind: str) -> int:
    """Archive bytes of one sample's members in a shard of `kind`."""
    return sum(
        member_span(json_size if part == "labels" else _media(sample, part).size)
        for _, part in sample_members(kind, sample.key, sample.midi is not None)
    )


def _plan_split_copies(plan: Plan, samples: list[Sample]) -> dict[str, pa.Array]:
    """--no-sharding: the seed's layout, one file per media file under audio/ and midi/."""
    columns = {}
    for kind in MEDIA_KINDS:
        dests = []
        for s in samples:
            media = getattr(s, kind)
            dest = f"{kind}/{s.key}.{MEMBER_EXTENSIONS[kind]}" if media else None
            if dest in plan.copies:
                raise InputError(f"--no-sharding: two samples would both be written as {dest}")
            if dest:
                plan.copies[dest] = os.path.join(plan.source.root, media.relpath)
            dests.append(dest)
        columns[kind] = pa.array(dests, type=pa.string())
    return columns
