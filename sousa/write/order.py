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

import numpy as np
import pyarrow as pa

from ..layout import ORDERS
from ..tar_format import END_OF_ARCHIVE

T = TypeVar("T")
ORDER_BATCH = 4096  # sample ids hashed at a time


def mixing_key(seed: int, sample_id: str) -> bytes:
    """The sort key of a sample in a shuffled split: blake2b of its id, keyed by the seed."""
    return hashlib.blake2b(
        sample_id.encode("utf-8"), digest_size=16, key=str(seed).encode()
    ).digest()


def ordered(items: Sequence[T], order: str, seed: int, sample_id: Callable[[T], str]) -> list[T]:
    """`items` in the split's sample order (see `sample_order`)."""
    return [items[i] for i in sample_order([sample_id(item) for item in items], order, seed)]


def sample_order(sample_ids: Sequence[str] | pa.Array, order: str, seed: int) -> np.ndarray:
    """The positions of `sample_ids` in the order their samples are written (each split's
    sample order): shuffled by `mixing_key`, or as given ("sorted"). An int64 array, made with
    one digest a sample, `ORDER_BATCH` ids turned into Python values at a time (an Arrow array
    is never made into one list).

    Ties of the 128-bit hash (never seen) fall back to the id, so the order stays total.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if order == "sorted":
        return np.arange(len(sample_ids), dtype=np.int64)
    digests = np.empty((len(sample_ids), 2), dtype=">u8")
    for start in range(0, len(sample_ids), ORDER_BATCH):
        ids = sample_ids[start : start + ORDER_BATCH]
        ids = ids.to_pylist() if isinstance(ids, pa.Array) else ids
        joined = b"".join([mixing_key(seed, sample_id) for sample_id in ids])
        digests[start : start + len(ids)] = np.frombuffer(joined, dtype=">u8").reshape(-1, 2)
    positions = np.lexsort((digests[:, 1], digests[:, 0])).astype(np.int64)
    ranked = digests[positions]
    if len(ranked) > 1 and (ranked[1:] == ranked[:-1]).all(axis=1).any():
        values = sample_ids.to_pylist() if isinstance(sample_ids, pa.Array) else sample_ids
        key = lambda i: (mixing_key(seed, values[i]), values[i])  # noqa: E731
        return np.array(sorted(range(len(values)), key=key), dtype=np.int64)
    return positions


@dataclass(frozen=True)
class Cut:
    """The shards of one split and kind, as ranges of sample indices, and why fewer if so."""

    shards: list[range]
    wanted: int  # the shard count the sizes and the multiple asked for
    note: str | None = None  # set when the split has fewer samples than `wanted`


FEED_SHARDS = (2, 16)  # the fewest shards a split gets by default, and where that stops growing
FEED_SAMPLES = 2000  # samples a shard of that minimum holds at least, before it doubles


def feed_shards(samples: int) -> int:
    """The fewest shards a split of `samples` samples gets by default, so that DataLoader
    workers (which `datasets` gives whole shards) all have one: 2, doubled while every shard
    keeps `FEED_SAMPLES` samples, up to 16 (4 from 8,000 samples, 8 from 16,000, 16 from
    32,000); never more than the samples."""
    low, high = FEED_SHARDS
    count = low
    while count < high and samples >= 2 * count * FEED_SAMPLES:
        count *= 2
    return min(count, samples)


def balanced_cut(
    spans: Sequence[int], target_size: int, multiple: int = 1, minimum: int = 1
) -> Cut:
    """Cut consecutive samples into shards of equal weight, a count that `multiple` divides.

    `spans` are the samples' archive bytes (`member_span` summed over a sample's members).
    The count is `ceil(bytes / (target_size - end of archive))`, at least `minimum`, rounded
    up to a multiple of `multiple`; each boundary goes to the sample edge nearest its share of
    the bytes, so every shard is within one sample of the mean. Where a shard of two or more
    samples would still cross `target_size`, the count grows (in steps of `multiple`) until
    none does, so a shard exceeds it only when one sample alone does. No empty shard: a split
    with fewer samples than shards wanted gets one shard per sample (the note says so).
    O(samples) memory; time O(samples) for the usual first count, O(samples · log²) at worst.
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
    n = _round_up(max(1, minimum, -(-prefix[-1] // capacity)), multiple)
    for _ in range(4):  # usually the first count fits; a shard over the limit wants one more
        if n >= count:
            return _one_per_sample(count, n)
        if (shards := _fitting(prefix, n, target_size)) is not None:
            return Cut(shards, n)
        n += multiple
    found = _fewest_fitting(prefix, n, multiple, capacity, target_size)
    if found is not None:
        return found
    while n < count:  # only if clamping around huge samples broke the bound: rare
        if (shards := _fitting(prefix, n, target_size)) is not None:
            return Cut(shards, n)
        n += multiple
    return _one_per_sample(count, n)


def _one_per_sample(count: int, wanted: int) -> Cut:
    note = None
    if wanted > count:
        note = f"{count} samples, fewer than the {wanted} shards wanted: one shard per sample"
    return Cut([range(i, i + 1) for i in range(count)], wanted, note)


def _fitting(prefix: array, n: int, target_size: int) -> list[range] | None:
    """The balanced cut into `n` shards, or None if a shard of 2+ samples crosses the limit."""
    shards = _boundaries(prefix, n)
    return None if _too_big(prefix, shards, target_size) else shards


def _fewest_fitting(
    prefix: array, n: int, multiple: int, capacity: int, target_size: int
) -> Cut | None:
    """A cut that fits with few shards: `n` or more, in steps of `multiple`.

    Each boundary lands within half a sample of its share, so a shard weighs at most the mean
    plus one sample: with `safe` shards the mean plus the largest sample fits the capacity
    (and one shard per sample always fits). Bisection between `n` and `safe` makes this a few
    tries of O(shards · log samples), not one per count (quadratic). The bisection finds the
    smallest count that fits where fitting is monotone in the count (it nearly always is);
    None if `safe` itself does not fit.
    """
    count = len(prefix) - 1
    largest = max(b - a for a, b in zip(prefix, prefix[1:]))
    safe = count if capacity <= largest else -(-prefix[-1] // (capacity - largest))
    low, high = n // multiple - 1, _round_up(max(safe, n), multiple) // multiple
    best = _fitting(prefix, high * multiple, target_size) if high * multiple < count else None
    if best is None and high * multiple < count:
        return None
    while high - low > 1:  # low: does not fit (or is below n); high: fits
        middle = (low + high) // 2
        if middle * multiple >= count:
            high, best = middle, None
        elif (shards := _fitting(prefix, middle * multiple, target_size)) is not None:
            high, best = middle, shards
        else:
            low = middle
    return Cut(best, high * multiple) if best else _one_per_sample(count, high * multiple)


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
