"""Free space: is there room at `--out` for what a plan will write? Checked before writing.

Shards (and `--no-sharding` copies, and the builder) have exact sizes in the plan; parquet
tables, the card and the manifest are estimated from above. Files already in the staging
folder count as they will be used: kept as they are (trusted by their stamps), replaced (a
file is written beside the one it replaces, then renamed over it), or removed before writing
(files the plan does not have, temporary files of dead runs).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..layout import (
    BUILDER_PATH,
    CARD_PATH,
    MANAGED_FOLDERS,
    MANIFEST_PATH,
    SPLITS,
    auxiliary_table_path,
)
from .staging import MANAGED_FILES

if TYPE_CHECKING:
    from .plan import Plan

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def check_free_space(out: Path, planned: dict[str, int], kept: Iterable[str]) -> int:
    """Raise `InputError` "needs X, Y free at DIR" unless `planned` (relative path → bytes)
    fits at `out`, given the files there and those `kept` unwritten; returns the bytes needed."""
    kept = set(kept)
    existing = _existing_sizes(out)
    grow = peak = 0
    for rel, size in planned.items():
        if rel in kept:
            existing.pop(rel, None)
            continue
        old = existing.pop(rel, 0)
        grow += max(0, size - old)
        peak = max(peak, min(size, old))  # the new file beside the old one, until the rename
    removed = sum(existing.values())  # stale files, dead runs' temporary files, the manifest
    needed = max(0, grow - removed) + peak
    free = shutil.disk_usage(_nearest_existing(out)).free
    if needed > free:
        shown_needed, shown_free = human_size(needed), human_size(free)
        if shown_needed == shown_free:
            shown_needed, shown_free = f"{needed:,} bytes", f"{free:,} bytes"
        raise InputError(
            f"not enough disk space: needs {shown_needed}, {shown_free} free at {out} "
            "(nothing was written; free some space or choose another --out)"
        )
    return needed


TABLE_SLACK = 1 << 16  # bytes added to each estimated table and to the card (headers, footers)


def planned_sizes(plan: Plan, builder_size: int) -> dict[str, int]:
    """Every file the plan writes → its size: exact for shards, copies and the builder (of
    `builder_size`); from above for parquet tables (their Arrow size), auxiliary tables (twice
    their source's share), the card and the manifest."""
    sizes = {shard.path: shard.size for shard in plan.shards}
    sizes |= {dest: os.stat(src).st_size for dest, src in plan.copies.items()}
    sizes |= {rel: table.nbytes + TABLE_SLACK for rel, table in plan.tables.items()}
    total = plan.source.num_samples or 1
    for name, path in plan.source.auxiliary.items():
        for split in SPLITS:
            share = os.stat(path).st_size * len(plan.source.splits[split]) // total
            if plan.source.splits[split]:
                sizes[auxiliary_table_path(name, split)] = 2 * share + TABLE_SLACK
    sizes[BUILDER_PATH] = builder_size
    sizes[CARD_PATH] = 4 * len(plan.source.readme or "") + TABLE_SLACK
    sizes[MANIFEST_PATH] = 256 * (len(sizes) + 1) + TABLE_SLACK
    return sizes


def human_size(n: float) -> str:
    """`1.2 GB` (decimal units, as `--shard-size` reads them)."""
    for unit in _UNITS:
        if n < 1000 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _existing_sizes(out: Path) -> dict[str, int]:
    """Relative path → size of the files a run may keep, replace or remove."""
    if not out.is_dir():
        return {}
    paths = [out / name for name in MANAGED_FILES] + list(out.glob(".*.incomplete"))
    for folder in MANAGED_FOLDERS:
        paths += (out / folder).rglob("*")
    sizes = {}
    for path in paths:
        if path.is_file() and not path.is_symlink():
            sizes[path.relative_to(out).as_posix()] = path.stat().st_size
    return sizes


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path
