"""Each epoch its own order (issue 22): the order itself, `sousa.load(seed=, epoch=)`, resume.

The order is pure (`sousa.epochs`): its mixing is measured on a split shaped like the issue's
(1,600 samples; 5 audio shards of train, 1 midi shard), as positions. The loaders are shown
to read exactly that order from real staging folders (`training_staging`: train in 8 audio
shards; `small_midi`: the demo without audio, packaged with defaults), in this process, in
another process, and resumed mid-window from a state dict in a new process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from datasets.distributed import split_dataset_by_node

import sousa
from sousa.epochs import WINDOWS, epoch_code, epoch_positions, shard_order, windowed
from sousa.read.loading import LoadError
from sousa.read.typed_stream import ResumeError
from sousa.write.pipeline import PackageOptions, package_dataset

from .helpers import TRAIN_SHARDS, split_rows

ROOT = Path(__file__).resolve().parents[1]
SEED = 0


def shards_of(samples: int, count: int) -> dict[str, int]:
    """`count` shard names → samples each (a balanced cut of `samples`)."""
    return {f"train-{i:05d}.tar": samples // count + (i < samples % count) for i in range(count)}


def recurring(first: list, second: list, size: int) -> float:
    """The share of `first`'s consecutive groups of `size` (pairs: unordered) found again in
    `second` (the same members, in any order)."""

    def groups(order):
        if size == 2:  # every adjacent pair, not only those at even positions
            return {frozenset(pair) for pair in zip(order, order[1:])}
        return {frozenset(order[i : i + size]) for i in range(0, len(order) - size + 1, size)}

    return len(groups(first) & groups(second)) / len(groups(first))


@pytest.mark.parametrize("config, count", [("audio", 5), ("midi", 1)])
def test_epoch_one_repeats_few_of_epoch_zeros_neighbours_even_in_a_single_shard(config, count):
    """On the issue's shape (train 1,000 of 1,600 samples): before, 99.8-100 % of adjacent
    pairs recurred, and with one shard every batch of 16."""
    shards = shards_of(1000, count)
    orders = [epoch_positions(SEED, epoch, shards, WINDOWS[config]) for epoch in (0, 1)]
    for order in orders:
        assert sorted(order) == sorted((s, i) for s, n in shards.items() for i in range(n))
    assert recurring(*orders, 2) <= 0.05, "adjacent pairs of epoch 0 recur in epoch 1"
    assert recurring(*orders, 16) <= 0.01, "batches of 16 of epoch 0 recur in epoch 1"


def test_a_window_holds_at_most_its_size_of_samples():
    read = []

    def source():
        for i in range(1000):
            read.append(i)
            yield i

    in_flight = []  # samples read and not yet yielded, as each one is yielded
    for yielded, _ in enumerate(windowed(source(), SEED, 3, "train-00000.tar", 64)):
        in_flight.append(len(read) - yielded)
    assert max(in_flight) == 64
    assert sorted(windowed(range(1000), SEED, 3, "x", 64)) == list(range(1000))


def test_the_order_depends_on_seed_and_epoch_only_not_on_what_else_is_read():
    names = list(shards_of(100, 6))
    assert shard_order(SEED, 2, names) == shard_order(SEED, 2, list(reversed(names)))
    assert shard_order(SEED, 2, names) != shard_order(SEED, 3, names)
    one = list(windowed(range(50), SEED, 2, names[0], 8))
    assert one == list(windowed(range(50), SEED, 2, names[0], 8))
    assert one != list(windowed(range(50), SEED, 3, names[0], 8))
    assert one != list(windowed(range(50), SEED + 1, 2, names[0], 8))


def test_the_cards_recipe_carries_the_order_code_verbatim(training_staging):
    card = (training_staging / "README.md").read_text()
    assert epoch_code() in card
    assert "import sousa" not in card.split("## Training", 1)[1]


# -- sousa.load -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_midi(demo_template, tmp_path_factory) -> Path:
    """The demo without audio, packaged with defaults: the midi config only."""
    out = tmp_path_factory.mktemp("small_midi") / "hf_staging"
    package_dataset(PackageOptions(source=demo_template, out=out, include_audio=False))
    return out


def ids(ds) -> list[str]:
    return [example["sample_id"] for example in ds]


def loaded_order(where, config: str, epoch: int | None, window: int | None = None) -> list:
    kwargs = {"seed": SEED, "epoch": epoch, "window": window} if epoch is not None else {}
    return ids(sousa.load(where, config, split="train", streaming=True, **kwargs))


def expected_order(where: Path, config: str, epoch: int, window: int) -> list[str]:
    """The epoch's order by `sousa.epochs`, from the split table (rows in written order)."""
    rows = [r for r in split_rows(where, "train") if r[f"{config}_shard"] is not None]
    by_shard: dict[str, list[str]] = {}
    for row in rows:
        by_shard.setdefault(row[f"{config}_shard"], []).append(row["sample_id"])
    counts = {name: len(samples) for name, samples in by_shard.items()}
    return [by_shard[s][i] for s, i in epoch_positions(SEED, epoch, counts, window)]


