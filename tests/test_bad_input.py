"""Bad input: exit status 2, a message naming the file/column/values, nothing written or touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sousa.package import main

from .helpers import rewrite_samples, tree_digest


def refuse(source: Path, capsys, *args: str) -> str:
    """Run the CLI, assert it refused with status 2 and wrote nothing; return its message."""
    before = tree_digest(source)
    assert main([str(source), "--quiet", *args]) == 2
    assert tree_digest(source) == before, "the source folder was touched"
    assert not (source / "hf_staging").exists(), "something was written"
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def first_rows(source: Path) -> list[dict]:
    return pq.read_table(source / "labels" / "samples.parquet").to_pylist()


def test_missing_media_files_are_counted_and_named(source, capsys):
    rows = first_rows(source)
    (source / rows[3]["audio_path"]).unlink()
    (source / rows[5]["audio_path"]).unlink()
    err = refuse(source, capsys)
    assert "2 media file(s)" in err and rows[3]["audio_path"] in err and "--allow-missing" in err


def test_allow_missing_packages_null_shard_columns_and_reports_them(source, capsys):
    rows = first_rows(source)
    (source / rows[3]["audio_path"]).unlink()
    assert main([str(source), "--quiet", "--allow-missing"]) == 0
    assert "missing media packaged as null: 1" in capsys.readouterr().out
    tables = [pq.read_table(p).to_pylist() for p in (source / "hf_staging/data").glob("*")]
    row = next(r for t in tables for r in t if r["sample_id"] == rows[3]["sample_id"])
    assert row["audio_shard"] is None and row["audio_offset"] is None


def test_a_repeated_sample_id_names_both_rows(source, capsys):
    def repeat(columns):
        columns["sample_id"][7] = columns["sample_id"][2]
        return columns

    rewrite_samples(source, repeat)
    err = refuse(source, capsys)
    sample_id = first_rows(source)[2]["sample_id"]
    assert f"sample_id {sample_id!r} repeats (rows 2 and 7)" in err


def test_two_samples_with_the_same_member_name_in_one_split_are_named(source, capsys):
    rows = first_rows(source)
    a, b = rows[0], rows[1]  # same profile, so same split
    assert a["profile_id"] == b["profile_id"]
    clash = f"audio/elsewhere/{Path(a['audio_path']).name}"
    (source / clash).parent.mkdir()
    shutil.copy(source / b["audio_path"], source / clash)

    def move(columns):
        columns["audio_path"][1] = clash
        columns["midi_path"][1] = None
        return columns

    rewrite_samples(source, move)
    err = refuse(source, capsys)
    assert a["sample_id"] in err and b["sample_id"] in err and "share a file name" in err


def test_a_profile_in_no_split_is_refused_unless_told_what_to_do(source, capsys):
    splits = json.loads((source / "splits.json").read_text())
    orphan = splits["test_profile_ids"].pop()
    (source / "splits.json").write_text(json.dumps(splits))
    err = refuse(source, capsys)
    assert orphan in err and "--unassigned" in err

    assert main([str(source), "--quiet", "--unassigned", "drop"]) == 0
    staged = pq.read_table(source / "hf_staging/data/train-00000-of-00001.parquet")
    assert orphan not in staged.column("profile_id").to_pylist()
    assert "unassigned profiles dropped: 4" in capsys.readouterr().out


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_unassigned_train_puts_orphans_in_train(source, tmp_path, in_tmp):
    splits = json.loads((source / "splits.json").read_text())
    orphan = splits["test_profile_ids"].pop()
    (source / "splits.json").write_text(json.dumps(splits))
    assert main([str(source), "--quiet", "--unassigned", "train", "--out", "out"]) == 0
    staged = pq.read_table(tmp_path / "out/data/train-00000-of-00001.parquet")
    assert orphan in staged.column("profile_id").to_pylist()


def test_a_profile_in_two_splits_is_leakage(source, capsys):
    splits = json.loads((source / "splits.json").read_text())
    leaked = splits["train_profile_ids"][0]
    splits["test_profile_ids"].append(leaked)
    (source / "splits.json").write_text(json.dumps(splits))
    err = refuse(source, capsys)
    assert leaked in err and "train_profile_ids" in err and "test_profile_ids" in err


@pytest.mark.parametrize(
    "bad_path",
    ["/etc/passwd", "audio/../../outside.flac", "C:\\audio\\x.flac", "audio/escape.flac"],
)
def test_media_paths_must_stay_inside_the_folder(source, capsys, bad_path, tmp_path):
    outside = tmp_path / "outside.flac"
    outside.write_bytes(b"fLaC")
    if bad_path == "audio/escape.flac":
        os.symlink(outside, source / bad_path)  # a symlink that resolves outside

    def point(columns):
        columns["audio_path"][4] = bad_path
        return columns

    rewrite_samples(source, point)
    err = refuse(source, capsys)
    assert "'audio_path'" in err and repr(bad_path) in err and "outside the folder" in err


@pytest.mark.parametrize(
    "name", ["with.dot.flac", "__reserved.flac", ".hidden.flac", "x" * 96 + ".flac"]
)
def test_file_names_that_break_webdataset_keys_are_refused(source, capsys, name):
    rows = first_rows(source)
    target = source / "audio" / name
    shutil.copy(source / rows[4]["audio_path"], target)

    def rename(columns):
        columns["audio_path"][4] = f"audio/{name}"
        return columns

    rewrite_samples(source, rename)
    err = refuse(source, capsys)
    assert "cannot be WebDataset keys" in err and name in err


def test_missing_samples_table_is_named(source, capsys):
    (source / "labels" / "samples.parquet").unlink()
    assert "labels/samples.parquet: required file is missing" in refuse(source, capsys)


def test_an_unreadable_samples_table_is_named(source, capsys):
    (source / "labels" / "samples.parquet").write_bytes(b"not parquet at all")
    assert "samples.parquet: not a readable parquet file" in refuse(source, capsys)


def test_a_missing_required_column_is_named(source, capsys):
    path = source / "labels" / "samples.parquet"
    table = pq.read_table(path).drop_columns(["profile_id"])
    pq.write_table(table, path)
    assert "samples.parquet: missing column(s) 'profile_id'" in refuse(source, capsys)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"train_profile_ids": [], "val_profile_ids": []}', "'test_profile_ids' must be a list"),
        (
            '{"train_profile_ids": [1], "val_profile_ids": [], "test_profile_ids": []}',
            "'train_profile_ids' must be a list of profile id strings",
        ),
    ],
)
def test_a_malformed_splits_json_is_named(source, capsys, content, message):
    (source / "splits.json").write_text(content)
    err = refuse(source, capsys)
    assert "splits.json" in err and message in err


def test_out_that_is_a_foreign_folder_is_refused_unless_overwrite(source, tmp_path, capsys):
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main([str(source), "--quiet", "--out", str(foreign)]) == 2
    assert "not a sousa staging folder" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert main([str(source), "--quiet", "--out", str(foreign), "--overwrite"]) == 0
    assert (foreign / "manifest.json").exists() and not (foreign / "notes.txt").exists()


def test_out_may_never_be_the_source_folder(source, capsys):
    assert main([str(source), "--quiet", "--out", str(source), "--overwrite"]) == 2
    assert "would overwrite the source folder" in capsys.readouterr().err


def test_the_command_line_exits_with_status_2(source):
    (source / "splits.json").write_text("{")
    result = subprocess.run(
        [sys.executable, "-m", "sousa.package", str(source)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "splits.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_readme_that_is_not_utf8_is_named(source, capsys):
    (source / "README.md").write_bytes(b"---\nlicense: mit\n---\n\xff\xfe not text")
    assert "README.md: not readable as UTF-8 text" in refuse(source, capsys)


def test_a_readme_whose_yaml_does_not_parse_is_named(source, capsys):
    (source / "README.md").write_text("---\nlicense: [unclosed\n---\nSOUSA\n")
    assert "README.md: its YAML front matter does not parse" in refuse(source, capsys)


@pytest.fixture
def small_batches(monkeypatch):
    """Source rows are keyed and stat'ed 3 at a time: the demo's 40 rows span 14 batches."""
    monkeypatch.setattr("sousa.write.source_columns.SCAN_BATCH", 3)


def test_bad_keys_of_every_batch_are_counted_and_named_in_row_order(source, capsys, small_batches):
    rows = first_rows(source)
    bad = {1: "a.b.flac", 8: "__c.flac", 20: ".d.flac", 21: "e.f.flac", 30: "g.h.flac"}
    bad |= {38: "i.j.flac"}
    for row, name in bad.items():
        shutil.copy(source / rows[row]["audio_path"], source / "audio" / name)

    def rename(columns):
        for row, name in bad.items():
            columns["audio_path"][row] = f"audio/{name}"
        return columns

    rewrite_samples(source, rename)
    err = refuse(source, capsys)
    shown = ", ".join(repr(f"audio/{bad[row]}") for row in sorted(bad)[:5])
    assert "6 media file name(s) cannot be WebDataset keys" in err
    assert f"{shown} … (+1 more)" in err


def test_missing_files_of_every_batch_are_counted_audio_then_midi(source, capsys, small_batches):
    rows = first_rows(source)
    with_midi = [r for r, row in enumerate(rows) if row["midi_path"]]
    gone = [rows[2]["audio_path"], rows[17]["audio_path"], rows[with_midi[-1]]["midi_path"]]
    for relpath in gone:
        (source / relpath).unlink()
    err = refuse(source, capsys)
    assert f"3 media file(s) named in {source / 'labels' / 'samples.parquet'} are missing: " in err
    assert ", ".join(map(repr, gone)) in err


def test_empty_sample_ids_are_named_by_row(source, capsys):
    def blank(columns):
        columns["sample_id"][4] = ""
        columns["sample_id"][9] = None
        return columns

    rewrite_samples(source, blank)
    err = refuse(source, capsys)
    assert "column 'sample_id' is empty in row(s) 4, 9" in err


def test_ids_that_are_not_strings_are_named(source, capsys):
    path = source / "labels" / "samples.parquet"
    table = pq.read_table(path)
    numbers = pa.array(range(table.num_rows), type=pa.int64())
    table = table.set_column(table.schema.get_field_index("profile_id"), "profile_id", numbers)
    pq.write_table(table, path)
    err = refuse(source, capsys)
    assert "column 'profile_id' must be strings, got int64" in err


FRONT_MATTERS = [
    "---\nlicense: mit\n---\nSOUSA\n",
    "no front matter at all\n",
    "---\n---\nan empty one\n",
    "---\r\nlicense: mit\r\n---\r\nCRLF\r\n",
    "---\nlicense: [unclosed\n---\nSOUSA\n",
    "---\n- a list\n- not a mapping\n---\n",
    "---\njust a string\n---\n",
    "---\n1: an integer key\n---\n",
    "---\nself: taken\n---\n",
    "---\nignore_metadata_errors: true\n---\n",
    "---\nconfigs: {a: [1, 2]}\ntrain-eval-index: []\n---\n",
]


@pytest.mark.parametrize("text", FRONT_MATTERS)
def test_the_readme_check_refuses_exactly_what_huggingface_hub_refuses(text):
    from huggingface_hub import DatasetCard

    from sousa.write.source_checks import front_matter_problem

    try:
        DatasetCard(text)
        refused = False
    except Exception:
        refused = True
    assert (front_matter_problem(text) is not None) == refused
