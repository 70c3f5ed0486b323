"""The order of one epoch of a split, defined once: shards and, within each shard, windows.

An epoch of a split reads its shards in `shard_order(seed, epoch, names)` and the samples of
each shard through `windowed(examples, seed, epoch, shard, window)`: every run of `window`
consecutive samples (the runs start at an offset drawn from the epoch, so neighbours change
runs too) comes out permuted. Every choice is a keyed hash of (seed, epoch, shard name[,
position]) (`epoch_key`), so:

- the order is the same in every process, whatever the number of DataLoader workers or ranks
  that read the shards (a shard's order depends on nothing else);
- a reader that resumes a shard by skipping the samples it already yielded (what `datasets`
  does with a state dict: shard index + samples yielded in that shard) continues the order
  exactly;
- memory is bounded by the window: at most `window` samples, as read (undecoded), are held.
  `WINDOWS` per config: an audio sample is its FLAC bytes (~0.7 MB in the real SOUSA: ~90 MB
  a window; peak RSS grows by ~1.7 × that, benchmarks/epochs.py), a MIDI sample a few KB.

Standard library only: `sousa.read.builder_file` inlines this module into the staged
`builder/sousa.py`, and the card's recipe carries a copy of `EPOCH_CODE` (a test checks that
the copy is this source).
"""

from __future__ import annotations

import hashlib
import inspect

WINDOWS = {"audio": 128, "midi": 1024}


def epoch_key(seed: int, epoch: int, *parts: object) -> int:
    """A 64-bit number drawn from (seed, epoch, parts): BLAKE2b of their text."""
    text = "/".join(str(part) for part in (seed, epoch, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def shard_order(seed: int, epoch: int, shards: list[str]) -> list[str]:
    """The shard file names (base names, e.g. "train-00003.tar") in the epoch's order."""
    return sorted(shards, key=lambda name: epoch_key(seed, epoch, name))


def windowed(examples, seed: int, epoch: int, shard: str, window: int):
    """A shard's examples in the epoch's order: each run of `window` consecutive examples
    (the first run shorter, by an offset drawn from the epoch) permuted by epoch_key."""
    offset = epoch_key(seed, epoch, shard, "offset") % window
    run = []
    for position, example in enumerate(examples):
        run.append((epoch_key(seed, epoch, shard, position), example))
        if (position + 1 - offset) % window == 0:
            yield from (example for _, example in sorted(run, key=lambda pair: pair[0]))
            run = []
    yield from (example for _, example in sorted(run, key=lambda pair: pair[0]))


def epoch_code() -> str:
    """The source of `epoch_key`, `shard_order` and `windowed`, as the card's recipe copies it."""
    return "\n\n".join(inspect.getsource(f) for f in (epoch_key, shard_order, windowed))


def epoch_positions(seed: int, epoch: int, shards: dict[str, int], window: int) -> list[tuple]:
    """(shard, position written) of every sample of a split in the epoch's order, for shards
    of the given sample counts, read one after the other (one reader)."""
    return [
        (name, position)
        for name in shard_order(seed, epoch, shards)
        for position in windowed(range(shards[name]), seed, epoch, name, window)
    ]
