"""Packaging the demo: layout, offsets, shard cutting, WebDataset rules, determinism, atomicity."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import shutil
import subprocess
import tarfile
from collections import Counter
from itertools import groupby
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from datasets import load_dataset

from sousa import layout as layout_module
from sousa.demo import write_demo
from sousa.layout import (
    AUDIO_PROPERTY_COLUMNS,
    SHARD_COLUMNS,
    SPLITS,
    member_key,
    split_table_path,
)
from sousa.package import main, parse_size
from sousa.staged import sha256_file
from sousa.write import media as media_module
from sousa.write import shards as shards_module
from sousa.write import source as source_module
from sousa.write import source_columns
from sousa.write import tables as tables_module
from sousa.write.media import MediaFile
from sousa.write.pipeline import PackageOptions, package_dataset, plan_package
from sousa.write.shards import BLOCK, END_OF_ARCHIVE, Member
from sousa.write.source import Sample
from sousa.write.staging import MANIFEST

from .helpers import (
    SMALL_SHARD,
    big_sparse_first_sample,
    source_rows,
    split_rows,
    staged_files,
    tree_digest,
)


def read_range(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def test_demo_packages_into_the_hub_layout_with_a_complete_manifest(staging):
    files = sorted(p.relative_to(staging).as_posix() for p in staged_files(staging))
    manifest = json.loads((staging / MANIFEST).read_text())
    assert sorted(manifest["files"]) == [f for f in files if f != MANIFEST]
    for rel, entry in manifest["files"].items():
        assert (staging / rel).stat().st_size == entry["size"]
        assert sha256_file(staging / rel) == entry["sha256"]
    assert {f for f in files if f.startswith("data/")} == {
        f"data/{split}-00000-of-00001.parquet" for split in SPLITS
    }
    assert "builder/sousa.py" in files and "sousa.py" not in files
    assert any(f.startswith("audio/train-00001") for f in files), "small shards: several a split"
    assert {f.split("/")[1] for f in files if f.startswith("auxiliary/")} == {"strokes", "measures"}
    assert not [f for f in files if ".incomplete" in f]


def test_offsets_locate_each_source_file_exactly(staging, demo_template):
    sources = source_rows(demo_template)
    checked = 0
    for split in SPLITS:
        for row in split_rows(staging, split):
            src = sources[row["sample_id"]]
            for kind, path_column in (("audio", "audio_path"), ("midi", "midi_path")):
                if src[path_column] is None:
                    assert row[f"{kind}_shard"] is None and row[f"{kind}_offset"] is None
                    continue
                shard = staging / kind / row[f"{kind}_shard"]
                data = read_range(shard, row[f"{kind}_offset"], row[f"{kind}_size"])
                assert data == (demo_template / src[path_column]).read_bytes()
                checked += 1
    assert checked == sum(1 for r in sources.values() for c in ("audio_path", "midi_path") if r[c])


def test_split_tables_keep_every_label_column_and_add_audio_and_shard_columns(
    staging, demo_template
):
    labels = pq.read_schema(demo_template / "labels" / "samples.parquet").names
    scores = pq.read_schema(demo_template / "labels" / "exercises.parquet").names
    expected = [c for c in labels if c not in ("audio_path", "midi_path")]
    expected += [c for c in scores if c != "sample_id"]
    assert pq.read_schema(staging / split_table_path("train")).names == [
        *expected,
        *AUDIO_PROPERTY_COLUMNS,
        *SHARD_COLUMNS,
    ]
    split_of = json.loads((demo_template / "splits.json").read_text())
    for split, key in zip(SPLITS, ("train_profile_ids", "val_profile_ids", "test_profile_ids")):
        assert {r["profile_id"] for r in split_rows(staging, split)} <= set(split_of[key])


def test_shards_follow_the_webdataset_rules(staging, demo_template):
    """tar -tf lists each sample's members adjacent and sorted; webdataset groups them."""
    sources = source_rows(demo_template)
    for shard in sorted((staging / "audio").glob("*.tar")):
        names = subprocess.run(
            ["tar", "-tf", str(shard)], check=True, capture_output=True, text=True
        ).stdout.split()
        samples = [(key, list(group)) for key, group in groupby(names, member_key)]
        assert len({key for key, _ in samples}) == len(samples), "a sample's members adjacent"
        assert all(group == sorted(group) for _, group in samples), "and in sorted order"
        for sample in wds.WebDataset(str(shard), shardshuffle=False):
            labels = json.loads(sample["json"])
            src = sources[labels["sample_id"]]
            assert sample["__key__"] == Path(src["audio_path"]).stem
            assert sample["flac"] == (demo_template / src["audio_path"]).read_bytes()
            assert ("mid" in sample) == (src["midi_path"] is not None)


