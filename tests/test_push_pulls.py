"""`--push` under the Hub's rules for pull requests (tests/hub_pulls.py): a pull request against
the branch pushed to, a merge refused as a conflict, earlier pull requests closed, drafts,
pull requests refused (disabled, or a token without discussion rights) and `--direct`."""

from __future__ import annotations

import hashlib
import json

import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from sousa.hub.pulls import PR_PREFIX, PR_TITLE
from sousa.write.staging import MANIFEST

from .push_cli import REPO, push_cli, stage


def pulls(hub) -> dict[int, dict]:
    return hub.repos[("dataset", REPO)].discussions


def holds_the_manifest(hub, source, revision: str = "main") -> bool:
    """Every file of the staging folder's manifest, and the manifest, at `revision`."""
    staging = source / "hf_staging"
    remote = hub.repo_files(REPO, revision)
    files = json.loads((staging / MANIFEST).read_text())["files"]
    same = all(p in remote and remote[p]["sha256"] == f["sha256"] for p, f in files.items())
    return (
        same
        and MANIFEST in remote
        and hub.read_file(REPO, MANIFEST, revision) == (staging / MANIFEST).read_bytes()
    )


def uploaded_objects(hub) -> list[str]:
    return hub.stats.lfs_uploads + hub.stats.xorb_uploads


def test_revision_goes_through_a_pull_request_against_that_branch(hub, source, capsys):
    """`--revision dev --create-pr` opens it against dev and stops; the same push without
    `--create-pr` resumes it and merges it into dev. No branch is deleted or re-created."""
    assert push_cli(source, "--revision", "dev", "--create-pr") == 0
    assert "(refs/pr/1, not merged)" in capsys.readouterr().out
    details = HfApi().get_discussion_details(REPO, 1, repo_type="dataset")
    assert details.target_branch == "refs/heads/dev" and details.status == "open"
    assert MANIFEST not in hub.repo_files(REPO, "dev")

    assert push_cli(source, "--revision", "dev") == 0
    out = capsys.readouterr().out
    assert "merged: pull request #1 into dev" in out and 'revision="dev"' in out
    assert holds_the_manifest(hub, source, "dev") and MANIFEST not in hub.repo_files(REPO)
    assert [(p["num"], p["status"], p["target"]) for p in pulls(hub).values()] == [
        (1, "merged", "dev")
    ]
    branches = sorted(r for r in hub.repos[("dataset", REPO)].refs if not r.startswith("refs/"))
    assert branches == ["dev", "main"]
    assert not [e for e in hub.stats.log if e[0] == "DELETE"], "no branch was deleted"


def _another_writer_edits_the_card_at_merge(monkeypatch, source, times: int) -> list[int]:
    """Before each of the first `times` merges, commit another card to main (a valid one:
    the staging card plus a line), so the merge finds README.md changed on both sides."""
    real_merge = HfApi.merge_pull_request
    merges: list[int] = []
    card = (source / "hf_staging" / "README.md").read_text() + "\nEdited on the Hub.\n"

    def merge_after_another_writer(self, repo_id, discussion_num, **kwargs):
        if len(merges) < times:
            edit = [CommitOperationAdd("README.md", f"{card}{len(merges)}\n".encode())]
            HfApi().create_commit(REPO, edit, commit_message="edit", repo_type="dataset")
        merges.append(discussion_num)
        return real_merge(self, repo_id, discussion_num, **kwargs)

    monkeypatch.setattr(HfApi, "merge_pull_request", merge_after_another_writer)
    return merges


def test_a_merge_refused_as_a_conflict_is_assembled_again_from_the_new_head(
    hub, source, monkeypatch, capsys
):
    """The card changes on main between the upload and the merge: the push closes its pull
    request saying why, opens one from main's new head, uploads no object again, merges."""
    stage(source)
    merges = _another_writer_edits_the_card_at_merge(monkeypatch, source, times=1)
    assert push_cli(source) == 0
    out = capsys.readouterr().out
    assert merges == [1, 2]
    assert (
        "merge into main refused as a conflict (README.md changed on main during the push): "
        "pull request #1 closed, the upload continued in a new one from main's current head"
    ) in out
    assert "merged: pull request #2 into main" in out
    first, second = pulls(hub)[1], pulls(hub)[2]
    assert first["status"] == "closed" and second["status"] == "merged"
    assert first["comments"] == [
        "Closed by sousa: the merge into main was refused as a conflict: README.md changed on "
        "main since this pull request was opened. The push continues in a new pull request "
        "from the current head of main."
    ]
    assert holds_the_manifest(hub, source), "the new dataset is on main, our card included"
    assert len(uploaded_objects(hub)) == len(set(uploaded_objects(hub))), "nothing sent twice"
    into_second = {op["path"] for c in hub.stats.commits if c["revision"] == "refs/pr/2"
                   for op in c["operations"]}  # fmt: skip
    assert "README.md" in into_second


