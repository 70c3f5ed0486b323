"""The packaging plan: every file of the staging folder and where each sample's bytes go.

Pure data computed from a validated `Source` before any byte is written: the shards with the
samples they hold (hence every member and byte offset), the split tables, the copies of
`--no-sharding`. Samples are held as arrays of source rows, never as one object each, so a
plan of 100,000 samples takes a few MB; each sample's labels JSON is encoded once, here, and
kept on disk (`LabelsSpool`) until its shards are written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..layout import (
    MEDIA_KINDS,
    MEMBER_EXTENSIONS,
    SPLITS,
    labels_json,
    sample_members,
    shard_path,
    split_table_path,
)
from ..limits import check_hub_file_limits
from ..tar_format import BLOCK, END_OF_ARCHIVE
from .order import balanced_cut, feed_shards, sample_order
from .shards import Member
from .source import Media, Source
from .tables import PlannedTable, ShardLocations

MEMBER_BATCH = 1024  # samples whose member facts are turned into Python values at a time
SPOOL_BATCH = 1024  # label rows encoded at a time (their Python values and JSON held at once)


@dataclass
class Plan:
    """What a packaging run will write, relative to the staging folder."""

    source: Source
    order: str = "shuffled"  # how samples are ordered within a split (layout.ORDERS)
    seed: int = 0  # the seed of the shuffled order
    shards: list[SampleShard] = field(default_factory=list)
    tables: dict[str, PlannedTable] = field(default_factory=dict)  # data/{split}-….parquet
    copies: dict[str, str] = field(default_factory=dict)  # --no-sharding: dest → source file
    notes: list[str] = field(default_factory=list)  # what the summary must say (fewer shards)


class LabelsSpool:
    """The labels JSON of the wanted source rows, each encoded once (`layout.labels_json`).

    The bytes go to an unnamed temporary file, read back member by member (`os.pread`, so
    forked shard writers can share it); memory holds two numbers a source row.
    """

    def __init__(self, source: Source, wanted: np.ndarray) -> None:
        self._file = tempfile.TemporaryFile(prefix="sousa-labels-")  # noqa: SIM115 (lives with the plan)
        self.offsets = np.full(len(wanted), -1, dtype=np.int64)
        self.sizes = np.full(len(wanted), -1, dtype=np.int64)
        position = 0
        for start, table in source.label_batches(SPOOL_BATCH):
            picked = np.flatnonzero(wanted[start : start + table.num_rows])
            if not len(picked):
                continue
            encoded = [labels_json(row) for row in table.take(picked).to_pylist()]
            sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
            self.sizes[start + picked] = sizes
            self.offsets[start + picked] = position + np.cumsum(sizes) - sizes
            position += self._file.write(b"".join(encoded))
        self._file.flush()

    def read(self, row: int) -> bytes:
        size = int(self.sizes[row])
        data = os.pread(self._file.fileno(), size, int(self.offsets[row]))
        if len(data) != size:
            raise RuntimeError(f"source row {row}: labels JSON spool is short")
        return data


@dataclass(frozen=True, eq=False)
class SampleShard:
    """A shard as the consecutive samples it holds; members are derived, not stored.

    Audio shards hold `{key}.flac`, `{key}.json`, `{key}.mid`; MIDI shards `{key}.json`,
    `{key}.mid` (name order, so a sample's members are adjacent and sorted: `sample_members`).
    `samples` are source rows in the split's sample order.
    """

    path: str
    kind: str  # "audio" or "midi"
    split: str
    root: str  # the source folder: media paths are relative to it
    samples: np.ndarray
    media: Media
    labels: LabelsSpool
    size: int  # bytes of the whole archive

    @property
    def name(self) -> str:
        """The shard's file name inside its kind's folder (the `{kind}_shard` column)."""
        return self.path.rsplit("/", 1)[-1]

    def layout(self) -> Iterator[tuple[str, int]]:
        for member in self._members(with_data=False):
            yield member.name, member.size

    def iter_members(self) -> Iterator[Member]:
        return self._members(with_data=True)

    def _members(self, with_data: bool) -> Iterator[Member]:
        sizes = {kind: self.media.sizes[kind] for kind in MEDIA_KINDS}
        for start in range(0, len(self.samples), MEMBER_BATCH):
            rows = self.samples[start : start + MEMBER_BATCH]
            paths = {
                kind: self.media.paths[kind].take(pa.array(rows)).to_pylist()
                for kind in MEDIA_KINDS
            }
            for i, (row, key) in enumerate(zip(rows.tolist(), self.media.keys(rows))):
                has_midi = sizes["midi"][row] >= 0
                for name, part in sample_members(self.kind, key, has_midi):
                    if part == "labels":
                        data = self.labels.read(row) if with_data else None
                        yield Member(name, int(self.labels.sizes[row]), data=data)
                    else:
                        source = os.path.join(self.root, paths[part][i])
                        yield Member(name, int(sizes[part][row]), source)


def build_plan(
    source: Source,
    shard_size: int,
    sharded: bool = True,
    *,
    order: str = "shuffled",
    seed: int = 0,
    shard_multiple: int = 1,
    min_shards: int | None = None,
) -> Plan:
    """Plan shards (or copies) for every split that has samples, then the split tables.

    Each split's samples are put in `order` (see `order.sample_order`) once, here: shards, split
    tables and copies all follow it, so a table lists its rows in the order a stream yields them.
    """
    plan = Plan(source, order, seed)
    spool = LabelsSpool(source, _in_shards(source)) if sharded else None
    ids = source.media.sample_ids
    for split in SPLITS:
        rows = source.split_rows[split]
        if not len(rows):
            continue
        rows = rows[sample_order(ids.take(pa.array(rows)), order, seed)]
        if sharded:
            columns = _plan_split_shards(
                plan, split, rows, spool, shard_size, shard_multiple, min_shards
            )
        else:
            columns = _plan_split_copies(plan, rows)
        plan.tables[split_table_path(split)] = PlannedTable(source, rows, columns)
    if not sharded:
        check_hub_file_limits(list(plan.copies) + list(plan.tables))
    return plan


def _in_shards(source: Source) -> np.ndarray:
    """Which source rows some shard holds: a split's samples with an audio or MIDI file."""
    wanted = np.zeros(len(source.media.sizes["audio"]), dtype=bool)
    has_media = (source.media.sizes["audio"] >= 0) | (source.media.sizes["midi"] >= 0)
    for rows in source.split_rows.values():
        wanted[rows] = has_media[rows]
    return wanted


def _spans(sizes: np.ndarray) -> np.ndarray:
    """`shards.member_span` of each size; 0 where the member is absent (size -1)."""
    return np.where(sizes >= 0, BLOCK + -(-sizes // BLOCK) * BLOCK, 0)


def _plan_split_shards(
    plan: Plan,
    split: str,
    rows: np.ndarray,
    spool: LabelsSpool,
    shard_size: int,
    multiple: int,
    min_shards: int | None = None,
) -> ShardLocations:
    """Cut each kind's samples into balanced shards, at least `min_shards` (None:
    `feed_shards`) a split; return where each sample's media landed."""
    media = plan.source.media
    locations = ShardLocations(rows, media)
    for kind in MEDIA_KINDS:
        held = np.flatnonzero(media.sizes[kind][rows] >= 0)  # positions in the split
        held_rows = rows[held]
        parts = [part for _, part in sample_members(kind, "key", True)]
        sizes = {"labels": spool.sizes[held_rows]}
        sizes |= {k: media.sizes[k][held_rows] for k in MEDIA_KINDS}
        part_spans = {part: _spans(sizes[part]) for part in parts}
        spans = sum(part_spans.values(), np.zeros(len(held), dtype=np.int64))
        before = sum((part_spans[p] for p in parts[: parts.index(kind)]), np.zeros_like(spans))
        fewest = feed_shards(len(held)) if min_shards is None else min(min_shards, len(held))
        cut = balanced_cut(spans, shard_size, multiple, fewest)
        if cut.note:
            plan.notes.append(f"{kind}/{split}: {cut.note}")
        for i, r in enumerate(cut.shards):
            group_spans = spans[r.start : r.stop]
            starts = np.cumsum(group_spans) - group_spans
            path = shard_path(kind, split, i)
            shard = SampleShard(
                path,
                kind,
                split,
                str(plan.source.root),
                held_rows[r.start : r.stop],
                media,
                spool,
                int(group_spans.sum()) + END_OF_ARCHIVE,
            )
            plan.shards.append(shard)
            offsets = starts + before[r.start : r.stop] + BLOCK
            locations.add(kind, shard.name, held[r.start : r.stop], offsets)
    return locations


def _plan_split_copies(plan: Plan, rows: np.ndarray) -> dict[str, pa.Array]:
    """--no-sharding: the seed's layout, one file per media file under audio/ and midi/."""
    columns = {}
    media = plan.source.media
    keys = media.keys(rows)
    for kind in MEDIA_KINDS:
        dests = []
        for key, file in zip(keys, media.files(kind, rows)):
            dest = f"{kind}/{key}.{MEMBER_EXTENSIONS[kind]}" if file else None
            if dest in plan.copies:
                raise InputError(f"--no-sharding: two samples would both be written as {dest}")
            if dest:
                plan.copies[dest] = os.path.join(plan.source.root, file.relpath)
            dests.append(dest)
        columns[kind] = pa.array(dests, type=pa.string())
    return columns
