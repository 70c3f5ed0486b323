"""Push a complete staging folder to the Hub: checked first, resumable, atomic for readers.

After the checks (`sousa.hub.checks`), the remote tree is compared with the manifest (LFS
sha256, or the git blob id of a regular file) and only files that differ are sent: a re-run
after a failure resends nothing a finished commit holds, and a second push of an unchanged
dataset makes no commit at all.

Readers never see half a dataset: the upload is assembled in a pull request against the target
branch and merged at the end, one merge commit from the old complete dataset to the new one
(`sousa.hub.pulls`). A merge refused as a conflict closes that pull request and assembles a
new one from the target's current head, sending what that head lacks (objects already uploaded
are not uploaded again). Why not content-addressed shard names instead: the names are the
packager's (listed by the split tables and the card), and a reader globbing `audio/train-*`
would still see old and new shards side by side. `direct=True` commits straight to the target,
for repos where pull requests are refused: readers then see the dataset while it uploads.

Commits: at most `limits.HUB_MAX_FILES_PER_COMMIT` files and `HUB_MAX_BYTES_PER_COMMIT` bytes
each (read when a push starts), paced under the Hub's hourly commit rate; the last one deletes
stale files and adds README.md and manifest.json, so the card never points at files that are
not there. Every call is retried on transient failures (`sousa.hub.calls`).

Releases: `tag` (`v1.0`) is refused before anything is uploaded if the repo has it already (a
release tag never moves), and once the dataset is verified on the target it tags the commit
that holds it (`HfApi.create_tag`), so `load_dataset(repo_id, revision=tag)` reads this
version for good.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import RevisionNotFoundError
from huggingface_hub.utils import (
    are_progress_bars_disabled,
    disable_progress_bars,
    enable_progress_bars,
)
from tqdm import tqdm

from .. import limits
from ..errors import InputError, PushError
from ..layout import MANAGED_FOLDERS, FileDigest
from ..layout import MANIFEST_PATH as MANIFEST
from ..limits import check_push_limits, check_repo_id, check_tag, commit_batches, commit_pace
from ..staged import read_manifest, sha256_file, writer_lock
from . import pulls
from .calls import RESUME_HINT, check_xet_write_token, hub_call
from .checks import check_card, require_token
from .pulls import ClosedPull, Pull, find_pull, forbidden_message, open_pull
from .tags import check_tag_is_new, create_tag

LAST_FILES = ("README.md", MANIFEST)  # committed last: the card and the completion mark
MERGE_TRIES = 3  # pull requests a push assembles when merges keep being refused as conflicts


@dataclass(frozen=True)
class RemoteFile:
    size: int
    sha256: str | None  # LFS files
    blob_id: str  # git object id


@dataclass
class PushResult:
    """What a push did; `mismatched` non-empty means the remote differs from the manifest."""

    repo_id: str
    target: str  # the branch pushed to
    revision: str  # where the dataset is now: the target, or the open pull request's ref
    uploaded: int = 0  # files committed
    deleted: int = 0  # stale files deleted
    commits: int = 0
    mismatched: list[str] = field(default_factory=list)
    pr_num: int | None = None
    pr_url: str | None = None
    merged: bool = False  # the pull request was merged into the target
    tag: str | None = None  # the release tag created, on `tagged_commit`
    tagged_commit: str | None = None
    direct: bool = False  # committed straight to the target
    conflicts: list[ClosedPull] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)  # earlier pull requests closed


@dataclass
class _Into:
    """Where the next commit goes: the target (`title` None: direct), or a pull request,
    opened by the first commit when `pull` is None."""

    target: str
    title: str | None
    pull: Pull | None = None

    @property
    def ref(self) -> str:
        return self.pull.ref if self.pull else self.target


def push(
    staging: Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    direct: bool = False,
    progress: bool = False,
    api: HfApi | None = None,
    tag: str | None = None,
) -> PushResult:
    """Check, upload what differs into a pull request against `revision` (main by default),
    verify, merge, then tag the result `tag` if given; see the module docstring. `create_pr`
    stops before the merge; `direct` commits straight to the target. Holds the staging
    folder's `writer_lock` throughout, so a folder being re-packaged is never read
    half-written."""
    if not staging.is_dir():
        raise InputError(f"{staging}: no such staging folder (run python -m sousa.package first)")
    check_tag(tag)
    if tag and create_pr:
        raise InputError(f"--tag {tag} and --create-pr: a tag marks a merged release; merge first")
    with writer_lock(staging), client_bars(progress):
        result = _push(
            staging, repo_id, token, private, revision, create_pr, direct, progress, api, tag
        )
    if tag and not result.mismatched:
        api = api or HfApi()
        result.tag = tag
        result.tagged_commit = hub_call(
            f"tagging {tag}", repo_id, create_tag, api, repo_id, result.target, tag, token
        )
    return result


@contextmanager
def client_bars(progress: bool) -> Iterator[None]:
    """huggingface_hub's progress bars (its uploads', and hf_xet's, which it draws) shown only
    when ours are: off for `--quiet` and where stderr is not a terminal, through its public
    switch (`huggingface_hub.utils.disable_progress_bars`), and back on afterwards."""
    if progress or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


def namespace_refused(repo_id: str, user: str) -> str | None:
    """The message for a 403 on creating `repo_id` when its namespace is not the token's user
    (None when it is: then the token lacks write access, the usual message)."""
    namespace, name = repo_id.split("/")
    if namespace == user:
        return None
    return (
        f"no write access to {repo_id}: this token is user {user}'s, and a token writes only "
        f"under its user's and its organisations' names ({namespace} is neither): push to "
        f"{user}/{name}, or use a token that may write to {namespace}"
    )


def _push(
    staging: Path,
    repo_id: str,
    token: str | None,
    private: bool,
    revision: str | None,
    create_pr: bool,
    direct: bool,
    progress: bool,
    api: HfApi | None,
    tag: str | None = None,
) -> PushResult:
    check_repo_id(repo_id)
    if direct and create_pr:
        raise InputError("--direct and --create-pr: choose one (straight, or a pull request)")
    files = read_manifest(staging).files
    check_push_limits({p: f.size for p, f in files.items()}, private)
    api = api or HfApi()
    token, user = require_token(api, token, repo_id)
    check_card(staging, repo_id, api.endpoint)
    hub_call(
        "creating the repo", repo_id, api.create_repo, repo_id, repo_type="dataset",
        private=private, token=token, exist_ok=True, forbidden=namespace_refused(repo_id, user),
    )  # fmt: skip
    if tag:
        check_tag_is_new(api, repo_id, tag, token)
    target = revision or "main"
    if target != "main":
        hub_call(
            f"creating branch {target}", repo_id, api.create_branch, repo_id, branch=target,
            repo_type="dataset", token=token, exist_ok=True,
        )  # fmt: skip
    result = PushResult(repo_id, target, target, direct=direct)
    remote = hub_call("listing the repo", repo_id, remote_files, api, repo_id, target, token)
    if not _differences(remote, files, staging):
        result.mismatched = verify(api, repo_id, target, token, staging, files)
        return result
    digest = hashlib.sha256((staging / MANIFEST).read_bytes()).hexdigest()[:12]
    hub_call(
        "getting a Xet write token", repo_id, check_xet_write_token, api.endpoint, repo_id,
        target, token,
    )  # fmt: skip
    if direct:
        _upload(api, _Into(target, None), user, token, staging, files, progress, result)
        result.mismatched = verify(api, repo_id, target, token, staging, files)
        return result
    return _through_pull(api, user, token, staging, files, progress, result, digest, create_pr)


def _through_pull(
    api: HfApi, user: str, token: str, staging: Path, files: dict[str, FileDigest], progress: bool,
    result: PushResult, digest: str, create_pr: bool,
) -> PushResult:  # fmt: skip
    """Assemble the upload in a pull request against the target and merge it; a merge refused
    as a conflict closes that one and assembles the next from the target's current head."""
    repo_id, target, forbidden = result.repo_id, result.target, forbidden_message(result.repo_id)
    title = pulls.PR_TITLE.format(digest=digest)
    for _ in range(MERGE_TRIES):
        pull = hub_call(
            "listing pull requests", repo_id, find_pull, api, repo_id, token, user, target, title,
            forbidden=forbidden,
        )  # fmt: skip
        into = _Into(target, title, pull)
        _upload(api, into, user, token, staging, files, progress, result)
        if into.pull is None:  # nothing to send: the target holds the dataset already
            break
        result.pr_num, result.pr_url, result.revision = into.pull.num, into.pull.url, into.ref
        result.mismatched = verify(api, repo_id, into.ref, token, staging, files)
        if result.mismatched or create_pr:
            return result
        num = into.pull.num
        conflicting = hub_call(
            "merging the pull request", repo_id, pulls.merge, api, repo_id, token, num,
            forbidden=forbidden,
        )  # fmt: skip
        if conflicting is None:
            result.merged = True
            result.replaced = hub_call(
                "closing earlier pull requests", repo_id, pulls.close_replaced, api, repo_id,
                token, user, target, into.pull, forbidden=forbidden,
            )  # fmt: skip
            break
        hub_call(
            "closing the conflicting pull request", repo_id, pulls.close, api, repo_id, token,
            num, pulls.conflict_comment(target, conflicting), forbidden=forbidden,
        )  # fmt: skip
        result.conflicts.append(ClosedPull(num, into.pull.url, conflicting))
    else:
        named = ", ".join(sorted({f for c in result.conflicts for f in c.files})) or "files"
        raise PushError(
            f"merging into {target} on {repo_id} was refused as a conflict {MERGE_TRIES} times "
            f"({named} changed on {target} during the push; pull requests "
            f"{', '.join(f'#{c.num}' for c in result.conflicts)} closed): another writer keeps "
            f"changing {target}; {RESUME_HINT}"
        )
    result.revision = target
    result.mismatched = verify(api, repo_id, target, token, staging, files)
    return result


