"""Training with the tools users train with: DataLoader workers, epochs, resuming (issue 8).

On `training_staging` (train: 24 samples in TRAIN_SHARDS audio shards), streamed natively
(`load_dataset`) and with `sousa.load`; samples are compared by `sample_id` with the split table.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from .helpers import TRAIN_SHARDS, split_rows
from .streams import LOADERS, open_stream, sample_id, worker_and_id

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_AFTER = 7  # samples read before the state dict is taken: mid-shard, mid-buffer
BUFFER = 6  # a shuffle buffer smaller than the split


@pytest.fixture(params=LOADERS)
def loader(request) -> str:
    if request.param == "native":
        request.getfixturevalue("native_audio")  # datasets' Audio needs torchcodec, even undecoded
    return request.param


def train_ids(staging: Path) -> list[str]:
    return sorted(row["sample_id"] for row in split_rows(staging, "train"))


def audio_shards(staging: Path) -> dict[str, str]:
    return {row["sample_id"]: row["audio_shard"] for row in split_rows(staging, "train")}


def read_with_workers(ds, num_workers: int = 2) -> list[tuple[int, str]]:
    """(worker id, sample id) of each example, in the order a DataLoader yields them."""
    from torch.utils.data import DataLoader

    batches = DataLoader(ds, num_workers=num_workers, batch_size=None, collate_fn=worker_and_id)
    return list(batches)


def test_two_dataloader_workers_yield_every_sample_once_each_reading_whole_shards(
    loader, training_staging, torch_dataloader
):
    ds = open_stream(loader, training_staging)
    assert ds.num_shards == TRAIN_SHARDS
    got = read_with_workers(ds)
    assert sorted(sid for _, sid in got) == train_ids(training_staging)
    shard_of = audio_shards(training_staging)
    shards = defaultdict(set)
    for worker, sid in got:
        shards[worker].add(shard_of[sid])
    assert set(shards) == {0, 1}, "both workers read"
    assert not shards[0] & shards[1], "a shard read by both workers"
    assert len(shards[0]) == len(shards[1]) == TRAIN_SHARDS // 2


def test_set_epoch_changes_the_order_and_every_epoch_yields_the_split_once(
    loader, training_staging, torch_dataloader
):
    ds = open_stream(loader, training_staging, shuffle={"seed": 0, "buffer_size": BUFFER})
    orders = []
    for epoch in (0, 1, 0):
        ds.set_epoch(epoch)
        ids = [sid for _, sid in read_with_workers(ds)]
        assert sorted(ids) == train_ids(training_staging), f"epoch {epoch}"
        orders.append(ids)
    assert orders[1] != orders[0], "set_epoch(1) kept epoch 0's order"
    assert orders[2] == orders[0], "the order is a function of seed and epoch"


# -- resume -------------------------------------------------------------------------------------

RESUME_CASES = {  # name: (shuffle kwargs, epoch)
    "in order": (None, 0),
    "shuffled shards, epoch 1": ({"seed": 0, "buffer_size": 1}, 1),
    "shuffle buffer, epoch 1": ({"seed": 0, "buffer_size": BUFFER}, 1),
}


def native_audio_works() -> bool:
    try:
        import torchcodec.decoders  # noqa: F401
    except Exception:  # the native tests skip (or fail, in CI) through the native_audio fixture
        return False
    return True


def torchdata_works() -> bool:
    try:
        import torchdata.stateful_dataloader  # noqa: F401
    except Exception:  # the stateful test skips (or fails, in CI) through torch_dataloader
        return False
    return True


STATEFUL_BATCH = 2
STATEFUL_AFTER = 5  # batches read before the state is saved: mid-shard in both workers


def stateful_epoch(where: Path, seed: int, epoch: int) -> list[str]:
    from .streams import stateful_loader

    case = {"where": str(where), "seed": seed, "epoch": epoch, "batch_size": STATEFUL_BATCH}
    return [sid for batch in stateful_loader(case) for sid in batch]


def stateful_checkpoint(where: Path) -> tuple[list[str], list[str], dict]:
    """The uninterrupted epoch 1 of a 2-worker `StatefulDataLoader`, its first STATEFUL_AFTER
    batches' ids, and the case to resume from (its `state` taken after those batches)."""
    from .streams import stateful_loader

    full = stateful_epoch(where, 0, 1)
    case = {"where": str(where), "seed": 0, "epoch": 1, "batch_size": STATEFUL_BATCH}
    loader = stateful_loader(case)
    first = []
    for i, batch in enumerate(loader):
        first += batch
        if i + 1 == STATEFUL_AFTER:
            case["state"] = loader.state_dict()
            break
    return full, first, case


