"""sousa.load / sousa.fetch: the user API over a real staging folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

import sousa
from sousa.errors import InputError
from sousa.layout import SHARD_COLUMNS, SPLITS
from sousa.read import loading
from sousa.write.builder_file import standalone_builder

from .helpers import split_rows

# -- fixtures ----------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def source_row(demo_template: Path, sample_id: str) -> dict:
    rows = pq.read_table(demo_template / "labels/samples.parquet").to_pylist()
    return next(r for r in rows if r["sample_id"] == sample_id)


class CountingFile:
    """Wraps a binary file and counts the bytes its reads return."""

    def __init__(self, f, log: list[int]):
        self._f, self._log = f, log

    def read(self, n=-1):
        data = self._f.read(n)
        self._log.append(len(data))
        return data

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def byte_log(monkeypatch) -> dict[str, list[int]]:
    """Bytes read from each media file by fetch's range reads, by path relative to the root."""
    log: dict[str, list[int]] = {}
    original = loading.open_ranged

    def counting(path, size, download_config):
        relative = "/".join(Path(path).parts[-2:])
        return CountingFile(original(path, size, download_config), log.setdefault(relative, []))

    monkeypatch.setattr(loading, "open_ranged", counting)
    return log


def span_of(staging: Path, row: dict) -> int:
    """Bytes of a sample's span in its audio shard: its headers and members, FLAC to MIDI,
    up to the next sample's first header (or the end-of-archive blocks)."""
    rows = [r for split in ("train", "validation", "test") for r in split_rows(staging, split)]
    offsets = sorted(r["audio_offset"] for r in rows if r["audio_shard"] == row["audio_shard"])
    later = [o for o in offsets if o > row["audio_offset"]]
    end = (
        later[0] - 512 if later else (staging / "audio" / row["audio_shard"]).stat().st_size - 1024
    )
    return end - (row["audio_offset"] - 512)


# -- load -------------------------------------------------------------------------------------


def test_load_returns_all_splits_when_split_is_none(staging, tmp_path):
    ds = sousa.load(staging, config="labels", cache_dir=tmp_path)
    assert isinstance(ds, datasets.DatasetDict)
    assert set(ds) == {"train", "validation", "test"}
    for split, d in ds.items():
        assert d["sample_id"] == [r["sample_id"] for r in split_rows(staging, split)]
    streamed = sousa.load(staging, config="labels", streaming=True, cache_dir=tmp_path)
    assert isinstance(streamed, datasets.IterableDatasetDict)
    assert set(streamed) == {"train", "validation", "test"}


@pytest.mark.parametrize("streaming", [False, True])
def test_load_audio_decodes_source_audio_and_midi(streaming, staging, demo_template, tmp_path):
    ds = sousa.load(staging, split="validation", streaming=streaming, cache_dir=tmp_path)
    examples = list(ds)
    assert len(examples) == len(split_rows(staging, "validation"))
    for ex in examples:
        src = source_row(demo_template, ex["sample_id"])
        pcm, rate = sf.read(demo_template / src["audio_path"], dtype="float32")
        np.testing.assert_array_equal(ex["audio"]["array"], pcm)
        assert ex["audio"]["sampling_rate"] == rate
        midi = (demo_template / src["midi_path"]).read_bytes() if src["midi_path"] else None
        assert ex["midi"] == midi


def test_load_filter_selects_rows_in_both_modes(staging, tmp_path):
    wanted = {r["sample_id"] for r in split_rows(staging, "train") if r["skill_tier"] == "beginner"}
    assert wanted
    for streaming in (False, True):
        ds = sousa.load(
            staging,
            config="midi",
            split="train",
            streaming=streaming,
            filter={"skill_tier": "beginner"},
            cache_dir=tmp_path,
        )
        with_midi = {
            r["sample_id"]
            for r in split_rows(staging, "train")
            if r["sample_id"] in wanted and r["midi_shard"]
        }
        assert {e["sample_id"] for e in ds} == with_midi