def test_labels_json_equals_the_split_table_row(staging):
    rows = {r["sample_id"]: r for r in split_rows(staging, "validation")}
    with tarfile.open(staging / "midi" / "validation-00000.tar") as tar:
        for member in tar.getmembers():
            if member.name.endswith(".json"):
                labels = json.loads(tar.extractfile(member).read())
                row = rows[labels["sample_id"]]
                assert labels == {k: v for k, v in row.items() if k not in SHARD_COLUMNS}
                assert member.mtime == 0 and member.uid == 0 and member.uname == ""


def sample_spans(source: Path, staging: Path, split: str) -> list[int]:
    """Archive bytes of each sample of a split's audio shards, in table order, from file sizes."""

    def span(size: int) -> int:
        return BLOCK + (size + BLOCK - 1) // BLOCK * BLOCK

    sources = source_rows(source)
    spans = []
    for row in split_rows(staging, split):
        src = sources[row["sample_id"]]
        label_json = {k: v for k, v in row.items() if k not in SHARD_COLUMNS}
        members = [(source / src["audio_path"]).stat().st_size]
        members.append(len(json.dumps(label_json, separators=(",", ":")).encode()))
        if src["midi_path"]:
            members.append((source / src["midi_path"]).stat().st_size)
        spans.append(sum(span(s) for s in members))
    return spans


