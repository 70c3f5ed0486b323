"""Where a push is assembled, and the one step that shows it to readers of the target.

A push never commits data to the revision people load. For main it commits into a pull
request and merges it at the end: the Hub's pull requests are refs (`refs/pr/N`) anyone with
write access can commit to, and `merge_pull_request` moves main in a single merge commit. Pull
requests on the Hub only target main, so for a `--revision` branch the push commits into a
work branch started from the target's head and re-points the target at the end (delete and
re-create at the work branch's head: readers see the old dataset, for an instant no branch,
then the new one; never a mix).

Both are found again by name on a re-run, so an interrupted push resumes where it stopped:
the pull request by its title, which carries the manifest's digest (a re-packaged dataset
opens a new one); the work branch by its name, restarted if the target moved meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from huggingface_hub import HfApi
from huggingface_hub.errors import RevisionNotFoundError

from .errors import PushError
from .hub_calls import RESUME_HINT, hub_call

PR_TITLE = "Upload dataset with sousa (manifest {digest})"
PR_DESCRIPTION = (
    "Opened by sousa: the whole dataset is committed here and this pull request is merged "
    "when it is complete, so main never shows half of it."
)
WORK_BRANCH = "sousa-push-{digest}"


@dataclass(frozen=True)
class Work:
    """Where the commits of a push go."""

    repo_id: str
    ref: str  # "refs/pr/N" or a work branch
    pr_num: int | None = None
    pr_url: str | None = None


def open_work(
    api: HfApi, repo_id: str, token: str, user: str, target: str, create_pr: bool, digest: str
) -> Work:
    """The pull request (main, --create-pr) or work branch (a --revision) to commit into."""
    if target == "main" or create_pr:
        return hub_call(
            "opening the pull request", repo_id, _pull_request, api, repo_id, token, user, digest
        )
    branch = WORK_BRANCH.format(digest=digest)
    hub_call("opening the work branch", repo_id, _work_branch, api, repo_id, token, target, branch)
    return Work(repo_id, branch)


def publish(api: HfApi, repo_id: str, token: str, work: Work, target: str) -> None:
    """Show the complete upload at `target`: merge the pull request, or re-point the branch."""
    if work.pr_num is not None:
        hub_call("merging the pull request", repo_id, _merge, api, repo_id, token, work.pr_num)
    else:
        hub_call(f"moving {target}", repo_id, _repoint, api, repo_id, token, target, work.ref)


def _pull_request(api: HfApi, repo_id: str, token: str, user: str, digest: str) -> Work:
    title = PR_TITLE.format(digest=digest)
    mine = api.get_repo_discussions(
        repo_id, author=user, discussion_type="pull_request", repo_type="dataset", token=token
    )
    for pr in mine:
        if pr.title == title and pr.status in ("open", "draft"):
            return Work(repo_id, pr.git_reference or "", pr.num, pr.url)
    pr = api.create_pull_request(
        repo_id, title, token=token, description=PR_DESCRIPTION, repo_type="dataset"
    )
    return Work(repo_id, pr.git_reference or "", pr.num, pr.url)


def _merge(api: HfApi, repo_id: str, token: str, num: int) -> None:
    """Merge, unless a try whose answer was lost already did. A pull request opened through
    the API is a draft (huggingface_hub's docs): it is marked open first."""
    pr = api.get_discussion_details(repo_id, num, repo_type="dataset", token=token)
    if pr.status == "merged":
        return
    if pr.status == "draft":
        api.change_discussion_status(repo_id, num, "open", repo_type="dataset", token=token)
    api.merge_pull_request(repo_id, num, repo_type="dataset", token=token)


def _work_branch(api: HfApi, repo_id: str, token: str, target: str, branch: str) -> None:
    """Start (or keep, to resume) `branch` from the target's head."""
    head = _head(api, repo_id, token, target)
    history = _history(api, repo_id, token, branch)
    if history is not None and head in history:
        return  # an interrupted push of this manifest: resume it
    if history is not None:  # the target moved since: start again from it
        api.delete_branch(repo_id, branch=branch, repo_type="dataset", token=token)
    api.create_branch(repo_id, branch=branch, revision=head, repo_type="dataset", token=token)


def _repoint(api: HfApi, repo_id: str, token: str, target: str, branch: str) -> None:
    history = _history(api, repo_id, token, branch)
    if history is None:  # a try whose answer was lost already moved the target
        return
    head = _history(api, repo_id, token, target)
    if head is not None and head[0] not in history:
        raise PushError(f"{repo_id}@{target} changed during the push; {RESUME_HINT}")
    if head is not None:
        api.delete_branch(repo_id, branch=target, repo_type="dataset", token=token)
    api.create_branch(repo_id, branch=target, revision=history[0], repo_type="dataset", token=token)
    api.delete_branch(repo_id, branch=branch, repo_type="dataset", token=token)


def _head(api: HfApi, repo_id: str, token: str, revision: str) -> str:
    return api.repo_info(repo_id, revision=revision, repo_type="dataset", token=token).sha or ""


def _history(api: HfApi, repo_id: str, token: str, branch: str) -> list[str] | None:
    """Commit ids of `branch`, newest first; None if there is no such branch."""
    try:
        commits = api.list_repo_commits(repo_id, revision=branch, repo_type="dataset", token=token)
    except RevisionNotFoundError:
        return None
    return [c.commit_id for c in commits]
