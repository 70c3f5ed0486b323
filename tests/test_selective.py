"""Selective reads: a filter (or `fetch`) reads the selected samples' members by HTTP range
requests, not their shards; over the loopback Hub emulator, counting the bytes it serves."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

import sousa
from sousa.demo import write_demo
from sousa.hub.push import push
from sousa.layout import SPLITS
from sousa.read.builder import SousaDataError
from sousa.read.package_builder import PackageSousa as Sousa
from sousa.write.pipeline import PackageOptions, package_dataset

from .helpers import split_rows
from .hub_emulator import emulated_hub, point_clients_at

REPO = "user/sousa-selective"
SHARD_SIZE = 4_000_000  # ~110 samples of 0.5 s a shard: 2 train shards, more than a request


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Path:
    """300 samples of 0.5 s packaged into ~4 MB shards: a 2 % filter is a few samples."""
    root = tmp_path_factory.mktemp("selective")
    src = write_demo(root / "src", n_samples=300, seconds=0.5)
    package_dataset(PackageOptions(source=src, out=root / "hf_staging", shard_size=SHARD_SIZE))
    return root


@pytest.fixture(scope="module")
def pushed(wide, tmp_path_factory):
    """`wide` pushed once to an emulator shared by this module's tests, which only read it."""
    home = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as mp, emulated_hub(mp, home) as emu:
        push(wide / "hf_staging", REPO)
        yield emu


@pytest.fixture
def hub(pushed, tmp_path_factory, monkeypatch):
    """The module's emulator, its stats reset and the clients' caches fresh for each test."""
    home = tmp_path_factory.mktemp("hf_home")
    point_clients_at(pushed.endpoint, home, "hf_test_write", monkeypatch)
    pushed.reset_stats()
    return pushed


def two_percent(staging: Path, split: str = "train") -> list[dict]:
    """A seeded ~2 % of a split's rows, from several shards."""
    rows = split_rows(staging, split)
    chosen = random.Random(0).sample(rows, max(1, round(0.02 * len(rows))))
    assert len({r["audio_shard"] for r in chosen}) > 1
    return chosen


def table_bytes(staging: Path, split: str | None = None) -> int:
    """The manifest and the split tables (or only `split`'s table)."""
    if split:
        return (staging / f"data/{split}-00000-of-00001.parquet").stat().st_size
    tables = sum(p.stat().st_size for p in (staging / "data").glob("*.parquet"))
    return tables + (staging / "manifest.json").stat().st_size


def media_bytes(rows: list[dict]) -> int:
    return sum(r["audio_size"] + (r["midi_size"] or 0) for r in rows)


def shard_gets(hub) -> list[tuple]:
    return [entry for entry in hub.stats.log if entry[0] == "GET" and entry[1].endswith(".tar")]


def served(hub) -> int:
    """Every byte of file content the emulator sent: resolve GETs and Xet reconstructions."""
    return hub.stats.bytes_served + hub.stats.bytes_served_xet


def shard_bytes(hub) -> int:
    """Bytes of the shards served, from the Range headers of their GETs (all ranged)."""
    total = 0
    for entry in shard_gets(hub):  # (method, path, status, Range header, …)
        start, end = entry[3].removeprefix("bytes=").split("-")
        total += int(end) - int(start) + 1
    return total


def assert_only_tables_besides_shards(hub) -> None:
    """Apart from the shards, only the manifest and the split tables were downloaded."""
    files = {e[1].split("/resolve/", 1)[1] for e in hub.stats.log if "/resolve/" in e[1]}
    others = {f.split("/", 1)[1] for f in files if not f.endswith(".tar")}
    assert others <= {"manifest.json", *(f"data/{s}-00000-of-00001.parquet" for s in SPLITS)}


def assert_equal_to_source(examples: list[dict], rows: list[dict], source: Path) -> None:
    by_id = {
        r["sample_id"]: r for r in pq.read_table(source / "labels/samples.parquet").to_pylist()
    }
    assert sorted(e["sample_id"] for e in examples) == sorted(r["sample_id"] for r in rows)
    for example in examples:
        src = by_id[example["sample_id"]]
        pcm, rate = sf.read(source / src["audio_path"], dtype="float32")
        np.testing.assert_array_equal(example["audio"]["array"], pcm)
        assert example["audio"]["sampling_rate"] == rate
        midi = (source / src["midi_path"]).read_bytes() if src["midi_path"] else None
        assert example["midi"] == midi


@pytest.mark.parametrize("streaming", [True, False])
def test_a_two_percent_filter_over_the_hub_transfers_its_members_not_its_shards(
    wide, hub, tmp_path, streaming
):
    staging = wide / "hf_staging"
    chosen = two_percent(staging)
    hub.reset_stats()
    ids = [r["sample_id"] for r in chosen]
    ds = sousa.load(
        REPO, split="train", streaming=streaming, filter={"sample_id": ids}, cache_dir=tmp_path
    )
    assert_equal_to_source(list(ds), chosen, wide / "src")
    gets = shard_gets(hub)
    assert gets and all(entry[3] for entry in gets), "every shard read is a Range request"
    assert len(gets) <= len(chosen), "one request per sample at most"
    assert shard_bytes(hub) <= 1.2 * media_bytes(chosen), (shard_bytes(hub), media_bytes(chosen))
    # the tables: each read once, the first split's twice (its schema, then its rows)
    budget = 1.2 * media_bytes(chosen) + table_bytes(staging) + table_bytes(staging, "train")
    assert served(hub) <= budget
    assert_only_tables_besides_shards(hub)