def _upload(
    api: HfApi, into: _Into, user: str, token: str, staging: Path, files: dict[str, FileDigest],
    progress: bool, result: PushResult,
) -> None:  # fmt: skip
    """Commit the data files that differ at `into.ref`, in batches, then the last commit; the
    first commit of a pull request opens it. Adds what it did to `result`'s counts."""
    repo_id = result.repo_id
    forbidden = forbidden_message(repo_id) if into.title else None
    remote = hub_call("listing the upload", repo_id, remote_files, api, repo_id, into.ref, token)
    data = [p for p in sorted(files) if p not in LAST_FILES]
    to_send = {p: files[p].size for p in data if not _same(remote.get(p), files[p], staging / p)}
    most = (limits.HUB_MAX_FILES_PER_COMMIT, limits.HUB_MAX_BYTES_PER_COMMIT)
    batches = list(commit_batches(to_send, *most))
    pace = commit_pace(len(batches) + 1)
    for i, batch in enumerate(tqdm(batches, desc="commits", disable=not progress, file=sys.stderr)):
        if i and pace:
            time.sleep(pace)
        what = f"data commit {i + 1}/{len(batches)}"
        if into.title and into.pull is None:
            adds = [CommitOperationAdd(p, staging / p) for p in batch]
            into.pull = hub_call(
                f"opening the pull request ({what})", repo_id, open_pull, api, repo_id, token,
                user, into.target, into.title, adds, forbidden=forbidden,
            )  # fmt: skip
            continue
        hub_call(
            what, repo_id, api.upload_folder, repo_id=repo_id, repo_type="dataset",
            folder_path=staging, allow_patterns=batch, revision=into.ref, token=token,
            commit_message=f"Upload sousa data files ({i + 1}/{len(batches)})",
            forbidden=forbidden,
        )  # fmt: skip
    last, stale = hub_call(
        "the last commit (card, manifest, deletions)", repo_id, _commit_last, api, into, user,
        repo_id, token, staging, files, forbidden=forbidden,
    )  # fmt: skip
    result.uploaded += len(to_send) + len(last)
    result.deleted += len(stale)
    result.commits += len(batches) + bool(last or stale)


