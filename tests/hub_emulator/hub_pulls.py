"""The Hub's rules for pull requests, as the emulator (server.py) applies them.

Each rule, with where it is written:
- A commit with `create_pr` opens a pull request against the branch it names
  (huggingface_hub `hf_api.py`, `HfApi.create_commit`: "If `revision` is set and is a branch,
  PR is opened against this branch"); its details give that branch as `changes.base`, which
  the client reads as `DiscussionWithDetails.target_branch` (`HfApi.get_discussion_details`).
- Merging applies the pull request's changes (its head against the commit it started from) to
  its target's current tree in one commit; a path changed differently on both sides is a
  conflict, refused with 409, and the details list it (`filesWithConflicts`, read as
  `conflicting_files`: huggingface_hub `community.py`, `DiscussionWithDetails`).
- A draft does not merge until it is published (hub-docs
  `docs/hub/repositories-pull-requests-discussions.md`, "Draft mode": "it cannot be merged").
- A repo can disable discussions and pull requests (hub-docs
  `docs/hub/repositories-settings.md`, "Disabling Discussions / Pull Requests"): then every
  discussion endpoint and every `create_pr` commit answers 403 (`Repo.discussions_disabled`).
- A fine-grained token may write a repo without the `discussion.write` permission
  (huggingface_hub `hf_api.py`, `HfApi.upload_attachment`: "The token needs the
  `discussion.write` permission"). The emulator's role `fineGrained` is such a token: it
  commits and reads, but opening, commenting, changing the status of or merging a pull request
  answers 403.
- Closing with a comment: `change_discussion_status(..., comment=...)` sends
  `{"status", "comment"}` (`hf_api.py`, `HfApi.change_discussion_status`); the emulator keeps
  the comments in `pr["comments"]`.
"""

from __future__ import annotations

NO_DISCUSSIONS = "fineGrained"  # a token role: writes the repo, may not open discussions


def pulls_refused(h, method: str, repo_type: str, repo_id: str) -> str | None:
    """Why a discussion call (or a `create_pr` commit: `method` POST) is refused with 403:
    the repo has pull requests disabled, or the token may not write discussions; else None."""
    role = h._token_role()
    repo = h.emu.repos.get((repo_type, repo_id))
    if repo is not None and repo.discussions_disabled:
        return "Discussions are disabled for this repo"
    if method != "GET" and role == NO_DISCUSSIONS:
        return "This token does not have the discussion.write permission"
    return None


def _changed(a: dict, b: dict) -> set[str]:
    key = lambda e: e and (e.sha256, e.lfs)  # noqa: E731
    return {p for p in a.keys() | b.keys() if key(a.get(p)) != key(b.get(p))}


def conflicts(emu, repo, pr: dict) -> list[str]:
    """Paths the pull request and its target both changed, differently, since it started."""
    base = repo.commits[pr["base"]].files
    head = emu._commit_at(repo, pr["ref"]).files
    tip = emu._commit_at(repo, pr.get("target", "main")).files
    ours, theirs = _changed(base, head), _changed(base, tip)
    return sorted(p for p in ours & theirs if p in _changed(head, tip))


def merge(emu, repo, pr: dict) -> str:
    """Apply the pull request to its target in one new commit (the caller has checked
    `conflicts`); the commit's sha."""
    target = pr.get("target", "main")
    base = repo.commits[pr["base"]].files
    head = emu._commit_at(repo, pr["ref"]).files
    tip = emu._commit_at(repo, target)
    files = dict(tip.files)
    for path in _changed(base, head):
        if path in head:
            files[path] = head[path]
        else:
            files.pop(path, None)
    commit = emu._new_commit(repo, tip.sha, f"Merge pull request #{pr['num']}", "", files)
    repo.refs[target] = commit.sha
    return commit.sha
