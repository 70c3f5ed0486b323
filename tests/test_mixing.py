"""Mixing, measured: shuffled shards are fair samples of their split; sorted ones are not.

A generated SOUSA-shaped dataset (16 players over 4 tiers, keys `{tier}{player:03d}_…` that
group a player's samples, as the generator's do), packaged with `--order sorted` and
`--order shuffled` into 12 train shards of 500+ samples (`--shard-multiple 12`). More than 10
shards matters: datasets' `shuffle` feeds its buffer from up to 10 shards at a time, which
would hide a sorted order on fewer. The numbers at full size are in BENCHMARKS.md
(measured with `benchmarks/mixing.py` before it retired; the measuring code is in
tests/shaped.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sousa.write.pipeline import PackageOptions, package_dataset

from .shaped import MIN_SHARD_SAMPLES, shard_distances, stream_window_distances
from .shaped import write_sousa_shaped as write_generated

TRAIN_SHARDS = 12


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict[str, Path]:
    """order → staging folder of the same generated source."""
    root = tmp_path_factory.mktemp("mixing")
    src = write_generated(root / "src", (2, 1, 1), (800, 50, 50), midi=False)
    out = {}
    for order in ("sorted", "shuffled"):
        out[order] = root / order
        options = PackageOptions(
            source=src, out=out[order], order=order, shard_multiple=TRAIN_SHARDS
        )
        package_dataset(options)
    return out


def test_every_shuffled_shard_holds_tiers_and_players_as_its_split_does(packaged):
    for order, staging in packaged.items():
        tiers = shard_distances(staging, "train", "skill_tier")
        profiles = shard_distances(staging, "train", "profile_id")
        assert len(tiers) == TRAIN_SHARDS
        assert all(s["samples"] >= MIN_SHARD_SAMPLES for s in tiers)
        worst_tier = max(s["tvd"] for s in tiers)
        worst_profile = max(s["tvd"] for s in profiles)
        if order == "shuffled":
            assert worst_tier <= 0.10 and worst_profile <= 0.20
        else:  # key order: a shard holds one tier and one or two players
            assert worst_tier > 0.5 and worst_profile > 0.5


def test_a_native_shuffled_stream_mixes_tiers_in_every_window_of_256(packaged, native_audio):
    for order, staging in packaged.items():
        windows = stream_window_distances(staging, "train", "skill_tier")
        assert len(windows) == sum(1 for _ in range(256, 6400 + 1, 256))
        if order == "shuffled":
            assert max(windows) <= 0.15
        else:
            assert max(windows) > 0.15