@pytest.mark.parametrize("config", ["labels", "audio"])
def test_a_filter_that_selects_nothing_in_a_split_gives_it_empty(staging, tmp_path, config):
    """The README's `filter={"skill_tier": ...}` after `make demo`: a tier that some splits
    lack gives those splits empty, in both modes, with the config's columns."""
    tiers = {split: {r["skill_tier"] for r in split_rows(staging, split)} for split in SPLITS}
    tier = next(t for t in set().union(*tiers.values()) if any(t not in v for v in tiers.values()))
    lacking = [split for split in SPLITS if tier not in tiers[split]]
    for streaming in (False, True):
        options = {"filter": {"skill_tier": tier}, "streaming": streaming, "cache_dir": tmp_path}
        every = sousa.load(staging, config, **options)
        for split in SPLITS:
            rows = [r for r in split_rows(staging, split) if r["skill_tier"] == tier]
            if config == "audio":
                rows = [r for r in rows if r["audio_shard"]]
            assert sorted(e["sample_id"] for e in every[split]) == sorted(
                r["sample_id"] for r in rows
            ), (split, streaming)
        one = sousa.load(staging, config, split=lacking[0], **options)
        assert list(one) == [] and "sample_id" in one.column_names
        assert sorted(one.column_names) == sorted(every[SPLITS[0]].column_names)


def test_fetch_of_no_sample_ids_is_an_empty_list(staging):
    assert sousa.fetch(staging, []) == []


def test_load_unknown_split_config_or_location_is_a_clear_error(staging, tmp_path):
    with pytest.raises(loading.LoadError, match="unknown split 'dev'.*train, validation, test"):
        sousa.load(staging, split="dev", cache_dir=tmp_path)
    with pytest.raises(loading.LoadError, match="unknown config 'wav'"):
        sousa.load(staging, config="wav")
    with pytest.raises(InputError, match="no such staging folder"):
        sousa.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        sousa.load(staging, filter={"nope": 1}, cache_dir=tmp_path)


def test_repo_ids_resolve_to_hf_urls_with_the_revision():
    assert loading.resolve("user/sousa") == "hf://datasets/user/sousa"
    assert loading.resolve("user/sousa", revision="v1.0") == "hf://datasets/user/sousa@v1.0"
    assert (
        loading.resolve("user/sousa", revision="refs/pr/3") == "hf://datasets/user/sousa@refs/pr/3"
    )
    assert loading.resolve("user/sousa", revision="a/b") == "hf://datasets/user/sousa@a%2Fb"


