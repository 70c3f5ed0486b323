"""The pull request a push is assembled in, and the merge that shows it to readers of the target.

A push (unless `--direct`) never commits data to the branch people load. It commits into a pull
request against that branch, main or any other, and merges it at the end: a pull request is a
ref (`refs/pr/N`) its author can commit to, and `merge_pull_request` moves the target in one
merge commit. The push's first commit opens it: `create_commit(create_pr=True, revision=B)` is
how the client opens a pull request against branch B (huggingface_hub `HfApi.create_commit`:
"If `revision` is set and is a branch, PR is opened against this branch";
`create_pull_request` takes no base, and `upload_folder` refuses `create_pr` with a revision).

The rules this module follows, each a rule of the Hub:
- Found again on a re-run: the user's open (or draft) pull request whose title carries the
  manifest's digest and whose target is the same branch, so an interrupted push resumes it.
- A draft does not merge until it is published (hub-docs "Pull requests and Discussions",
  Draft mode): one found as a draft is published first.
- A merge refused as a conflict (files changed on the target since the pull request started):
  `merge` says so, and the caller closes it with a comment (`close`) and assembles a new one
  from the target's current head.
- After a merge, the user's earlier open sousa pull requests against the same target are
  closed, with a comment naming the one that replaced them (`close_replaced`).
- A repo can disable pull requests, and a fine-grained token may write files without the
  `discussion.write` permission: both answer 403, named by `forbidden_message`.
"""

from __future__ import annotations

from dataclasses import dataclass

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from ..errors import PushError
from .calls import TRANSIENT_STATUS

PR_PREFIX = "Upload dataset with sousa"
PR_TITLE = PR_PREFIX + " (manifest {digest})"
PR_DESCRIPTION = (
    "Opened by sousa: the whole dataset is committed here and this pull request is merged "
    "when it is complete, so the branch never shows half of it."
)


@dataclass(frozen=True)
class ClosedPull:
    """A pull request of a push closed because its merge was refused as a conflict."""

    num: int
    url: str
    files: list[str]  # the conflicting files the Hub named (may be none)


@dataclass(frozen=True)
class Pull:
    """A pull request of this push."""

    num: int
    url: str
    ref: str  # "refs/pr/N": where its commits go


def forbidden_message(repo_id: str) -> str:
    """What a 403 on a pull-request call means, and the ways through."""
    return (
        f"pull requests are disabled for {repo_id}, or this token may not open them: enable "
        "them in the repo's settings, use a token with the discussion.write permission, or "
        "push with --direct (readers then see the dataset while it uploads)"
    )


def find_pull(api: HfApi, repo_id: str, token: str, user: str, target: str, title: str):
    """The user's open or draft pull request titled `title` against `target`, or None."""
    for pr in _mine(api, repo_id, token, user, target):
        if pr.title == title:
            return Pull(pr.num, pr.url, pr.git_reference or f"refs/pr/{pr.num}")
    return None


def open_pull(
    api: HfApi, repo_id: str, token: str, user: str, target: str, title: str, operations: list
) -> Pull:
    """Open the pull request against `target` with its first commit (`operations`); if a try
    whose answer was lost already opened it, return that one."""
    found = find_pull(api, repo_id, token, user, target, title)
    if found is not None:
        return found
    info = api.create_commit(
        repo_id, operations, commit_message=title, commit_description=PR_DESCRIPTION,
        repo_type="dataset", revision=target, create_pr=True, token=token,
    )  # fmt: skip
    if info.pr_num is None:  # the client skips a commit that changes nothing
        raise PushError(f"no pull request opened on {repo_id}: its first commit changed nothing")
    return Pull(info.pr_num, info.pr_url or "", info.pr_revision or f"refs/pr/{info.pr_num}")


def merge(api: HfApi, repo_id: str, token: str, num: int) -> list[str] | None:
    """Merge pull request `num`: None once merged (also by a try whose answer was lost), else
    the files the Hub names as conflicting (possibly none named) when it refuses a conflict."""
    pr = api.get_discussion_details(repo_id, num, repo_type="dataset", token=token)
    if pr.status == "merged":
        return None
    if pr.status == "draft":
        api.change_discussion_status(repo_id, num, "open", repo_type="dataset", token=token)
    try:
        api.merge_pull_request(repo_id, num, repo_type="dataset", token=token)
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status is None or status in (401, 403) or status in TRANSIENT_STATUS:
            raise
        files = api.get_discussion_details(
            repo_id, num, repo_type="dataset", token=token
        ).conflicting_files
        if status != 409 and not files:
            raise
        return sorted(files) if isinstance(files, list) else []
    return None


def close(api: HfApi, repo_id: str, token: str, num: int, comment: str) -> None:
    """Close pull request `num` with `comment`, unless it is closed already."""
    pr = api.get_discussion_details(repo_id, num, repo_type="dataset", token=token)
    if pr.status in ("open", "draft"):
        api.change_discussion_status(
            repo_id, num, "closed", comment=comment, repo_type="dataset", token=token
        )


def conflict_comment(target: str, files: list[str]) -> str:
    named = ", ".join(files[:5]) + (f" (+{len(files) - 5} more)" if len(files) > 5 else "")
    return (
        f"Closed by sousa: the merge into {target} was refused as a conflict: "
        f"{named or 'files'} changed on {target} since this pull request was opened. The push "
        f"continues in a new pull request from the current head of {target}."
    )


def close_replaced(
    api: HfApi, repo_id: str, token: str, user: str, target: str, merged: Pull
) -> list[int]:
    """Close the user's other open sousa pull requests against `target`, naming `merged`."""
    comment = f"Closed by sousa: replaced by #{merged.num} ({merged.url}), merged into {target}."
    closed = []
    for pr in _mine(api, repo_id, token, user, target):
        if pr.num != merged.num and pr.title.startswith(PR_PREFIX):
            api.change_discussion_status(
                repo_id, pr.num, "closed", comment=comment, repo_type="dataset", token=token
            )
            closed.append(pr.num)
    return sorted(closed)


def _mine(api: HfApi, repo_id: str, token: str, user: str, target: str):
    """The user's open and draft pull requests against branch `target`, with their details."""
    listed = api.get_repo_discussions(
        repo_id, author=user, discussion_type="pull_request", repo_type="dataset", token=token
    )
    for pr in listed:
        if pr.status not in ("open", "draft"):
            continue
        details = api.get_discussion_details(repo_id, pr.num, repo_type="dataset", token=token)
        if (details.target_branch or "refs/heads/main").removeprefix("refs/heads/") == target:
            yield details
