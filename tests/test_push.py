"""`--push` against the loopback Hub emulator: upload, resume, verify, and the failure rows."""

from __future__ import annotations

import json

import pytest
from datasets import load_dataset
from huggingface_hub import CommitOperationAdd, HfApi

import sousa.limits
from sousa.errors import InputError
from sousa.hub.push import push
from sousa.layout import SPLITS
from sousa.package import main
from sousa.write.staging import MANIFEST

from .helpers import source_rows
from .push_cli import REPO, push_cli


def remote_matches_manifest(hub, staging) -> None:
    manifest = json.loads((staging / MANIFEST).read_text())["files"]
    remote = hub.repo_files(REPO)
    for path, entry in manifest.items():
        assert remote[path]["size"] == entry["size"] and remote[path]["sha256"] == entry["sha256"]
    managed = {p for p in remote if p.split("/")[0] in ("data", "audio", "midi", "auxiliary")}
    assert managed <= set(manifest)


@pytest.mark.lfs_too
def test_push_uploads_verifies_and_prints_how_to_load(hub, source, capsys):
    assert push_cli(source, "--shard-size", "400KB") == 0
    out = capsys.readouterr().out
    assert f"{hub.endpoint}/datasets/{REPO}" in out
    assert f'load_dataset("{REPO}", streaming=True)' in out and "verified" in out
    remote_matches_manifest(hub, source / "hf_staging")
    last = hub.stats.commits[-1]
    assert {op["path"] for op in last["operations"]} >= {"README.md", MANIFEST}, "card last"


@pytest.mark.lfs_too
def test_round_trip_through_the_hub_loads_natively_equal_to_the_source(hub, source, native_audio):
    assert push_cli(source, "--shard-size", "400KB") == 0
    rows = source_rows(source)
    ds = load_dataset(REPO, "midi", split="validation", streaming=True)
    seen = {}
    for sample in ds:
        src = rows[sample["json"]["sample_id"]]
        assert sample["mid"] == (source / src["midi_path"]).read_bytes()
        seen[sample["json"]["sample_id"]] = sample
    want = {sid for sid, r in rows.items() if r["midi_path"] and r["profile_id"] in _val(source)}
    assert set(seen) == want
    audio = next(iter(load_dataset(REPO, split="test", streaming=True)))
    decoded = audio["flac"].get_all_samples()
    assert decoded.sample_rate == 44_100 and decoded.data.shape[1] == 44_100


def _val(source) -> set[str]:
    return set(json.loads((source / "splits.json").read_text())["val_profile_ids"])


def test_a_second_push_of_an_unchanged_dataset_uploads_nothing(hub, source):
    assert push_cli(source, "--shard-size", "400KB") == 0
    commits = len(hub.stats.commits)
    hub.reset_stats()
    assert push_cli(source, "--shard-size", "400KB") == 0
    assert hub.stats.bytes_uploaded == 0
    assert len(hub.stats.commits) == 0 and commits > 0


@pytest.mark.lfs_too
def test_a_failed_commit_then_a_rerun_completes_without_resending_committed_files(
    hub, source, monkeypatch, capsys
):
    monkeypatch.setattr(sousa.limits, "HUB_MAX_FILES_PER_COMMIT", 4)  # many commits
    hub.fail_commit(3, status=422)  # a status nobody retries (the Xet pipeline retries 5xx)
    assert push_cli(source, "--shard-size", "400KB") == 1
    assert "re-run the same command" in capsys.readouterr().err
    committed = {op["path"] for c in hub.stats.commits for op in c["operations"]}
    assert committed and MANIFEST not in committed
    sent_first = hub.stats.lfs_uploads + hub.stats.xorb_uploads

    assert push_cli(source, "--shard-size", "400KB") == 0
    remote_matches_manifest(hub, source / "hf_staging")
    resent = {op["path"] for c in hub.stats.commits[-3:] for op in c["operations"]} & committed
    assert not resent - {"README.md"}, "files committed by the failed run were sent again"
    all_puts = hub.stats.lfs_uploads + hub.stats.xorb_uploads
    assert len(all_puts) == len(set(all_puts)), "an LFS object or xorb was uploaded twice"
    assert len(all_puts) > len(sent_first)