def test_load_corrupt_flac_prepared_names_member_and_shard(staging, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(staging, broken)
    row = next(r for r in split_rows(broken, "test"))
    with open(broken / "audio" / row["audio_shard"], "r+b") as f:
        f.seek(row["audio_offset"])
        f.write(b"\0" * 64)
    pattern = f"corrupt FLAC member '{row['audio_filename']}' in shard 'audio/"
    with pytest.raises(ValueError, match=pattern):
        sousa.load(broken, split="test", cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=pattern):
        sousa.fetch(broken, row["sample_id"])


# -- fetch ------------------------------------------------------------------------------------


def test_fetch_returns_the_sample_reading_only_its_member_bytes(staging, demo_template, byte_log):
    row = next(r for r in split_rows(staging, "test") if r["midi_shard"] is not None)
    ex = sousa.fetch(staging, row["sample_id"])
    src = source_row(demo_template, row["sample_id"])
    pcm, rate = sf.read(demo_template / src["audio_path"], dtype="float32")
    np.testing.assert_array_equal(ex["audio"]["array"], pcm)
    assert ex["audio"]["sampling_rate"] == rate
    assert ex["audio"]["path"] == row["audio_filename"]
    assert ex["midi"] == (demo_template / src["midi_path"]).read_bytes()
    labels = {k: v for k, v in row.items() if k not in SHARD_COLUMNS}
    assert {k: ex[k] for k in labels} == labels
    assert set(ex) == set(labels) | {"audio", "midi"}
    # one range read: the sample's span of its audio shard (FLAC, labels JSON and MIDI)
    assert byte_log == {f"audio/{row['audio_shard']}": [span_of(staging, row)]}
    assert span_of(staging, row) <= row["audio_size"] + row["midi_size"] + 3 * 1024 + 1024


def test_fetch_sample_without_midi_and_other_configs(staging, byte_log):
    row = next(r for r in split_rows(staging, "train") if r["midi_shard"] is None)
    ex = sousa.fetch(staging, row["sample_id"])
    assert ex["midi"] is None
    assert byte_log == {f"audio/{row['audio_shard']}": [512 + row["audio_size"]]}  # header + FLAC
    byte_log.clear()
    labels = sousa.fetch(staging, row["sample_id"], config="labels")
    assert "audio" not in labels and "midi" not in labels
    assert labels["sample_id"] == row["sample_id"]
    assert byte_log == {}  # the labels config reads no shard
    with pytest.raises(loading.LoadError, match="has no MIDI"):
        sousa.fetch(staging, row["sample_id"], config="midi")


def test_fetch_unknown_sample_or_config_is_a_clear_error(staging):
    with pytest.raises(loading.LoadError, match="unknown sample id 'p999_nothing'"):
        sousa.fetch(staging, "p999_nothing")
    with pytest.raises(InputError, match="unknown config 'flac'"):
        sousa.fetch(staging, "p999_nothing", config="flac")


def test_read_range_refuses_a_truncated_shard(staging, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(staging, broken)
    row = split_rows(broken, "train")[-1]
    shard = broken / "audio" / row["audio_shard"]
    shard.write_bytes(shard.read_bytes()[: row["audio_offset"] + 10])
    with pytest.raises(ValueError, match="truncated"):
        sousa.fetch(broken, row["sample_id"])


# -- packaging --------------------------------------------------------------------------------


def test_wheel_ships_the_builder_and_the_loader(tmp_path):
    """An installed sousa holds the builder's source and produces the staged builder file."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "sousa", project / "sousa", ignore=shutil.ignore_patterns("__py*"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path / "dist"), str(project)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("sousa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = ("read/builder", "write/builder_file", "layout", "tar_format", "read/loading")
    modules += ("read/package_builder", "read/ranges", "read/rows", "read/shortcut")
    for module in modules + ("read/typed_stream", "read/labels"):
        assert f"sousa/{module}.py" in names
    for package in ("card", "demo", "hub", "read", "write"):
        assert f"sousa/{package}/__init__.py" in names
    assert not [name for name in names if not name.startswith(("sousa/", "sousa-"))]
    zipfile.ZipFile(wheel).extractall(tmp_path / "installed")
    assert standalone_builder(tmp_path / "installed" / "sousa") == standalone_builder()


def test_decode_threads_stream_the_same_samples_decoded(staging, demo_template):
    plain = list(sousa.load(staging, split="validation", streaming=True))
    threaded = sousa.load(staging, split="validation", streaming=True, decode_threads=2)
    threaded = list(threaded)
    assert [s["sample_id"] for s in threaded] == [s["sample_id"] for s in plain]
    for a, b in zip(plain, threaded):
        np.testing.assert_array_equal(a["audio"]["array"], b["audio"]["array"])
    every = sousa.load(staging, streaming=True, decode_threads=2)
    assert all(isinstance(s["audio"]["array"], np.ndarray) for s in every["test"])


def test_the_read_side_uses_only_the_public_names_of_its_modules():
    """Each module of sousa/read/ imports from its siblings only what their `__all__` exports
    (the staged builder's names: what it defines at top level without a leading underscore),
    and reads no private attribute of a builder from outside it (issue 11)."""
    import ast
    import importlib

    for path in sorted((REPO / "sousa/read").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level == 1 and node.module):
                continue
            module = importlib.import_module(f"sousa.read.{node.module}")
            public = getattr(module, "__all__", None) or [
                name for name in vars(module) if not name.startswith("_")
            ]
            for alias in node.names:
                assert alias.name in public, f"{path.name} imports {node.module}.{alias.name}"
    tree = ast.parse((REPO / "sousa/read/loading.py").read_text())
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "builder"
        and node.attr.startswith("_")
    ]
    assert private == []