@pytest.mark.parametrize("shard_size", [450_000, 1_200_000, 10**9])
def test_shards_are_balanced_and_cut_at_the_shard_size_counting_headers_and_padding(
    source, shard_size
):
    """The documented rule, from file sizes alone: n = ceil(bytes / shard size), each shard
    within one sample of the mean, none over the shard size unless one sample alone is."""
    package_dataset(PackageOptions(source=source, shard_size=shard_size))
    staging = source / "hf_staging"
    for split in SPLITS:
        written = [p.stat().st_size for p in sorted((staging / "audio").glob(f"{split}-*.tar"))]
        spans = sample_spans(source, staging, split)
        assert sum(written) == sum(spans) + len(written) * END_OF_ARCHIVE
        assert len(written) >= -(-sum(spans) // (shard_size - END_OF_ARCHIVE))
        mean = sum(written) / len(written)
        assert all(abs(size - mean) <= max(spans) for size in written)
        assert all(size <= shard_size for size in written)


def test_a_sample_larger_than_the_shard_size_gets_a_shard_of_its_own(source):
    package_dataset(PackageOptions(source=source, shard_size=1000))
    staging = source / "hf_staging"
    for shard in (staging / "audio").glob("*.tar"):
        with tarfile.open(shard) as tar:
            assert len({n.split(".")[0] for n in tar.getnames()}) == 1
    assert len(list((staging / "audio").glob("*.tar"))) == 40


def test_a_split_without_samples_has_no_shards_and_no_table(source):
    splits = json.loads((source / "splits.json").read_text())
    splits["train_profile_ids"] += splits["test_profile_ids"]
    splits["test_profile_ids"] = []
    (source / "splits.json").write_text(json.dumps(splits))
    package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    staging = source / "hf_staging"
    assert not list(staging.rglob("test-*"))
    card = (staging / "README.md").read_text()
    assert "audio/test-*.tar" not in card and "audio/validation-*.tar" in card


def test_two_runs_and_two_workers_write_byte_identical_files(demo_template, staging, tmp_path):
    again = tmp_path / "again"
    package_dataset(PackageOptions(source=demo_template, out=again, shard_size=SMALL_SHARD))
    parallel = tmp_path / "parallel"
    package_dataset(
        PackageOptions(source=demo_template, out=parallel, shard_size=SMALL_SHARD, workers=2)
    )
    reference = {k: v.split(":")[0] for k, v in tree_digest(staging).items()}
    for out in (again, parallel):
        assert {k: v.split(":")[0] for k, v in tree_digest(out).items()} == reference


def test_nested_and_flat_source_layouts_give_the_same_shards(tmp_path):
    nested = write_demo(tmp_path / "nested", n_samples=12, seconds=0.3, nested=True)
    flat = write_demo(tmp_path / "flat", n_samples=12, seconds=0.3, nested=False)
    assert any(p.is_dir() for p in (nested / "audio").iterdir())
    assert not any(p.is_dir() for p in (flat / "audio").iterdir())
    for root in (nested, flat):
        package_dataset(PackageOptions(source=root, shard_size=200_000))

    def shard_digests(root: Path) -> dict[str, str]:
        staged = root / "hf_staging"
        return {p.name: sha256_file(p) for p in staged.glob("*/*.tar")}

    assert shard_digests(nested) == shard_digests(flat) != {}


def test_an_interrupted_run_leaves_no_partial_file_and_no_manifest(
    demo_template, staging, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    real_read = shards_module._read_member
    calls = {"n": 0}

    def failing_read(member, sink):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt("killed mid-shard")
        return real_read(member, sink)

    monkeypatch.setattr(shards_module, "_read_member", failing_read)
    with pytest.raises(KeyboardInterrupt):
        package_dataset(PackageOptions(source=demo_template, out=out, shard_size=SMALL_SHARD))
    assert not (out / MANIFEST).exists()
    leftovers = staged_files(out)
    assert leftovers, "some shards were complete before the interruption"
    reference = tree_digest(staging)
    for path in leftovers:  # every final-named file is complete (equals a full run's)
        rel = path.relative_to(out).as_posix()
        assert reference[rel].split(":")[0] == sha256_file(path)

    monkeypatch.setattr(shards_module, "_read_member", real_read)
    package_dataset(PackageOptions(source=demo_template, out=out, shard_size=SMALL_SHARD))
    assert {k: v.split(":")[0] for k, v in tree_digest(out).items()} == {
        k: v.split(":")[0] for k, v in reference.items()
    }


def test_repackaging_with_larger_shards_removes_the_stale_ones(source):
    package_dataset(PackageOptions(source=source, shard_size=150_000))
    staging = source / "hf_staging"
    before = {p.name for p in (staging / "audio").glob("*.tar")}
    package_dataset(PackageOptions(source=source, shard_size=10**9))
    after = {p.name for p in (staging / "audio").glob("*.tar")}
    # a split's fewest shards by default: 2 (order.feed_shards)
    assert after == {f"{split}-0000{i}.tar" for split in SPLITS for i in (0, 1)} < before
    manifest = json.loads((staging / MANIFEST).read_text())["files"]
    assert sorted(manifest) == sorted(
        p.relative_to(staging).as_posix() for p in staged_files(staging) if p.name != MANIFEST
    )


def test_an_unchanged_source_is_not_packaged_again(source):
    first = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    second = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    assert not first.reused and second.reused and second.files == first.files
    third = package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD * 2))
    assert not third.reused


