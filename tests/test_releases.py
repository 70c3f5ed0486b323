"""Releases: `--push --tag v1.0` tags the merged commit, an existing tag is refused before any
upload, the card says how to pin, and a tag keeps reading its version after main moves on."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from huggingface_hub import HfApi

import sousa
from sousa.write.staging import MANIFEST

from .helpers import rewrite_samples
from .push_cli import REPO, push_cli

HELD_BACK = 4  # samples that only v2 has


def _v1_without_the_last_samples(source) -> set[str]:
    """Make `source` v1 (it lacks its last HELD_BACK samples) and return their ids."""
    held: list[str] = []

    def drop(columns):
        held.extend(columns["sample_id"][-HELD_BACK:])
        return {name: values[:-HELD_BACK] for name, values in columns.items()}

    rewrite_samples(source, drop)
    return set(held)


def _labels(revision: str | None) -> set[str]:
    """Every sample id `sousa.load`'s labels config reads at `revision` (labels-only too)."""
    ds = sousa.load(REPO, "labels", revision=revision, streaming=True)
    return {row["sample_id"] for split in ds.values() for row in split}


def _ids(revision: str | None, config: str = "midi") -> set[str]:
    return {
        row["json"]["sample_id"]
        for split in ("train", "validation", "test")
        for row in load_dataset(REPO, config, split=split, streaming=True, revision=revision)
    }


@pytest.mark.lfs_too
def test_a_tag_keeps_reading_its_release_after_main_moves_on(hub, source, capsys):
    original = (source / "labels" / "samples.parquet").read_bytes()
    held = _v1_without_the_last_samples(source)
    assert push_cli(source, "--tag", "v1.0") == 0
    out = capsys.readouterr().out
    assert f'load_dataset("{REPO}", revision="v1.0", streaming=True)' in out
    v1_ids = _ids("v1.0")
    assert v1_ids and not v1_ids & held

    (source / "labels" / "samples.parquet").write_bytes(original)  # v2: the grown source
    assert push_cli(source, "--tag", "v1.1") == 0
    tags = {t.name: t.target_commit for t in HfApi().list_repo_refs(REPO, repo_type="dataset").tags}
    assert set(tags) == {"v1.0", "v1.1"} and tags["v1.1"] == hub.head(REPO)
    assert tags["v1.0"] != tags["v1.1"]
    assert _ids("v1.0") == v1_ids  # the release still reads as pushed, natively
    v2_ids = _ids(None)
    assert _ids("v1.1") == v2_ids and v1_ids < v2_ids and v2_ids - v1_ids <= held
    everything = set(pq.read_table(source / "labels" / "samples.parquet")["sample_id"].to_pylist())
    assert _labels("v1.0") == everything - held and _labels(None) == everything  # sousa.load
    card = hub.read_file(REPO, "README.md", revision="v1.0").decode()
    assert "## Versions" in card and "This version is tagged `v1.0`:" in card
    assert hub.read_file(REPO, MANIFEST, revision="v1.0") == hub.read_file(
        REPO, MANIFEST, revision=tags["v1.0"]
    )


def test_an_existing_tag_is_refused_before_anything_is_uploaded(hub, source, capsys):
    original = (source / "labels" / "samples.parquet").read_bytes()
    _v1_without_the_last_samples(source)
    assert push_cli(source, "--tag", "v1.0") == 0
    before, tagged = hub.head(REPO), hub.repos[("dataset", REPO)].tags["v1.0"]
    (source / "labels" / "samples.parquet").write_bytes(original)  # v2, with v1's tag
    capsys.readouterr()
    hub.reset_stats()
    assert push_cli(source, "--tag", "v1.0") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: tag v1.0 already exists on {REPO} (commit {tagged[:12]})")
    assert hub.head(REPO) == before and hub.repos[("dataset", REPO)].tags["v1.0"] == tagged
    assert not hub.stats.commits and hub.stats.bytes_uploaded == 0


@pytest.mark.parametrize("tag", ["v1/0", "_v1", "v1..0", "v1.lock", ""])
def test_a_malformed_tag_exits_2_before_any_work(hub, source, tag, capsys):
    assert push_cli(source, "--tag", tag) == 2
    assert f"--tag {tag!r}" in capsys.readouterr().err
    assert ("dataset", REPO) not in hub.repos
