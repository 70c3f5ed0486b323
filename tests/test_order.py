"""Mixed order and balanced shards: pure functions of the input, recorded, divisible, even."""

from __future__ import annotations

import json
import random
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from sousa.layout import MEDIA_KINDS, SPLITS, split_table_path
from sousa.package import main
from sousa.staged import sha256_file
from sousa.write.order import balanced_cut, mixing_key, ordered
from sousa.write.pipeline import PackageOptions, package_dataset
from sousa.write.shards import BLOCK, END_OF_ARCHIVE
from sousa.write.staging import MANIFEST

from .helpers import SMALL_SHARD, rewrite_samples, source_rows, split_rows


def check_cut(spans: list[int], target: int, multiple: int) -> None:
    """Every rule of the balanced cut, worked out from the sizes alone."""
    cut = balanced_cut(spans, target, multiple)
    shards = cut.shards
    assert [i for r in shards for i in r] == list(range(len(spans))), "consecutive, all once"
    assert all(len(r) > 0 for r in shards), "no empty shard"
    first_count = max(1, -(-sum(spans) // max(1, target - END_OF_ARCHIVE)))
    first_count = -(-first_count // multiple) * multiple
    if len(spans) < cut.wanted:
        assert len(shards) == len(spans) and cut.note and str(cut.wanted) in cut.note
    else:
        assert len(shards) == cut.wanted >= first_count and len(shards) % multiple == 0
        assert cut.note is None
    sizes = [sum(spans[i] for i in r) + END_OF_ARCHIVE for r in shards]
    mean = sum(sizes) / len(sizes)
    assert all(abs(size - mean) <= max(spans) for size in sizes), "within one sample of mean"
    assert all(size <= target for size, r in zip(sizes, shards) if len(r) > 1)


def test_balanced_cut_keeps_every_rule_on_random_sizes():
    rng = random.Random(0)
    for _ in range(2000):
        count = rng.randint(1, 80)
        if rng.random() < 0.3:  # heavy tail: a few samples far larger than the rest
            spans = [BLOCK * rng.choice([1, 2, 3, 400]) for _ in range(count)]
        else:
            spans = [BLOCK * rng.randint(2, 40) for _ in range(count)]
        target = rng.randint(END_OF_ARCHIVE, sum(spans) + 2 * END_OF_ARCHIVE)
        check_cut(spans, target, rng.randint(1, 6))
        near = rng.randint(END_OF_ARCHIVE + min(spans), END_OF_ARCHIVE + 4 * max(spans))
        check_cut(spans, near, rng.randint(1, 6))  # one to a few samples a shard


def test_many_equal_samples_just_over_one_a_shard_get_one_shard_each():
    """The count search bisects (it once tried every count: minutes for 20,000 samples)."""
    cut = balanced_cut([2048] * 20_000, 3 * 1024 + END_OF_ARCHIVE, 1)
    assert cut.shards == [range(i, i + 1) for i in range(20_000)] and cut.note is None
    check_cut([2048] * 3000, 7 * 1024 + END_OF_ARCHIVE, 2)  # three a shard


def test_balanced_cut_rounds_the_count_up_to_the_multiple_and_spreads_evenly():
    spans = [1000] * 90 + [5000] * 10  # 140,000 bytes
    cut = balanced_cut(spans, 50_000, 4)  # 3 shards by size → 4
    assert len(cut.shards) == 4
    sizes = [sum(spans[i] for i in r) for r in cut.shards]
    assert max(sizes) - min(sizes) <= 5000
    assert balanced_cut(spans, 10**9, 1).shards == [range(0, 100)]


def test_a_split_with_fewer_samples_than_shards_wanted_gets_one_a_sample_and_says_so():
    cut = balanced_cut([2048] * 3, 10**9, 8)
    assert cut.shards == [range(0, 1), range(1, 2), range(2, 3)]
    assert cut.note == "3 samples, fewer than the 8 shards wanted: one shard per sample"


def test_balanced_cut_refuses_a_multiple_below_one():
    with pytest.raises(ValueError, match="multiple"):
        balanced_cut([2048], 10**9, 0)


def test_the_shuffled_order_is_a_pure_function_of_seed_and_sample_id():
    ids = [f"adv{p:03d}_flam_{t}bpm" for p in range(8) for t in range(60, 90)]
    once = ordered(ids, "shuffled", 0, str)
    assert ordered(list(reversed(ids)), "shuffled", 0, str) == once, "input order is irrelevant"
    assert once == sorted(ids, key=lambda i: mixing_key(0, i))
    assert ordered(ids, "shuffled", 1, str) != once
    assert ordered(ids, "sorted", 0, str) == ids
    assert once[:8] != ids[:8] and sorted(once) == sorted(ids)


def test_split_tables_list_rows_in_the_order_the_shards_hold_them(staging):
    for split in SPLITS:
        rows = split_rows(staging, split)
        ids = [r["sample_id"] for r in rows]
        assert ids == sorted(ids, key=lambda i: mixing_key(0, i)), "shuffled, seed 0"
        for kind in MEDIA_KINDS:
            in_table = [r[f"{kind}_filename"] for r in rows if r[f"{kind}_shard"] is not None]
            in_shards = []
            for shard in sorted((staging / kind).glob(f"{split}-*.tar")):
                with tarfile.open(shard) as tar:
                    in_shards += [n for n in tar.getnames() if n in set(in_table)]
            assert in_shards == in_table


def test_order_and_seed_are_recorded_in_manifest_and_card(staging, demo_template, tmp_path):
    manifest = json.loads((staging / MANIFEST).read_text())
    assert (manifest["order"], manifest["seed"]) == ("shuffled", 0)
    assert "`--seed 0`" in DatasetCard.load(staging / "README.md").text
    out = tmp_path / "seed7"
    package_dataset(PackageOptions(source=demo_template, out=out, shard_size=SMALL_SHARD, seed=7))
    manifest = json.loads((out / MANIFEST).read_text())
    assert (manifest["order"], manifest["seed"]) == ("shuffled", 7)
    assert "`--seed 7`" in DatasetCard.load(out / "README.md").text
    for split in SPLITS:
        ids = [r["sample_id"] for r in split_rows(out, split)]
        assert ids == sorted(ids, key=lambda i: mixing_key(7, i))
        assert ids != [r["sample_id"] for r in split_rows(staging, split)]


def test_sorted_order_from_the_command_line_writes_key_order(source, capsys):
    args = [str(source), "--order", "sorted", "--seed", "3", "--shard-size", "150KB", "--quiet"]
    assert main(args) == 0
    staging = source / "hf_staging"
    manifest = json.loads((staging / MANIFEST).read_text())
    assert (manifest["order"], manifest["seed"]) == ("sorted", 3)
    keys = {sid: Path(r["audio_path"]).stem for sid, r in source_rows(source).items()}
    for split in SPLITS:
        ids = [r["sample_id"] for r in split_rows(staging, split)]
        assert ids == sorted(ids, key=keys.get)
    assert "key order (`--order sorted`)" in (staging / "README.md").read_text()


def test_shard_multiple_makes_every_shard_count_divisible_and_shards_even(source):
    package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD, shard_multiple=3))
    staging = source / "hf_staging"
    for split in SPLITS:
        rows = pq.read_table(staging / split_table_path(split)).to_pylist()
        for kind in MEDIA_KINDS:
            shards = sorted((staging / kind).glob(f"{split}-*.tar"))
            assert len(shards) % 3 == 0 and len(shards) >= 3
            sizes = [p.stat().st_size for p in shards]
            largest = max(
                r[f"{kind}_size"] + 3 * 2 * BLOCK for r in rows if r[f"{kind}_shard"] is not None
            )  # a bound on one sample's archive bytes (members, headers, padding)
            assert max(sizes) - min(sizes) <= 2 * largest


def test_a_split_too_small_for_the_multiple_is_reported(source, capsys):
    count = pq.read_metadata(source / "labels" / "samples.parquet").num_rows
    small = {s: 0 for s in SPLITS}
    splits = json.loads((source / "splits.json").read_text())
    for row in source_rows(source).values():
        for split, key in zip(SPLITS, ("train_profile_ids", "val_profile_ids", "test_profile_ids")):
            small[split] += row["profile_id"] in splits[key]
    multiple = count + 1  # more than any split has samples
    assert main([str(source), "--shard-multiple", str(multiple), "--quiet"]) == 0
    out = capsys.readouterr().out
    n = small["validation"]
    assert f"audio/validation: {n} samples, fewer than the {multiple} shards wanted" in out
    assert len(list((source / "hf_staging" / "audio").glob("validation-*.tar"))) == n


@pytest.mark.parametrize("change", [{"seed": 1}, {"order": "sorted"}, {"shard_multiple": 2}])
def test_changing_order_seed_or_multiple_packages_again(source, change):
    options = {"source": source, "shard_size": SMALL_SHARD}
    package_dataset(PackageOptions(**options))
    assert package_dataset(PackageOptions(**options)).reused
    assert not package_dataset(PackageOptions(**options, **change)).reused


def test_an_unknown_order_a_bad_seed_or_multiple_is_a_named_input_error(source, capsys):
    assert main([str(source), "--shard-multiple", "0"]) == 2
    assert "--shard-multiple must be 1 or more" in capsys.readouterr().err
    assert main([str(source), "--seed", "-1"]) == 2
    assert "--seed must be between 0 and 2**64 - 1, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(source), "--order", "random"])
    assert not (source / "hf_staging").exists()


def test_the_row_order_of_the_source_table_does_not_change_a_shard(source, staging):
    """The order is a function of (seed, sample_id) only: reversed input rows, same shards."""
    rewrite_samples(source, lambda columns: {k: v[::-1] for k, v in columns.items()})
    out = source / "hf_staging"
    package_dataset(PackageOptions(source=source, out=out, shard_size=SMALL_SHARD))
    for kind in MEDIA_KINDS:
        ours = {p.name: sha256_file(p) for p in (out / kind).glob("*.tar")}
        assert ours == {p.name: sha256_file(p) for p in (staging / kind).glob("*.tar")}
    for split in SPLITS:
        assert sha256_file(out / split_table_path(split)) == sha256_file(
            staging / split_table_path(split)
        )