def test_auxiliary_tables_are_split_like_the_samples_batch_by_batch(source, monkeypatch):
    monkeypatch.setattr(tables_module, "AUX_BATCH_ROWS", 7)  # many batches per split
    package_dataset(PackageOptions(source=source, shard_size=SMALL_SHARD))
    staging = source / "hf_staging"
    strokes = pq.read_table(source / "labels" / "strokes.parquet").to_pylist()
    for split in SPLITS:
        ids = {r["sample_id"] for r in split_rows(staging, split)}
        table = pq.read_table(staging / f"auxiliary/strokes/{split}-00000-of-00001.parquet")
        assert table.to_pylist() == [r for r in strokes if r["sample_id"] in ids]


def test_the_source_folder_is_never_modified(source):
    before = tree_digest(source)
    assert main([str(source), "--quiet", "--shard-size", "400KB"]) == 0
    after = {k: v for k, v in tree_digest(source).items() if not k.startswith("hf_staging/")}
    assert after == before


def test_dry_run_prints_the_plan_and_writes_nothing(source, capsys):
    before = tree_digest(source)
    assert main([str(source), "--dry-run", "--shard-size", "400KB"]) == 0
    out = capsys.readouterr().out
    assert "audio/train-00001.tar" in out and "nothing written" in out
    assert tree_digest(source) == before and not (source / "hf_staging").exists()


def test_summary_reports_samples_shards_files_and_hub_limits(source, capsys):
    assert main([str(source), "--quiet", "--shard-size", "400KB"]) == 0
    out = capsys.readouterr().out
    assert "samples: train 24, validation 8, test 8" in out
    n_media = sum(
        bool(r[c]) for r in source_rows(source).values() for c in ("audio_path", "midi_path")
    )
    assert f"{n_media} source media files" in out and "Hub limits" in out


def test_no_audio_and_no_midi_leave_those_shards_out(source, tmp_path):
    package_dataset(PackageOptions(source=source, out=tmp_path / "a", include_midi=False))
    assert not (tmp_path / "a" / "midi").exists()
    with tarfile.open(tmp_path / "a" / "audio" / "train-00000.tar") as tar:
        assert not [n for n in tar.getnames() if n.endswith(".mid")]
    package_dataset(PackageOptions(source=source, out=tmp_path / "m", include_audio=False))
    assert not (tmp_path / "m" / "audio").exists() and (tmp_path / "m" / "midi").exists()
    rows = split_rows(tmp_path / "m", "train")
    assert all(r["audio_shard"] is None for r in rows)


def test_no_sharding_writes_one_file_per_media_file(source, tmp_path):
    out = tmp_path / "flat"
    package_dataset(PackageOptions(source=source, out=out, sharding=False))
    rows = split_rows(out, "train")
    assert all((out / r["audio"]).read_bytes()[:4] == b"fLaC" for r in rows)
    assert len(list((out / "audio").iterdir())) == 40
    loaded = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 24 and loaded[0]["audio"].startswith("audio/")


