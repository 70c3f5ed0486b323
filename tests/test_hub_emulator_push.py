"""The emulator's card check and pull requests behave as the Hub's, through the real client."""

from __future__ import annotations

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi
from huggingface_hub.errors import HfHubHTTPError

from sousa.hub.checks import validate_card

REPO = "user/prs"


def card(yaml: str) -> DatasetCard:
    return DatasetCard(f"---\n{yaml}\n---\n# A card\n")


@pytest.mark.parametrize(
    ("yaml", "named"),
    [
        ("license: cc-by-5.0", "'cc-by-5.0'"),
        ("license: other", "license_name"),
        ("configs:\n- config_name: a\n  data_files:\n  - split: train-1\n    path: x/*", "train-1"),
        ("configs:\n- config_name: a\n- config_name: a", "repeated"),
        ("configs:\n- config_name: a\n  data_files:\n  - {split: train, paths: x}", "data_files"),
        ("dataset_info:\n  splits:\n  - {name: train, num_examples: -1}", "num_examples"),
        ("dataset_info:\n  features:\n  - {name: x}", "feature"),
    ],
)
def test_validate_yaml_refuses_what_the_hub_documents_as_invalid(hub, yaml, named):
    """`validate_card` is `DatasetCard.validate` asked of the emulator (huggingface_hub 1.0's
    `validate` asks huggingface.co whatever the endpoint)."""
    with pytest.raises(ValueError, match=named):
        validate_card(card(yaml), hub.endpoint)


