"""The packaging plan: every file of the staging folder and where each sample's bytes go.

Pure data computed from a validated `Source` before any byte is written: the shards with
their members (hence every offset), the split tables, the copies of `--no-sharding`.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
from dataclasses import dataclass, field

import pyarrow as pa

from .errors import InputError, first_values
from .shards import Member, ShardInfo, ShardPlan, plan_shards
from .source import SPLITS, Sample, Source
from .tables import MEDIA_KINDS, shard_columns, split_table, split_table_path

HUB_MAX_FILES_PER_REPO = 100_000
HUB_MAX_FILES_PER_FOLDER = 10_000
HUB_MAX_FILE_BYTES = 50 * 10**9


@dataclass
class Plan:
    """What a packaging run will write, relative to the staging folder."""

    source: Source
    shards: list[ShardPlan] = field(default_factory=list)
    tables: dict[str, pa.Table] = field(default_factory=dict)  # data/{split}-….parquet
    copies: dict[str, str] = field(default_factory=dict)  # --no-sharding: dest → source file


def build_plan(source: Source, shard_size: int, sharded: bool = True) -> Plan:
    """Plan shards (or copies) for every split that has samples, then the split tables."""
    plan = Plan(source)
    labels = labels_json_by_row(source.labels) if sharded else []
    for split in SPLITS:
        samples = source.splits[split]
        if not samples:
            continue
        if sharded:
            locations = _plan_split_shards(plan, samples, labels, shard_size)
            columns = shard_columns(samples, locations)
        else:
            columns = _plan_split_copies(plan, samples)
        plan.tables[split_table_path(split)] = split_table(source.labels, samples, columns)
    if not sharded:
        check_hub_file_limits(list(plan.copies) + list(plan.tables))
    return plan


def labels_json_by_row(labels: pa.Table) -> list[bytes]:
    """Each row's labels JSON, built batch by batch (never the whole table as Python dicts)."""
    return [labels_json(row) for batch in labels.to_batches(4096) for row in batch.to_pylist()]


def _plan_split_shards(
    plan: Plan, samples: list[Sample], labels: list[bytes], shard_size: int
) -> dict[str, dict[str, ShardInfo]]:
    """Audio shards hold {key}.flac, {key}.json, {key}.mid; MIDI shards {key}.json, {key}.mid."""
    locations: dict[str, dict[str, ShardInfo]] = {kind: {} for kind in MEDIA_KINDS}
    sample_of_key = {s.key: s.sample_id for s in samples}
    for kind in MEDIA_KINDS:
        groups = [_members(s, labels[s.row], kind) for s in samples if getattr(s, kind)]
        for shard in plan_shards(groups, kind, samples[0].split, shard_size):
            plan.shards.append(shard)
            for member, info in shard.locations():
                key, extension = member.name.split(".", 1)
                if extension == MEDIA_EXTENSION[kind]:
                    locations[kind][sample_of_key[key]] = info
    return locations


MEDIA_EXTENSION = {"audio": "flac", "midi": "mid"}


def _members(sample: Sample, labels: bytes, kind: str) -> list[Member]:
    """A sample's members in name order (flac < json < mid), so they stay adjacent and sorted."""
    members = [Member(f"{sample.key}.json", len(labels), data=labels)]
    if kind == "audio":
        members.append(Member(f"{sample.key}.flac", sample.audio.size, source=sample.audio.path))
    if sample.midi is not None:
        members.append(Member(f"{sample.key}.mid", sample.midi.size, source=sample.midi.path))
    return sorted(members, key=lambda m: m.name)


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
                plan.copies[dest] = media.path
            dests.append(dest)
        columns[kind] = pa.array(dests, type=pa.string())
    return columns


def check_hub_file_limits(paths: list[str]) -> None:
    """The Hub takes at most 100,000 files a repo and 10,000 a folder."""
    per_folder: dict[str, int] = {}
    for path in paths:
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        per_folder[folder] = per_folder.get(folder, 0) + 1
    crowded = [f"{f}/ has {n}" for f, n in per_folder.items() if n > HUB_MAX_FILES_PER_FOLDER]
    if len(paths) > HUB_MAX_FILES_PER_REPO or crowded:
        raise InputError(
            f"this layout has {len(paths):,} files, over the Hub's limits of "
            f"{HUB_MAX_FILES_PER_REPO:,} a repo and {HUB_MAX_FILES_PER_FOLDER:,} a folder "
            f"({first_values(sorted(crowded)) or 'too many in all'}); "
            "package with TAR shards instead (drop --no-sharding)"
        )