def _commit_last(
    api: HfApi, into: _Into, user: str, repo_id: str, token: str, staging: Path,
    files: dict[str, FileDigest],
) -> tuple[list[str], list[str]]:  # fmt: skip
    """Delete stale files, add the card and manifest: computed from the tree on every try, so
    a retry after a commit whose answer was lost finds nothing left to do."""
    if into.title and into.pull is None:  # a try whose answer was lost may have opened it
        into.pull = find_pull(api, repo_id, token, user, into.target, into.title)
    remote = remote_files(api, repo_id, into.ref, token)
    stale = _stale(remote, files)
    last = [p for p in LAST_FILES if not _same_as_local(remote, staging, p)]
    if last or stale:
        operations = [CommitOperationDelete(p) for p in stale]
        operations += [CommitOperationAdd(p, staging / p) for p in last]
        if into.title and into.pull is None:
            into.pull = open_pull(api, repo_id, token, user, into.target, into.title, operations)
        else:
            api.create_commit(
                repo_id, operations, commit_message="Update the dataset card and manifest (sousa)",
                repo_type="dataset", revision=into.ref, token=token,
            )  # fmt: skip
    return last, stale


def verify(
    api: HfApi, repo_id: str, revision: str, token: str, staging: Path, files: dict[str, FileDigest]
) -> list[str]:
    """Files whose remote size/hash differ from the manifest (or that are missing/stale)."""
    remote = hub_call("verifying the upload", repo_id, remote_files, api, repo_id, revision, token)
    wrong = [p for p in sorted(files) if not _same(remote.get(p), files[p], staging / p)]
    if not _same_as_local(remote, staging, MANIFEST):
        wrong.append(MANIFEST)
    return wrong + _stale(remote, files)


