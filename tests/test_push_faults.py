"""`--push` when the Hub misbehaves: retries, refusals named by their cause, a refused card,
and readers of main who never see half a dataset (loopback emulator, real clients)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from datasets import load_dataset
from huggingface_hub import constants as hub_constants

import sousa.limits
from sousa.layout import MANAGED_FOLDERS
from sousa.write.staging import MANIFEST

from .helpers import source_rows
from .push_cli import REPO, push_cli

TOKEN = "hf_test_write"


def manifest_files(source) -> set[str]:
    return set(json.loads((source / "hf_staging" / MANIFEST).read_text())["files"])


def managed(hub, revision: str = "main") -> set[str]:
    return {p for p in hub.repo_files(REPO, revision) if p.split("/")[0] in MANAGED_FOLDERS}


def sample_counts(revision: str = "main") -> Counter:
    """Every sample id the native loader yields from the audio config, all splits (the native
    Audio feature needs torchcodec: tests using this take the `native_audio` fixture)."""
    ds = load_dataset(REPO, revision=revision, streaming=True)
    return Counter(s["json"]["sample_id"] for split in ds.values() for s in split)


def test_a_429_with_retry_after_on_the_last_commit_is_waited_out(hub, source):
    hub.fail_commit(1, status=429, headers={"Retry-After": "30"}, touching=MANIFEST)
    assert push_cli(source) == 0
    commits = [e for e in hub.stats.log if e[0] == "POST" and "/commit/" in e[1]]
    refused = next(i for i, e in enumerate(commits) if e[2] == 429)
    assert commits[refused + 1][2] == 200, "the refused commit was tried again"
    assert hub.retry_waits == [30.0], "Retry-After was honoured (the policy's own: 2 s)"
    assert manifest_files(source) <= set(hub.repo_files(REPO))


def test_503_three_times_on_create_repo_is_retried(hub, source):
    fault = hub.fail("POST", r"^/api/repos/create$", 503, times=3)
    assert push_cli(source) == 0
    assert fault.hits == 3 and MANIFEST in hub.repo_files(REPO)


@pytest.mark.parametrize(
    ("method", "path", "hub"),
    [
        ("POST", r"^/api/repos/create$", "xet"),
        ("POST", r"/preupload/", "xet"),
        ("POST", r"\.git/info/lfs/objects/batch$", "lfs"),  # not called in Xet mode
        ("POST", r"/commit/", "xet"),
        ("GET", r"/discussions$", "xet"),
        ("POST", r"/discussions/\d+/merge$", "xet"),
    ],
    indirect=["hub"],
)
def test_401_anywhere_exits_2_no_write_access(hub, source, capsys, method, path):
    fault = hub.fail(method, path, 401, times=99)
    assert push_cli(source) == 2
    captured = capsys.readouterr()
    assert f"no write access to {REPO} with this token" in captured.err
    assert TOKEN not in captured.err + captured.out
    assert fault.hits == 1, "an auth failure is not retried"
    assert MANIFEST not in hub.repo_files(REPO) if (("dataset", REPO) in hub.repos) else True


@pytest.mark.parametrize(
    ("method", "path", "args", "message"),
    [
        ("POST", r"^/api/repos/create$", (), f"no write access to {REPO} with this token"),
        # --min-shards 1: 20 files or fewer, or huggingface_hub's upload pipeline retries a
        # refused commit in smaller chunks (its _commit_with_split), whatever the error
        (
            "POST",
            r"/commit/",
            ("--direct", "--min-shards", "1"),
            f"no write access to {REPO} with this token",
        ),
        ("GET", r"/discussions$", (), f"pull requests are disabled for {REPO}"),
        ("POST", r"/commit/", (), f"pull requests are disabled for {REPO}"),
        ("POST", r"/discussions/\d+/merge$", (), f"pull requests are disabled for {REPO}"),
    ],
)
def test_403_is_named_by_the_call_it_answers(hub, source, capsys, method, path, args, message):
    """On a pull request (listing, the commit that opens it, the merge) a 403 means pull
    requests are refused, not that the token cannot write."""
    fault = hub.fail(method, path, 403, times=99)
    assert push_cli(source, *args) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert TOKEN not in captured.err + captured.out
    assert fault.hits == 1, "a refusal is not retried"
    assert MANIFEST not in hub.repo_files(REPO) if (("dataset", REPO) in hub.repos) else True


def test_401_from_the_xet_token_endpoint_exits_2_no_write_access(hub, source, capsys):
    """hf_xet reports a refused token as a ConnectionError; the push asks for the token first."""
    if hub_constants.HF_HUB_DISABLE_XET:
        pytest.skip("Xet mode only: with HF_HUB_DISABLE_XET=1 no Xet token is asked for")
    hub.fail("GET", r"/xet-write-token/", 401, times=99)
    assert push_cli(source) == 2
    captured = capsys.readouterr()
    assert f"no write access to {REPO} with this token" in captured.err
    assert TOKEN not in captured.err + captured.out
    assert hub.stats.bytes_uploaded == 0 and not hub.repos[("dataset", REPO)].discussions, (
        "refused before a pull request is opened or a byte sent"
    )


def test_a_dropped_connection_exits_1_and_says_re_run(hub, source, capsys):
    """On `create_repo`, which huggingface_hub does not retry (it retries data commits itself)."""
    fault = hub.fail("POST", r"^/api/repos/create$", 0, times=99)
    assert push_cli(source) == 1
    err = capsys.readouterr().err
    assert "creating the repo" in err and "re-run the same command to resume" in err
    assert "5 tries" in err and fault.hits == 5
    fault.times = 0
    assert push_cli(source) == 0 and MANIFEST in hub.repo_files(REPO)


def test_a_card_the_hub_refuses_exits_2_before_any_byte_is_sent(hub, source, capsys):
    readme = source / "README.md"
    readme.write_text(readme.read_text().replace("license: cc-by-4.0", "license: cc-by-5.0"))
    assert push_cli(source) == 2
    err = capsys.readouterr().err
    assert "the Hub refuses this card" in err and "cc-by-5.0" in err and "license" in err
    assert hub.stats.bytes_uploaded == 0 and hub.stats.commits == []
    assert not [e for e in hub.stats.log if "preupload" in e[1] or "lfs" in e[1]]


def test_main_shows_the_old_or_the_new_dataset_never_a_mix(
    hub, source, native_audio, monkeypatch, capsys
):
    """Re-packaged with smaller shards (same samples, other shard files), a push that fails
    after its first data commit leaves main exactly as it was; the re-run publishes the new
    layout whole, stale shards gone."""
    monkeypatch.setattr(sousa.limits, "HUB_MAX_FILES_PER_COMMIT", 4)
    assert push_cli(source, "--shard-size", "2MB") == 0
    old_files = manifest_files(source)
    everyone = Counter(list(source_rows(source)))
    assert sample_counts() == everyone

    hub.fail_commit(2, status=422)  # the second data commit, with a status nobody retries
    assert push_cli(source, "--shard-size", "500KB") == 1
    assert "re-run" in capsys.readouterr().err
    new_files = manifest_files(source)
    assert new_files != old_files
    assert [c for c in hub.stats.commits if c["revision"].startswith("refs/pr/")], "data went up"
    assert managed(hub) == old_files - {MANIFEST, "README.md"}
    assert sample_counts() == everyone, "main shows exactly the old samples"

    assert push_cli(source, "--shard-size", "500KB") == 0
    assert managed(hub) == new_files - {MANIFEST, "README.md"}, "new layout, stale files gone"
    assert sample_counts() == everyone
    assert len(hub.stats.merges) == 2
    prs = hub.repos[("dataset", REPO)].discussions.values()
    assert [p["status"] for p in prs] == ["merged", "merged"], "the re-run resumed the same PR"


def test_a_failed_push_to_a_branch_leaves_the_branch_as_it_was(hub, source, monkeypatch):
    monkeypatch.setattr(sousa.limits, "HUB_MAX_FILES_PER_COMMIT", 4)
    assert push_cli(source, "--revision", "v2", "--shard-size", "2MB") == 0
    old = managed(hub, "v2")
    hub.fail_commit(2, status=422)
    assert push_cli(source, "--revision", "v2", "--shard-size", "500KB") == 1
    assert managed(hub, "v2") == old
    done = {op["path"] for c in hub.stats.commits[-1:] for op in c["operations"]}
    hub.reset_stats()
    assert push_cli(source, "--revision", "v2", "--shard-size", "500KB") == 0
    again = {op["path"] for c in hub.stats.commits for op in c["operations"]}
    assert done and not done & again, "the re-run resumed the pull request"
    assert managed(hub, "v2") == manifest_files(source) - {MANIFEST, "README.md"}
    branches = [r for r in hub.repos[("dataset", REPO)].refs if not r.startswith("refs/")]
    assert sorted(branches) == ["main", "v2"], "no other branch"
    assert MANIFEST not in hub.repo_files(REPO, "main")


def test_create_pr_resumes_into_the_same_pull_request(hub, source, monkeypatch, capsys):
    monkeypatch.setattr(sousa.limits, "HUB_MAX_FILES_PER_COMMIT", 4)
    hub.fail_commit(3, status=422)
    assert push_cli(source, "--create-pr") == 1
    assert push_cli(source, "--create-pr") == 0
    out = capsys.readouterr().out
    assert re.search(r"pull request: \S+/discussions/1 \(refs/pr/1, not merged\)", out)
    assert {c["revision"] for c in hub.stats.commits if c["operations"]} == {"refs/pr/1"}
    assert MANIFEST in hub.repo_files(REPO, "refs/pr/1")
    assert MANIFEST not in hub.repo_files(REPO) and hub.stats.merges == []


def test_each_commit_carries_at_most_the_batch_size(hub, source, monkeypatch):
    monkeypatch.setattr(sousa.limits, "HUB_MAX_FILES_PER_COMMIT", 4)
    assert push_cli(source, "--shard-size", "150KB") == 0
    *data, last = hub.stats.commits
    data_files = manifest_files(source) - {"README.md"}  # the manifest does not list itself
    assert len(data) == -(-len(data_files) // 4)
    assert all(len(c["operations"]) <= 4 for c in data)
    assert {op["path"] for op in last["operations"]} == {"README.md", MANIFEST}
