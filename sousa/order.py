"""Which sample goes into which shard: the mixed order of a split, and the balanced cut.

A SOUSA key starts with the skill tier and the player, so key order puts one or two players in
each shard, and a streaming shuffle buffer, which draws from the few shards it is reading,
cannot mix them. Mixing therefore happens here, before sharding: each split is ordered by a
keyed hash of its sample ids, a pure function of `(seed, sample_id)`, so the output is the same
for the same input and seed whatever the number of workers or the input's row order.

`datasets` hands whole shards to DataLoader workers and to `split_dataset_by_node` ranks, so
the shard count of a split is rounded up to a multiple the user names, and the samples are
spread so that the shards weigh the same to within one sample.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .layout import ORDERS
from .shards import END_OF_ARCHIVE

T = TypeVar("T")


def mixing_key(seed: int, sample_id: str) -> bytes:
    """The sort key of a sample in a shuffled split: blake2b of its id, keyed by the seed."""
    return hashlib.blake2b(
        sample_id.encode("utf-8"), digest_size=16, key=str(seed).encode()
    ).digest()


def ordered(items: Sequence[T], order: str, seed: int, sample_id: Callable[[T], str]) -> list[T]:
    """`items` in the split's shard order: shuffled by `mixing_key`, or as given ("sorted").

    Ties of the 128-bit hash (never seen) fall back to the id, so the order stays total.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if order == "sorted":
        return list(items)
    return sorted(items, key=lambda item: (mixing_key(seed, sample_id(item)), sample_id(item)))


@dataclass(frozen=True)
class Cut:
    """The shards of one split and kind, as ranges of sample indices, and why fewer if so."""

    shards: list[range]
    wanted: int  # the shard count the sizes and the multiple asked for
    note: str | None = None  # set when the split has fewer samples than `wanted`


def balanced_cut(spans: Sequence[int], target_size: int, multiple: int = 1) -> Cut:
    """Cut consecutive samples into shards of equal weight, a count that `multiple` divides.

    `spans` are the samples' archive bytes (`member_span` summed over a sample's members).
    The count is `ceil(bytes / (target_size - end of archive))` rounded up to a multiple of
    `multiple`; each boundary goes to the sample edge nearest its share of the bytes, so every
    shard is within one sample of the mean. Where a shard of two or more samples would still
    cross `target_size`, the count grows by `multiple` until none does, so a shard exceeds it
    only when one sample alone does. No empty shard: a split with fewer samples than shards
    wanted gets one shard per sample (the note says so). O(samples) time and memory.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    count = len(spans)
    if count == 0:
        return Cut([], 0)
    prefix = array("q", [0])
    for span in spans:
        prefix.append(prefix[-1] + span)
    capacity = max(1, target_size - END_OF_ARCHIVE)
    n = _round_up(max(1, -(-prefix[-1] // capacity)), multiple)
    while n < count:
        shards = _boundaries(prefix, n)
        if not _too_big(prefix, shards, target_size):
            return Cut(shards, n)
        n += multiple
    note = None
    if n > count:
        note = f"{count} samples, fewer than the {n} shards wanted: one shard per sample"
    return Cut([range(i, i + 1) for i in range(count)], n, note)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _boundaries(prefix: array, n: int) -> list[range]:
    """n consecutive non-empty ranges whose byte sums are nearest to `total * i / n`."""
    count = len(prefix) - 1
    total = prefix[-1]
    starts = [0]
    for i in range(1, n):
        target = (i * total + n // 2) // n
        j = bisect_left(prefix, target)
        if j > 0 and target - prefix[j - 1] < prefix[j] - target:
            j -= 1
        starts.append(min(max(j, starts[-1] + 1), count - (n - i)))
    return [range(a, b) for a, b in zip(starts, [*starts[1:], count])]


def _too_big(prefix: array, shards: list[range], target_size: int) -> bool:
    """Whether a shard of two or more samples crosses `target_size` (end of archive counted)."""
    return any(
        len(r) > 1 and prefix[r.stop] - prefix[r.start] + END_OF_ARCHIVE > target_size
        for r in shards
    )