def _differences(
    remote: dict[str, RemoteFile], files: dict[str, FileDigest], staging: Path
) -> bool:
    changed = any(not _same(remote.get(p), f, staging / p) for p, f in files.items())
    return changed or not _same_as_local(remote, staging, MANIFEST) or bool(_stale(remote, files))


def _stale(remote: dict[str, RemoteFile], files: dict[str, FileDigest]) -> list[str]:
    """Remote files in the folders we manage that the manifest no longer lists."""
    return sorted(p for p in remote if p.split("/", 1)[0] in MANAGED_FOLDERS and p not in files)


def remote_files(api: HfApi, repo_id: str, revision: str, token: str) -> dict[str, RemoteFile]:
    """Every file at `revision`, with its size and LFS sha256 where it has one."""
    try:
        tree = api.list_repo_tree(
            repo_id, recursive=True, revision=revision, repo_type="dataset", token=token
        )
        return {
            f.path: RemoteFile(f.size, f.lfs.sha256 if f.lfs else None, f.blob_id)
            for f in tree
            if hasattr(f, "blob_id")
        }
    except RevisionNotFoundError:
        return {}


def git_blob_id(path: Path) -> str:
    """The git object id of a file: how the Hub names a regular (non-LFS) file's content."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _same(remote: RemoteFile | None, local: FileDigest, path: Path) -> bool:
    if remote is None or remote.size != local.size:
        return False
    if remote.sha256 is not None:
        return remote.sha256 == local.sha256
    return remote.blob_id == git_blob_id(path)


def _same_as_local(remote: dict[str, RemoteFile], staging: Path, rel: str) -> bool:
    """`rel` on the remote equals the staging folder's file (hashed here: the manifest itself
    is in no manifest)."""
    path = staging / rel
    local = FileDigest(path.stat().st_size, sha256_file(path))
    return _same(remote.get(rel), local, path)