def test_repackaging_with_larger_shards_removes_the_stale_remote_shards(hub, source):
    assert push_cli(source, "--shard-size", "150KB") == 0
    before = {p for p in hub.repo_files(REPO) if p.startswith("audio/")}
    assert push_cli(source, "--shard-size", "1GB") == 0
    after = {p for p in hub.repo_files(REPO) if p.startswith("audio/")}
    # a split's fewest shards by default: 2 (order.feed_shards)
    assert after == {
        f"audio/{s}-0000{i}.tar" for s in ("train", "validation", "test") for i in (0, 1)
    }
    assert len(before) > len(after)
    remote_matches_manifest(hub, source / "hf_staging")


def test_no_token_exits_2_and_says_how_to_log_in(hub, source, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    assert push_cli(source) == 2
    assert "hf auth login" in capsys.readouterr().err
    assert hub.stats.commits == []


def test_an_invalid_token_exits_2_without_printing_it(hub, source, capsys):
    assert push_cli(source, "--token", "hf_not_a_real_secret") == 2
    captured = capsys.readouterr()
    assert "rejected" in captured.err and "hf auth login" in captured.err
    assert "hf_not_a_real_secret" not in captured.err + captured.out


def test_a_token_without_write_access_exits_2(hub, source, capsys):
    hub.tokens["hf_read_only"] = "read"
    assert push_cli(source, "--token", "hf_read_only") == 2
    assert "no write access" in capsys.readouterr().err
    assert hub.stats.commits == []


def test_a_staging_folder_without_a_manifest_is_refused(hub, staging, tmp_path):
    import shutil

    partial = shutil.copytree(staging, tmp_path / "partial")
    (partial / MANIFEST).unlink()
    with pytest.raises(InputError, match="no manifest.json"):
        push(partial, REPO)
    assert hub.stats.commits == []


def test_a_remote_that_differs_from_the_manifest_exits_1_naming_the_files(
    hub, source, monkeypatch, capsys
):
    """Another writer replaces a shard in the upload right after our last commit: verification
    sees it, and the upload is not merged."""
    real_create_commit = HfApi.create_commit

    def create_commit_then_tamper(self, repo_id, operations, **kwargs):
        info = real_create_commit(self, repo_id, operations, **kwargs)
        if any(getattr(op, "path_in_repo", "") == MANIFEST for op in operations):
            tamper = CommitOperationAdd("audio/test-00000.tar", b"not the shard")
            real_create_commit(
                self, repo_id, [tamper], repo_type="dataset", commit_message="x",
                revision=kwargs["revision"],
            )  # fmt: skip
        return info

    monkeypatch.setattr(HfApi, "create_commit", create_commit_then_tamper)
    assert push_cli(source) == 1
    err = capsys.readouterr().err
    assert "differs from manifest.json" in err and "audio/test-00000.tar" in err
    assert MANIFEST not in hub.repo_files(REPO) and hub.stats.merges == []


@pytest.mark.parametrize("repo_id", ["sousa", "user/so usa", "a/b/c", "user/../x", ""])
def test_a_malformed_repo_id_exits_2_before_any_work(hub, source, repo_id, capsys):
    assert main([str(source), "--quiet", "--push", "--repo-id", repo_id]) == 2
    assert "--repo-id" in capsys.readouterr().err
    assert not (source / "hf_staging").exists() and hub.stats.total_requests == 0


def test_sousa_load_and_fetch_read_the_pushed_repo_equal_to_the_source(hub, source):
    import numpy as np
    import soundfile as sf

    import sousa

    assert push_cli(source, "--shard-size", "400KB") == 0
    rows = source_rows(source)
    ds = sousa.load(REPO, split="test", streaming=True)
    seen = set()
    for sample in ds:
        src = rows[sample["sample_id"]]
        audio, rate = sf.read(source / src["audio_path"], dtype="float32")
        assert sample["audio"]["sampling_rate"] == rate
        np.testing.assert_array_equal(sample["audio"]["array"], audio)
        midi = src["midi_path"]
        assert sample["midi"] == ((source / midi).read_bytes() if midi else None)
        seen.add(sample["sample_id"])
    test_profiles = set(json.loads((source / "splits.json").read_text())["test_profile_ids"])
    assert seen == {sid for sid, r in rows.items() if r["profile_id"] in test_profiles}

    sample_id = next(sid for sid, r in rows.items() if r["midi_path"])
    hub.wait_idle()  # the stream's last GET is logged when its handler ends: not after the reset
    hub.reset_stats()
    one = sousa.fetch(REPO, sample_id)
    hub.wait_idle()  # the range read is logged when its handler ends, maybe after fetch returns
    src = rows[sample_id]
    np.testing.assert_array_equal(
        one["audio"]["array"], sf.read(source / src["audio_path"], dtype="float32")[0]
    )
    assert one["midi"] == (source / src["midi_path"]).read_bytes()
    media = (source / src["audio_path"]).stat().st_size + (source / src["midi_path"]).stat().st_size
    shard_reads = [entry for entry in hub.stats.log if entry[1].endswith(".tar")]
    ranges = [entry[3] for entry in shard_reads if entry[0] == "GET"]
    assert ranges and all(ranges), f"every shard read is a Range request: {shard_reads}"
    shard_bytes = 0
    for header in ranges:
        start, end = header.removeprefix("bytes=").split("-")
        shard_bytes += int(end) - int(start) + 1
    # one range read: the sample's FLAC, labels JSON and MIDI with their headers
    assert len(ranges) == 1 and media <= shard_bytes <= media + 4096, "not the shards"
    table_bytes = sum(
        (source / "hf_staging" / p).stat().st_size
        for p in ["manifest.json", *(f"data/{s}-00000-of-00001.parquet" for s in SPLITS)]
    )
    assert hub.stats.bytes_served <= shard_bytes + table_bytes


def test_the_labels_read_with_pandas_straight_from_the_hub(hub, source):
    """The README's labels-only line: parquet over hf:// with pandas, no media downloaded."""
    import pandas as pd

    assert push_cli(source, "--shard-size", "400KB") == 0
    hub.reset_stats()
    labels = pd.read_parquet("hf://datasets/user/sousa/data/train-00000-of-00001.parquet")
    assert len(labels) == 24 and "audio_offset" in labels.columns
    assert not [entry for entry in hub.stats.log if entry[1].endswith(".tar")]


def test_push_to_a_branch_leaves_main_alone(hub, source):
    assert push_cli(source, "--revision", "v2") == 0
    assert MANIFEST in hub.repo_files(REPO, revision="v2")
    assert MANIFEST not in hub.repo_files(REPO, revision="main")


def test_create_pr_puts_every_commit_in_one_pull_request(hub, source, monkeypatch):
    monkeypatch.setattr(sousa.limits, "HUB_MAX_FILES_PER_COMMIT", 4)
    assert push_cli(source, "--create-pr") == 0
    revisions = {c["revision"] for c in hub.stats.commits if c["operations"]}
    assert len(revisions) == 1 and next(iter(revisions)).startswith("refs/pr/")
    pr = next(iter(revisions))
    assert MANIFEST in hub.repo_files(REPO, revision=pr)
    assert MANIFEST not in hub.repo_files(REPO, revision="main")


def test_a_large_private_push_warns_about_free_storage(hub, source, monkeypatch, capsys):
    monkeypatch.setattr(sousa.limits, "FREE_PRIVATE_STORAGE", 1_000_000)
    assert push_cli(source, "--private") == 0
    assert "over a free account's 100 GB of private storage" in capsys.readouterr().err


def test_the_seed_uploader_object_pushes_too(hub, source):
    from sousa.seed_api import DatasetUploader, HubConfig

    uploader = DatasetUploader(HubConfig(dataset_dir=source, repo_id=REPO))
    result = uploader.push()
    assert result.mismatched == [] and result.uploaded > 0
    rows = source_rows(source).values()
    assert uploader.stats.audio_files == sum(bool(r["audio_path"]) for r in rows) == 40
    assert uploader.stats.midi_files == sum(bool(r["midi_path"]) for r in rows) > 0
    remote_matches_manifest(hub, source / "hf_staging")


def test_the_library_returns_what_the_push_did_and_prints_nothing(hub, staging, capsys):
    """`sousa.push` (the front door) returns a PushResult; the CLI is what prints it."""
    import sousa

    result = sousa.push(staging, REPO)
    assert isinstance(result, sousa.PushResult)
    manifest = json.loads((staging / MANIFEST).read_text())["files"]
    assert (result.uploaded, result.deleted, result.mismatched) == (len(manifest) + 1, 0, [])
    assert result.merged and not result.direct and result.pr_num == 1
    assert result.pr_url == f"{hub.endpoint}/datasets/{REPO}/discussions/1"
    assert (result.target, result.revision) == ("main", "main")
    assert result.commits == len({c["oid"] for c in hub.stats.commits})
    captured = capsys.readouterr()
    assert "pushed:" not in captured.out + captured.err and "dataset:" not in captured.out