def test_a_filter_selecting_most_of_a_shard_streams_it_whole(wide, hub, tmp_path):
    staging = wide / "hf_staging"
    rows = split_rows(staging, "train")
    shard = rows[0]["audio_shard"]
    chosen = [r for r in rows if r["audio_shard"] == shard][::2]  # every other sample: ~half
    hub.reset_stats()
    ds = sousa.load(REPO, split="train", streaming=True, filter={"sample_id": [r["sample_id"]
                    for r in chosen]})  # fmt: skip
    assert_equal_to_source(list(ds), chosen, wide / "src")
    size = (staging / "audio" / shard).stat().st_size
    assert served(hub) >= size, "streamed whole: fewer, larger requests"
    assert len(shard_gets(hub)) < len(chosen)


def test_fetch_many_ids_coalesces_adjacent_samples_into_one_request(wide, hub):
    staging = wide / "hf_staging"
    rows = split_rows(staging, "train")
    shard = rows[0]["audio_shard"]
    in_shard = sorted(
        (r for r in rows if r["audio_shard"] == shard), key=lambda r: r["audio_offset"]
    )
    adjacent = in_shard[3:6]  # three neighbours: one span
    elsewhere = [r for r in rows if r["audio_shard"] != shard][:1]
    wanted = [*adjacent, *elsewhere]
    ids = [r["sample_id"] for r in reversed(wanted)]
    hub.reset_stats()
    examples = sousa.fetch(REPO, ids)
    assert [e["sample_id"] for e in examples] == ids, "in the order asked"
    assert_equal_to_source(examples, wanted, wide / "src")
    gets = shard_gets(hub)
    assert len(gets) == 2, gets  # one for the three neighbours, one for the other shard
    assert shard_bytes(hub) <= 1.2 * media_bytes(wanted)
    assert served(hub) <= shard_bytes(hub) + table_bytes(staging)
    assert_only_tables_besides_shards(hub)


def test_fetch_and_load_build_the_same_examples(wide):
    staging = wide / "hf_staging"
    chosen = two_percent(staging)
    ids = [r["sample_id"] for r in chosen]
    fetched = {e["sample_id"]: e for e in sousa.fetch(staging, ids)}
    loaded = list(sousa.load(staging, split="train", streaming=True, filter={"sample_id": ids}))
    assert len(loaded) == len(ids)
    for example in loaded:
        other = fetched[example["sample_id"]]
        assert set(other) == set(example)
        mine, theirs = other.pop("audio"), example.pop("audio")
        np.testing.assert_array_equal(mine.pop("array"), theirs.pop("array"))
        assert mine == theirs  # sampling_rate, path
        assert other == example


# -- the range-read path keeps the builder's checks ----------------------------------------


@pytest.fixture
def damaged(wide, tmp_path) -> Path:
    return Path(shutil.copytree(wide / "hf_staging", tmp_path / "damaged"))


def one_sample(staging: Path) -> tuple[dict, Sousa]:
    """A row of train and a builder whose filter selects just it (so: range reads)."""
    row = split_rows(staging, "train")[5]
    b = Sousa(base_path=str(staging), config_name="audio", filter={"sample_id": row["sample_id"]})
    return row, b


def test_range_read_refuses_a_member_without_the_flac_marker(damaged):
    row, b = one_sample(damaged)
    with open(damaged / "audio" / row["audio_shard"], "r+b") as f:
        f.seek(row["audio_offset"])
        f.write(b"\0" * 64)
    pattern = f"member '{row['audio_filename']}' in shard 'audio/.*does not start with 'fLaC'"
    with pytest.raises(SousaDataError, match=pattern):
        list(b.as_streaming_dataset(split="train"))


def change_row_5(staging: Path, column: str, change) -> None:
    """Rewrite one value (train row 5) of a split table column: the table now disagrees
    with the shard."""
    path = staging / "data/train-00000-of-00001.parquet"
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[5] = change(values[5])
    index = table.schema.get_field_index(column)
    pq.write_table(table.set_column(index, column, [values]), path)


@pytest.mark.parametrize(
    "column, change, message",
    [
        # a member read alone is cut short; one read up to the next sample, too long
        ("audio_size", lambda size: size - 1, "{name}.*(the split table says|runs past its span)"),
        ("audio_offset", lambda offset: offset + 512, "no TAR header at offset"),
        (
            "audio_filename",
            lambda name: name.replace(".flac", "x.flac"),
            "belongs to no sample of the split table",
        ),
    ],
)
def test_range_read_refuses_a_table_that_disagrees_with_the_shard(damaged, column, change, message):
    name = split_rows(damaged, "train")[5]["audio_filename"]
    change_row_5(damaged, column, change)
    _, b = one_sample(damaged)
    with pytest.raises(SousaDataError, match=message.format(name=name)):
        list(b.as_streaming_dataset(split="train"))


def test_range_jobs_are_shared_among_dataloader_workers(wide):
    """Range-read shards are jobs in the one `gen_kwargs` list `datasets` splits among
    DataLoader workers: every selected sample arrives exactly once."""
    torch = pytest.importorskip("torch")
    staging = wide / "hf_staging"
    chosen = two_percent(staging)
    ids = [r["sample_id"] for r in chosen]
    ds = sousa.load(staging, split="train", streaming=True, filter={"sample_id": ids})
    assert ds.num_shards == len({r["audio_shard"] for r in split_rows(staging, "train")}) >= 2
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    got = [sample["sample_id"] for sample in loader]
    assert sorted(got) == sorted(ids)