@pytest.fixture(scope="module")
def resumed(training_staging, tmp_path_factory) -> dict:
    """{(loader, case): (the uninterrupted epoch, the first CHECKPOINT_AFTER samples, what a
    NEW process reads after loading the state dict taken there, sent to it as JSON)}, and
    under "stateful" the same for a 2-worker `StatefulDataLoader` (its state pickled).
    One child process resumes every case: each process costs the imports of datasets and
    torch."""
    loaders = LOADERS if native_audio_works() else ("sousa",)
    cases, runs = [], {}
    for loader in loaders:
        for name, (shuffle, epoch) in RESUME_CASES.items():
            full = open_stream(loader, training_staging, shuffle=shuffle)
            full.set_epoch(epoch)
            ds = open_stream(loader, training_staging, shuffle=shuffle)
            ds.set_epoch(epoch)
            examples = iter(ds)
            first = [sample_id(next(examples)) for _ in range(CHECKPOINT_AFTER)]
            state = json.loads(json.dumps(ds.state_dict()))  # as a checkpoint file holds it
            runs[loader, name] = ([sample_id(example) for example in full], first)
            case = {"loader": loader, "where": str(training_staging), "shuffle": shuffle}
            cases.append(case | {"epoch": epoch, "state": state})
    stateful = stateful_checkpoint(training_staging) if torchdata_works() else None
    folder = tmp_path_factory.mktemp("resume")
    (folder / "cases.json").write_text(json.dumps(cases))
    out = folder / "out.json"
    command = [sys.executable, "-m", "tests.streams", "resume", str(folder / "cases.json"), out]
    if stateful:
        (folder / "case.pkl").write_bytes(pickle.dumps(stateful[2]))
        command += [folder / "case.pkl", folder / "rest.json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rests = json.loads(out.read_text())
    got = {case: (*runs[case], rest) for case, rest in zip(runs, rests)}
    if stateful:
        got["stateful"] = (*stateful[:2], json.loads((folder / "rest.json").read_text()))
    return got


@pytest.mark.parametrize("case", ["in order", "shuffled shards, epoch 1"])
def test_a_new_process_resumes_the_epoch_from_a_state_dict_repeating_and_skipping_nothing(
    loader, resumed, case, training_staging
):
    full, first, rest = resumed[loader, case]
    assert sorted(full) == train_ids(training_staging)
    assert first + rest == full, "the resumed epoch differs from the uninterrupted one"


def test_resuming_a_shuffle_buffer_repeats_nothing_and_loses_only_the_buffer(
    loader, resumed, training_staging
):
    """datasets documents it: a state dict does not hold the shuffle buffer's samples, so
    they are lost on resume. Shuffle with buffer_size=1 (shards shuffled and interleaved)
    where a resume must see every sample."""
    full, first, rest = resumed[loader, "shuffle buffer, epoch 1"]
    assert sorted(full) == train_ids(training_staging)
    assert len(set(first + rest)) == len(first + rest), "a sample repeated"
    lost = set(full) - set(first) - set(rest)
    assert 0 < len(lost) < BUFFER


# -- resume with workers, a new shard order every epoch (issue 16 item 6) ------------------------


def test_seed_and_epoch_give_each_epoch_its_own_shard_order_the_same_in_every_run(
    training_staging, torch_dataloader
):
    import sousa

    orders = {e: stateful_epoch(training_staging, 0, e) for e in (0, 1)}
    assert stateful_epoch(training_staging, 0, 0) == orders[0], "same seed and epoch, same order"
    assert orders[1] != orders[0], "epoch 1 kept epoch 0's order"
    for order in orders.values():
        assert sorted(order) == train_ids(training_staging)
    shards = [
        job.name
        for e in (0, 1)
        for job in sousa.load(
            training_staging, split="train", streaming=True, seed=0, epoch=e
        )._ex_iterable.kwargs["jobs"]
    ]
    assert shards[:TRAIN_SHARDS] != shards[TRAIN_SHARDS:], "the shard order itself changes"


def test_seed_without_streaming_is_refused_naming_the_fix(training_staging):
    import sousa
    from sousa.read.loading import LoadError

    with pytest.raises(LoadError, match=r"seed= orders the shards of a stream"):
        sousa.load(training_staging, split="train", seed=0)
    with pytest.raises(LoadError, match=r"integers ≥ 0, got seed=-1"):
        sousa.load(training_staging, split="train", streaming=True, seed=-1)


def test_a_stateful_dataloader_with_two_workers_resumes_the_epoch_in_a_new_process_exactly(
    training_staging, torch_dataloader, resumed
):
    full, first, rest = resumed["stateful"]
    assert len(first) == STATEFUL_AFTER * STATEFUL_BATCH
    assert first + rest == full, "the resumed epoch differs from the uninterrupted one"
    assert sorted(full) == train_ids(training_staging)