def test_no_sharding_refuses_layouts_over_the_hub_file_limits(source, monkeypatch, capsys):
    import sousa.limits

    monkeypatch.setattr(sousa.limits, "HUB_MAX_FILES_PER_FOLDER", 30)
    assert main([str(source), "--no-sharding", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "audio/ has 40" in err and "--no-sharding" in err
    assert not (source / "hf_staging").exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [("500MB", 500_000_000), ("2GiB", 2 * 2**30), ("123456", 123456), ("1GB", 10**9)],
)
def test_shard_sizes_accept_units(text, size):
    assert parse_size(text) == size


def test_progress_bars_go_to_stderr(source, capsys):
    assert main([str(source), "--shard-size", "400KB", "--progress"]) == 0
    captured = capsys.readouterr()
    assert "packing shards" in captured.err and "packing shards" not in captured.out


def test_labels_json_of_a_sample_can_be_read_back_with_tarfile_streaming(staging):
    """The stdlib streaming reader (what `iter_archive` uses) sees each sample's members
    adjacent, and its `.json` member holds exactly its split-table row's labels."""
    rows = {r["audio_filename"].split(".")[0]: r for r in split_rows(staging, "test")}
    members: dict[str, list[str]] = {}
    for shard in sorted((staging / "audio").glob("test-*.tar")):
        with tarfile.open(fileobj=io.BytesIO(shard.read_bytes()), mode="r|") as tar:
            for member in tar:
                key, extension = member.name.split(".", 1)
                assert key == list(members)[-1] if key in members else True, "adjacent"
                members.setdefault(key, []).append(extension)
                if extension == "json":
                    labels = json.loads(tar.extractfile(member).read())
                    row = rows[key]
                    assert labels == {k: v for k, v in row.items() if k not in SHARD_COLUMNS}
    assert sorted(members) == sorted(rows)
    for key, extensions in members.items():
        assert extensions == (
            ["flac", "json", "mid"] if rows[key]["midi_shard"] else ["flac", "json"]
        )


def test_a_killed_runs_temporary_files_are_cleaned_up(demo_template, tmp_path):
    """SIGKILL runs no `finally`: the next run removes the `.incomplete` files it left."""
    out = tmp_path / "out"
    (out / "audio").mkdir(parents=True)
    (out / ".README.md.incomplete").write_bytes(b"partial card")
    (out / "audio" / ".train-00000.tar.incomplete").write_bytes(b"partial shard")
    package_dataset(PackageOptions(source=demo_template, out=out, shard_size=SMALL_SHARD))
    assert not list(out.rglob("*.incomplete"))
    assert (out / MANIFEST).exists()


def test_a_process_killed_mid_shard_leaves_no_partial_file_and_the_rerun_completes(
    source, tmp_path
):
    """SIGKILL (no cleanup code runs) while a shard is being written, then run again."""
    import os
    import signal
    import sys
    import time

    big = big_sparse_first_sample(source)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sousa.package", str(source), "--out", str(out), "--quiet"]
    command += ["--shard-size", "400KB"]
    process = subprocess.Popen([*command, "--workers", "1"])
    deadline = time.monotonic() + 60

    def writing_the_big_shard() -> bool:
        for path in out.rglob(".*.incomplete"):
            with contextlib.suppress(FileNotFoundError):  # renamed meanwhile
                if path.stat().st_size > 2**20:
                    return True
        return False

    while not writing_the_big_shard() and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    assert process.poll() is None, "finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    assert not (out / MANIFEST).exists()
    survivors = {
        p.relative_to(out).as_posix(): sha256_file(p)
        for p in staged_files(out)
        if not p.name.endswith(".incomplete")
    }
    assert any(rel.startswith("audio/train-") for rel in survivors), "earlier shards were done"
    assert main(command[3:]) == 0  # the re-run: in this process (the kill needed a child)
    assert (out / MANIFEST).exists() and not list(out.rglob("*.incomplete"))
    for rel, digest in survivors.items():  # every final-named file was already complete
        assert sha256_file(out / rel) == digest, rel
    shutil.rmtree(out)  # do not leave 128 MB behind in pytest's kept temp folders
    big.unlink()


# -- each thing once, in memory that does not grow with the samples ---------------------------


def test_each_samples_labels_json_is_encoded_once(source, tmp_path, monkeypatch):
    """One encoding per sample in a shard, though its JSON is written to an audio and a MIDI
    shard and its size decides the offsets before any byte is written."""
    encoded = Counter()
    real = layout_module._LABELS_ENCODER

    class CountingEncoder:
        def encode(self, row):
            encoded[row["sample_id"]] += 1
            return real.encode(row)

    monkeypatch.setattr(layout_module, "_LABELS_ENCODER", CountingEncoder())
    out = tmp_path / "out"
    package_dataset(PackageOptions(source=source, out=out, shard_size=SMALL_SHARD, workers=1))
    in_shards = {
        row["sample_id"]
        for split in SPLITS
        for row in split_rows(out, split)
        if row["audio_shard"] or row["midi_shard"]
    }
    both = [r for s in SPLITS for r in split_rows(out, s) if r["audio_shard"] and r["midi_shard"]]
    assert both, "some samples have their JSON in two shards"
    assert set(encoded) == in_shards
    assert set(encoded.values()) == {1}


def test_each_samples_key_is_derived_once(source, tmp_path, monkeypatch):
    """The key (its file stem) is made once a sample, when the source is read: the shards'
    member names and the split tables' filename columns use that one, and agree with it."""
    derived = Counter()
    real = media_module.media_key

    def counting(audio, midi, sample_id):
        derived[sample_id] += 1
        return real(audio, midi, sample_id)

    monkeypatch.setattr(media_module, "media_key", counting)
    out = tmp_path / "out"
    package_dataset(PackageOptions(source=source, out=out, shard_size=SMALL_SHARD, workers=1))
    rows = [r for split in SPLITS for r in split_rows(out, split)]
    assert set(derived) == {r["sample_id"] for r in rows}
    assert set(derived.values()) == {1}
    named = pq.read_table(source / "labels" / "samples.parquet").to_pylist()
    audio = {r["sample_id"]: r["audio_path"] for r in named}
    for r in rows:
        if r["audio_filename"]:
            assert r["audio_filename"] == f"{real(audio[r['sample_id']], None, None)}.flac"


def test_split_tables_written_a_row_group_at_a_time_equal_the_whole(
    source, staging, tmp_path, monkeypatch
):
    """Labels read a few rows at a time, exercises joined from another row order, media checked
    4 rows at a time, tables written 7 rows at a time: every row of every table (the audio
    property columns too), and every shard, is unchanged."""
    exercises = source / "labels" / "exercises.parquet"
    table = pq.read_table(exercises)
    reversed_rows = table.take(list(range(table.num_rows - 1, -1, -1)))
    pq.write_table(reversed_rows, exercises, row_group_size=5)
    monkeypatch.setattr(source_module, "LABEL_BATCH_ROWS", 3)
    monkeypatch.setattr(source_columns, "CHECK_BATCH", 4)
    monkeypatch.setattr(tables_module, "TABLE_ROW_GROUP", 7)
    out = tmp_path / "out"
    package_dataset(PackageOptions(source=source, out=out, shard_size=SMALL_SHARD))
    for split in SPLITS:
        path = out / split_table_path(split)
        assert pq.ParquetFile(path).metadata.num_row_groups > 1
        assert split_rows(out, split) == split_rows(staging, split), split
    for shard in sorted(staging.glob("*/*.tar")):
        assert sha256_file(out / shard.relative_to(staging)) == sha256_file(shard), shard.name


def test_a_plan_holds_no_object_per_sample(demo_template):
    """Samples are arrays of rows in the plan: no `Sample` or `MediaFile` object stays alive."""
    _, plan = plan_package(PackageOptions(source=demo_template, shard_size=SMALL_SHARD))
    gc.collect()
    alive = [o for o in gc.get_objects() if type(o) in (Sample, MediaFile, Member)]
    assert plan.shards and not alive
    assert sum(len(shard.samples) for shard in plan.shards if shard.kind == "audio") == 40


def test_every_shard_is_byte_for_byte_the_archive_tarfile_writes_of_its_members(staging):
    """The shard writer's framing, exactly: each shard equals what Python's tarfile writes
    for the same members (mode 0644, mtime 0, no owners), less tarfile's record padding."""
    shards = sorted(staging.glob("*/*.tar"))
    assert shards
    for shard in shards:
        written = shard.read_bytes()
        buffer = io.BytesIO()
        with (
            tarfile.open(shard) as source,
            tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive,
        ):
            for info in source.getmembers():
                member = tarfile.TarInfo(info.name)
                member.size, member.mode, member.mtime = info.size, 0o644, 0
                archive.addfile(member, source.extractfile(info))
        expected = buffer.getvalue()
        assert expected[: len(written)] == written, shard.name
        assert not expected[len(written) :].strip(b"\0"), "only record padding may follow"