def test_conflicts_that_persist_exit_1_and_a_re_run_finishes(hub, source, monkeypatch, capsys):
    stage(source)
    _another_writer_edits_the_card_at_merge(monkeypatch, source, times=3)
    assert push_cli(source) == 1
    err = capsys.readouterr().err
    assert (
        f"error: merging into main on {REPO} was refused as a conflict 3 times (README.md "
        "changed on main during the push; pull requests #1, #2, #3 closed): another writer "
        "keeps changing main; re-run the same command to resume"
    ) in err
    assert [p["status"] for p in pulls(hub).values()] == ["closed"] * 3
    assert MANIFEST not in hub.repo_files(REPO)
    assert push_cli(source) == 0  # the other writer has stopped
    assert holds_the_manifest(hub, source) and pulls(hub)[4]["status"] == "merged"


def test_a_merging_push_closes_its_earlier_open_pull_requests(hub, source, capsys):
    """Ours (same title prefix, same author, same target) are closed naming the one that
    replaced them; a pull request with another title, or against another branch, is not."""
    assert push_cli(source, "--create-pr") == 0  # #1: the dataset, open
    api = HfApi()
    api.create_pull_request(REPO, "Fix a typo in the card", repo_type="dataset")  # #2
    api.create_branch(REPO, branch="dev", repo_type="dataset")
    notes = [CommitOperationAdd("notes.txt", b"x")]  # #3: ours, against dev
    api.create_commit(
        REPO,
        notes,
        commit_message=f"{PR_PREFIX} (x)",
        revision="dev",
        create_pr=True,
        repo_type="dataset",
    )
    capsys.readouterr()
    assert push_cli(source, "--shard-size", "500KB") == 0  # re-packaged: #4, merged
    out = capsys.readouterr().out
    statuses = {n: p["status"] for n, p in pulls(hub).items()}
    assert statuses == {1: "closed", 2: "draft", 3: "open", 4: "merged"}
    url = f"{hub.endpoint}/datasets/{REPO}/discussions/4"
    assert pulls(hub)[1]["comments"] == [
        f"Closed by sousa: replaced by #4 ({url}), merged into main."
    ]
    assert "closed earlier pull request(s) #1: replaced by #4" in out
    assert holds_the_manifest(hub, source)


def test_a_draft_found_by_its_title_is_published_then_merged(hub, source):
    """A draft does not merge until published (the Hub's rule): one with the push's title is
    resumed, published and merged."""
    stage(source)  # the card the push makes
    manifest = (source / "hf_staging" / MANIFEST).read_bytes()
    title = PR_TITLE.format(digest=hashlib.sha256(manifest).hexdigest()[:12])
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    assert api.create_pull_request(REPO, title, repo_type="dataset").status == "draft"
    assert push_cli(source) == 0
    assert [p["status"] for p in pulls(hub).values()] == ["merged"]
    assert holds_the_manifest(hub, source)


@pytest.mark.parametrize("refusal", ["disabled in the repo", "a token without discussions"])
def test_pull_requests_refused_exit_2_saying_so_and_direct_goes_through(
    hub, source, capsys, refusal
):
    HfApi().create_repo(REPO, repo_type="dataset")
    token: tuple[str, ...] = ()
    if refusal == "disabled in the repo":
        hub.repos[("dataset", REPO)].discussions_disabled = True
    else:
        hub.tokens["hf_fine"] = "fineGrained"  # writes files, may not open discussions
        token = ("--token", "hf_fine")
    assert push_cli(source, *token) == 2
    err = capsys.readouterr().err
    assert (
        f"error: pull requests are disabled for {REPO}, or this token may not open them: "
        "enable them in the repo's settings, use a token with the discussion.write "
        "permission, or push with --direct (readers then see the dataset while it uploads)"
    ) in err
    assert MANIFEST not in hub.repo_files(REPO) and not pulls(hub)

    assert push_cli(source, *token, "--direct") == 0
    captured = capsys.readouterr()
    assert (
        f"warning: --direct commits straight to {REPO}@main: until this push ends, readers "
        "of main can see a partly uploaded dataset (new files beside old ones)"
    ) in captured.err
    assert holds_the_manifest(hub, source) and not pulls(hub) and not hub.stats.merges
    assert "pull request" not in captured.out
    assert {c["revision"] for c in hub.stats.commits} == {"main"}


def test_a_read_token_is_refused_before_a_pull_request_is_opened(hub, source, capsys):
    """On the Hub a read token may open a pull request, never merge it: refused at once."""
    HfApi().create_repo(REPO, repo_type="dataset")
    hub.tokens["hf_read_only"] = "read"
    assert push_cli(source, "--token", "hf_read_only") == 2
    assert f"error: no write access to {REPO} with a read token" in capsys.readouterr().err
    assert not pulls(hub) and hub.stats.bytes_uploaded == 0


def test_direct_and_create_pr_together_are_refused(hub, source, capsys):
    with pytest.raises(SystemExit) as e:
        push_cli(source, "--direct", "--create-pr")
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert hub.stats.total_requests == 0