def test_a_commit_with_a_refused_card_is_refused(hub):
    """huggingface_hub checks the card before committing; the Hub checks again on commit."""
    import base64
    import json

    from huggingface_hub.utils import get_session

    HfApi().create_repo(REPO, repo_type="dataset")
    content = base64.b64encode(str(card("license: nope")).encode()).decode()
    lines = [
        {"key": "header", "value": {"summary": "x", "description": ""}},
        {"key": "file", "value": {"path": "README.md", "content": content, "encoding": "base64"}},
    ]
    response = get_session().post(
        f"{hub.endpoint}/api/datasets/{REPO}/commit/main",
        content="".join(json.dumps(ln) + "\n" for ln in lines).encode(),
        headers={"Authorization": "Bearer hf_test_write", "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 400 and "nope" in response.headers["X-Error-Message"]
    assert "README.md" not in hub.repo_files(REPO)


def _repo_with_pr(api: HfApi) -> int:
    api.create_repo(REPO, repo_type="dataset")
    base = [CommitOperationAdd(p, p.encode()) for p in ("a.txt", "b.txt", "c.txt")]
    api.create_commit(REPO, base, commit_message="base", repo_type="dataset")
    pr = api.create_pull_request(REPO, "Upload", repo_type="dataset")
    assert pr.status == "draft" and pr.git_reference == f"refs/pr/{pr.num}"
    ops = [CommitOperationAdd("a.txt", b"new a"), CommitOperationDelete("b.txt")]
    api.create_commit(
        REPO, ops, commit_message="pr", repo_type="dataset", revision=pr.git_reference
    )
    with pytest.raises(HfHubHTTPError) as e:
        api.merge_pull_request(REPO, pr.num, repo_type="dataset")
    assert e.value.response.status_code == 400, "a draft does not merge"
    api.change_discussion_status(REPO, pr.num, "open", repo_type="dataset")
    return pr.num


def read(api: HfApi, path: str, revision: str = "main") -> bytes | None:
    from huggingface_hub import hf_hub_download

    if path not in api.list_repo_files(REPO, repo_type="dataset", revision=revision):
        return None
    with open(hf_hub_download(REPO, path, repo_type="dataset", revision=revision), "rb") as f:
        return f.read()


def test_merge_applies_the_pull_request_in_one_commit_and_keeps_other_changes(hub):
    api = HfApi()
    num = _repo_with_pr(api)
    other = [CommitOperationAdd("d.txt", b"meanwhile on main")]
    api.create_commit(REPO, other, commit_message="other", repo_type="dataset")
    before = hub.head(REPO)
    api.merge_pull_request(REPO, num, repo_type="dataset")
    assert read(api, "a.txt") == b"new a" and read(api, "b.txt") is None
    assert read(api, "c.txt") == b"c.txt" and read(api, "d.txt") == b"meanwhile on main"
    commits = api.list_repo_commits(REPO, repo_type="dataset")
    assert commits[0].title == f"Merge pull request #{num}" and commits[1].commit_id == before
    details = api.get_discussion_details(REPO, num, repo_type="dataset")
    assert details.status == "merged" and details.merge_commit_oid == commits[0].commit_id
    with pytest.raises(HfHubHTTPError) as e:
        api.merge_pull_request(REPO, num, repo_type="dataset")
    assert e.value.response.status_code == 400


def test_merge_refuses_a_path_changed_on_both_sides(hub):
    api = HfApi()
    num = _repo_with_pr(api)
    api.create_commit(
        REPO, [CommitOperationAdd("a.txt", b"other a")], commit_message="x", repo_type="dataset"
    )
    head = hub.head(REPO)
    with pytest.raises(HfHubHTTPError) as e:
        api.merge_pull_request(REPO, num, repo_type="dataset")
    assert e.value.response.status_code == 409 and "a.txt" in str(e.value)
    assert hub.head(REPO) == head


def test_open_pull_requests_are_listed_by_author_and_status(hub):
    api = HfApi()
    num = _repo_with_pr(api)
    prs = list(api.get_repo_discussions(REPO, author="user", repo_type="dataset"))
    assert [(p.num, p.status, p.title) for p in prs] == [(num, "open", "Upload")]
    assert not list(api.get_repo_discussions(REPO, author="someone", repo_type="dataset"))


def test_a_commit_with_create_pr_opens_the_pull_request_against_its_branch(hub):
    """`create_commit(create_pr=True, revision=B)`; merged, it moves B and leaves main."""
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    api.create_branch(REPO, branch="dev", repo_type="dataset")
    add = [CommitOperationAdd("a.txt", b"on dev")]
    info = api.create_commit(
        REPO, add, commit_message="to dev", revision="dev", create_pr=True, repo_type="dataset"
    )
    details = api.get_discussion_details(REPO, info.pr_num, repo_type="dataset")
    assert details.target_branch == "refs/heads/dev" and details.status == "open"
    main_head = hub.head(REPO)
    api.merge_pull_request(REPO, info.pr_num, repo_type="dataset")
    assert read(api, "a.txt", "dev") == b"on dev" and hub.head(REPO) == main_head


def test_the_details_of_a_pull_request_name_its_conflicting_files(hub):
    api = HfApi()
    num = _repo_with_pr(api)
    assert api.get_discussion_details(REPO, num, repo_type="dataset").conflicting_files == []
    api.create_commit(
        REPO, [CommitOperationAdd("a.txt", b"other a")], commit_message="x", repo_type="dataset"
    )
    details = api.get_discussion_details(REPO, num, repo_type="dataset")
    assert details.conflicting_files == ["a.txt"]


def test_closing_with_a_comment_keeps_the_comment(hub):
    api = HfApi()
    num = _repo_with_pr(api)
    api.change_discussion_status(REPO, num, "closed", comment="why", repo_type="dataset")
    pr = hub.repos[("dataset", REPO)].discussions[num]
    assert pr["status"] == "closed" and pr["comments"] == ["why"]


def test_a_token_without_discussion_rights_writes_files_but_opens_no_pull_request(hub):
    api = HfApi()
    num = _repo_with_pr(api)
    hub.tokens["hf_fine"] = "fineGrained"
    fine = HfApi(token="hf_fine")
    fine.create_commit(
        REPO, [CommitOperationAdd("f.txt", b"f")], commit_message="f", repo_type="dataset"
    )
    assert [p.num for p in fine.get_repo_discussions(REPO, repo_type="dataset")] == [num]
    add = [CommitOperationAdd("g.txt", b"g")]
    for call in (
        lambda: fine.create_commit(
            REPO, add, commit_message="pr", create_pr=True, repo_type="dataset"
        ),
        lambda: fine.merge_pull_request(REPO, num, repo_type="dataset"),
        lambda: fine.change_discussion_status(REPO, num, "closed", repo_type="dataset"),
    ):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 403
    assert hub.repos[("dataset", REPO)].discussions[num]["status"] == "open"