def test_sousa_load_reads_each_epoch_in_the_order_sousa_epochs_defines(
    training_staging, small_midi
):
    for where, config in [(training_staging, "audio"), (small_midi, "midi")]:
        plain = loaded_order(where, config, None)
        for epoch in (0, 1):
            for window in (None, 2):
                got = loaded_order(where, config, epoch, window)
                assert got == expected_order(where, config, epoch, window or WINDOWS[config])
                assert sorted(got) == sorted(plain), "an epoch is the whole split once"
        assert loaded_order(where, config, 0, 2) != loaded_order(where, config, 1, 2)


def test_set_epoch_gives_the_order_of_load_with_that_epoch(training_staging, small_midi):
    for where, config in [(training_staging, "audio"), (small_midi, "midi")]:
        ds = sousa.load(where, config, split="train", streaming=True, seed=SEED)
        for epoch in (3, 1, 0):
            ds.set_epoch(epoch)
            assert ids(ds) == loaded_order(where, config, epoch), f"{config} epoch {epoch}"


def test_an_epoch_without_a_seed_is_refused(training_staging):
    with pytest.raises(LoadError, match=r"epoch= and window= order a shuffled stream"):
        sousa.load(training_staging, split="train", streaming=True, epoch=3)
    with pytest.raises(LoadError, match=r"window must be an integer ≥ 1"):
        sousa.load(training_staging, split="train", streaming=True, seed=0, window=0)


def test_a_world_size_that_does_not_divide_the_shards_is_warned_about(
    training_staging, monkeypatch
):
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.warns(UserWarning, match=rf"audio/train: {TRAIN_SHARDS} shards do not divide"):
        sousa.load(training_staging, split="train", streaming=True)
    monkeypatch.setenv("WORLD_SIZE", "4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sousa.load(training_staging, split="train", streaming=True)


def test_a_rank_resumes_its_part_exactly_and_another_world_size_is_refused(training_staging):
    def rank0(world_size: int):
        ds = sousa.load(training_staging, split="train", streaming=True, seed=SEED, epoch=1)
        return split_dataset_by_node(ds, rank=0, world_size=world_size)

    ds = rank0(2)
    examples = iter(ds)
    first = [next(examples)["sample_id"] for _ in range(4)]  # into its second shard
    state = json.loads(json.dumps(ds.state_dict()))
    again = rank0(2)
    again.load_state_dict(state)
    assert first + ids(again) == ids(rank0(2)), "the same world size resumes exactly"
    other = rank0(4)
    other.load_state_dict(state)
    with pytest.raises(ResumeError, match=r"saved by a reader of shards \['train-"):
        next(iter(other))


# -- in another process, and resumed there -----------------------------------------------------

RESUME_WINDOW = 4  # smaller than the shards: the checkpoint falls inside a window
RESUME_AFTER = 7  # samples read before the state dict is taken


def child_case(where: Path, config: str) -> dict:
    """The epoch-1 order with RESUME_WINDOW, its first RESUME_AFTER samples and the state dict
    taken there (as a checkpoint file holds it)."""
    ds = sousa.load(
        where, config, split="train", streaming=True, seed=SEED, epoch=1, window=RESUME_WINDOW
    )
    examples = iter(ds)
    first = [next(examples)["sample_id"] for _ in range(RESUME_AFTER)]
    state = json.loads(json.dumps(ds.state_dict()))
    full = loaded_order(where, config, 1, RESUME_WINDOW)
    return {"where": str(where), "config": config, "state": state, "first": first, "full": full}


@pytest.fixture(scope="module")
def other_process(training_staging, small_midi, tmp_path_factory) -> list[dict]:
    """Each case with what a NEW process read: the whole epoch 1, and the rest of it after
    loading the state dict."""
    cases = [child_case(training_staging, "audio"), child_case(small_midi, "midi")]
    folder = tmp_path_factory.mktemp("epochs")
    (folder / "cases.json").write_text(json.dumps(cases))
    command = [sys.executable, "-m", "tests.streams", "epochs", str(folder / "cases.json")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / "cases.json.out").read_text())


def test_another_process_reads_the_same_order_for_the_same_seed_and_epoch(other_process):
    for case in other_process:
        assert case["again"] == case["full"], case["config"]


def test_a_state_dict_taken_mid_window_resumes_the_epoch_in_a_new_process_exactly(other_process):
    for case in other_process:
        assert case["first"] + case["rest"] == case["full"], case["config"]


# -- shards that fit the loaders ---------------------------------------------------------------


def test_by_default_a_split_gets_shards_for_two_workers_and_more_when_larger():
    from sousa.write.order import feed_shards

    assert [feed_shards(n) for n in (1, 2, 600, 7_999, 8_000, 16_000, 32_000, 10**6)] == [
        1, 2, 2, 2, 4, 8, 16, 16,
    ]  # fmt: skip


def test_packaged_with_defaults_every_split_has_two_shards_and_the_dry_run_says_so(
    small_midi, source, capsys
):
    from sousa.layout import SPLITS
    from sousa.package import main

    for split in SPLITS:
        assert len(list((small_midi / "midi").glob(f"{split}-*.tar"))) == 2, split
    assert main([str(source), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "shards: audio 6 (train 2, validation 2, test 2), midi 6 (train 2, " in out
