"""Release tags: refused when the repo has the tag already, created on the verified commit.

A release tag never moves: `load_dataset(repo_id, revision=tag)` must read the same dataset for
good, so a push whose tag exists is refused before anything is uploaded (`check_tag_is_new`),
and the tag is created only once the dataset is verified on its branch (`create_tag`).
"""

from __future__ import annotations

from huggingface_hub import HfApi

from ..errors import InputError
from .calls import hub_call


def check_tag_is_new(api: HfApi, repo_id: str, tag: str, token: str | None) -> None:
    """Refuse a tag the repo has already (`InputError`, exit 2): a release tag never moves."""
    refs = hub_call(
        "listing the tags", repo_id, api.list_repo_refs, repo_id, repo_type="dataset", token=token
    )
    for existing in refs.tags:
        if existing.name == tag:
            raise InputError(
                f"tag {tag} already exists on {repo_id} (commit {existing.target_commit[:12]}): "
                "a release tag is never moved; choose a new one (the next version)"
            )


def create_tag(api: HfApi, repo_id: str, target: str, tag: str, token: str | None) -> str:
    """Tag the commit at the head of `target` (read once, so the tag names that very commit)."""
    sha = api.repo_info(repo_id, repo_type="dataset", revision=target, token=token).sha
    api.create_tag(
        repo_id, tag=tag, revision=sha, repo_type="dataset", token=token,
        tag_message=f"sousa release {tag}",
    )  # fmt: skip
    return sha
