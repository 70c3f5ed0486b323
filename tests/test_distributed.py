"""Many nodes: `split_dataset_by_node` ranks read disjoint whole shards (issue 8, item 5).

In one process rank by rank, over the loopback Hub emulator (what each rank downloads), and in
two real `torch.distributed` processes (gloo on loopback), each through a 2-worker DataLoader.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets.distributed import split_dataset_by_node

import sousa
from sousa.hub.push import push

from .helpers import TRAIN_SHARDS
from .streams import LOADERS, open_stream, sample_id
from .test_training import ROOT, audio_shards, train_ids

REPO = "user/sousa"


@pytest.fixture(params=LOADERS)
def loader(request) -> str:
    if request.param == "native":
        request.getfixturevalue("native_audio")
    return request.param


def rank_parts(streams: list) -> list[list[str]]:
    return [[sample_id(example) for example in ds] for ds in streams]


def assert_partition(parts: list[list[str]], everything: list[str]) -> None:
    """Disjoint, nothing repeated, and together exactly `everything`."""
    ids = [sid for part in parts for sid in part]
    assert sorted(ids) == sorted(everything), "the ranks' samples are not the split, once each"


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_read_disjoint_whole_shards_that_together_are_the_split(
    loader, world_size, training_staging
):
    shard_of = audio_shards(training_staging)
    for shuffle, epoch in [(None, 0), ({"seed": 0, "buffer_size": 4}, 1)]:
        streams = []
        for rank in range(world_size):
            ds = open_stream(loader, training_staging, shuffle=shuffle)
            ds = split_dataset_by_node(ds, rank, world_size)
            ds.set_epoch(epoch)
            assert ds.num_shards == TRAIN_SHARDS // world_size
            streams.append(ds)
        parts = rank_parts(streams)
        assert_partition(parts, train_ids(training_staging))
        owners = Counter(shard for part in parts for shard in {shard_of[sid] for sid in part})
        assert set(owners.values()) == {1}, f"a shard read by several ranks: {owners}"


def table_bytes(staging: Path) -> int:
    """manifest.json, the card and every split table: what a loader reads besides shards."""
    files = [staging / "manifest.json", staging / "README.md", *staging.glob("data/*")]
    return sum(path.stat().st_size for path in files)


def shard_reads(hub, whole: bool = True) -> list[str]:
    """The shard files (`kind/name.tar`) a client downloaded, one entry per GET; `whole`:
    check that each GET is a whole shard, not a range."""
    reads = [entry for entry in hub.stats.log if entry[0] == "GET" and entry[1].endswith(".tar")]
    assert not whole or all(entry[3] is None for entry in reads), "a shard read by ranges"
    return ["/".join(entry[1].split("/")[-2:]) for entry in reads]


@pytest.mark.parametrize("world_size", [2, 4])
def test_over_the_hub_each_rank_downloads_only_its_own_shards(
    loader, world_size, hub, training_staging
):
    push(training_staging, REPO)
    shard_of = audio_shards(training_staging)
    size = {name: (training_staging / "audio" / name).stat().st_size for name in shard_of.values()}
    # sousa.load reads the train table up to three times: its schema, its shard columns, then
    # the rows of a shard when the shard is reached (a small file is fetched whole each time)
    rereads = 2 * (training_staging / "data/train-00000-of-00001.parquet").stat().st_size
    parts = []
    for rank in range(world_size):
        hub.wait_idle()
        hub.reset_stats()
        ds = split_dataset_by_node(open_stream(loader, REPO), rank, world_size)
        parts.append(rank_parts([ds])[0])
        hub.wait_idle()
        own = {shard_of[sid] for sid in parts[-1]}
        assert sorted(shard_reads(hub)) == sorted(f"audio/{name}" for name in own)
        budget = sum(size[name] for name in own) + table_bytes(training_staging) + rereads
        assert hub.stats.bytes_served <= budget, f"rank {rank}"
    assert_partition(parts, train_ids(training_staging))


def test_with_a_filter_each_selected_shard_is_downloaded_by_one_rank_only(hub, training_staging):
    """A filter leaves some shards without selected rows; streaming keeps them as (empty,
    unread) jobs so the shard count still divides among ranks and no rank reads another's."""
    push(training_staging, REPO)
    rows = pq.read_table(training_staging / "data/train-00000-of-00001.parquet").to_pylist()
    shards_of_tier = defaultdict(set)
    for row in rows:
        shards_of_tier[row["skill_tier"]].add(row["audio_shard"])
    # a tier whose shards do not divide among 4 ranks: without the empty jobs, datasets would
    # fall back to giving every rank every shard and skipping 3 samples out of 4
    tier = next(t for t, shards in sorted(shards_of_tier.items()) if len(shards) % 4)
    wanted = shards_of_tier[tier]
    parts, touched = [], Counter()
    for rank in range(4):
        hub.wait_idle()
        hub.reset_stats()
        ds = sousa.load(REPO, split="train", streaming=True, filter={"skill_tier": tier})
        parts.append([example["sample_id"] for example in split_dataset_by_node(ds, rank, 4)])
        hub.wait_idle()
        touched.update(set(shard_reads(hub, whole=False)))  # whole, or by ranges
    assert_partition(parts, [row["sample_id"] for row in rows if row["skill_tier"] == tier])
    assert set(touched) == {f"audio/{name}" for name in wanted}, "an unselected shard was read"
    assert set(touched.values()) == {1}, f"a shard read by several ranks: {touched}"


# -- torch.distributed ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_torch_distributed_processes_read_disjoint_parts_through_dataloaders(
    training_staging, tmp_path, native_audio, torch_dataloader
):
    out = tmp_path / "ranks.json"
    env = os.environ | {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": "2",
        # gloo on loopback, whatever the host name resolves to
        "GLOO_SOCKET_IFNAME": "lo0" if sys.platform == "darwin" else "lo",
    }
    command = [sys.executable, "-m", "tests.streams", "distributed", training_staging, out]
    ranks = [
        subprocess.Popen(command, cwd=ROOT, env=env | {"RANK": str(rank)}, stderr=subprocess.PIPE)
        for rank in range(2)
    ]
    errors = [rank.communicate(timeout=300)[1].decode()[-3000:] for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], errors
    everyone = json.loads(out.read_text())
    for loader in LOADERS:
        parts = [[sid for _, sid in rank[loader]] for rank in everyone]
        assert_partition(parts, train_ids(training_staging))
        for rank in everyone:
            assert {worker for worker, _ in rank[loader]} == {0, 1}, "both workers of a rank read"
