"""Push a complete staging folder to the Hub: checked first, resumable, atomic for readers.

Order: the token (`whoami`) and the card (the Hub's own `validate-yaml`) are checked before a
byte is sent, so a card the Hub would refuse costs nothing. The remote tree is compared with
the manifest (LFS sha256, or the git blob id of a regular file), so only files that differ are
sent: a re-run after a failure resends nothing a finished commit holds, and a second push of
an unchanged dataset makes no commit at all.

Readers never see half a dataset. The upload is assembled away from the target and published
in one step (`sousa.hub_publish`): for main, in a pull request merged at the end
(`HfApi.merge_pull_request`, one merge commit moves main from the old complete dataset to the
new one); for a `--revision` branch, in a work branch the target is re-pointed to. Why not
content-addressed shard names instead: the names are the packager's (`audio/train-00000.tar`,
listed by the split tables and the card), renaming them would change every staging folder's
bytes, and a reader globbing `audio/train-*` would still see old and new shards side by side.

Commits: at most 100 files and 20 GB each (`limits.commit_batches`), paced under the Hub's
hourly commit rate; the last one deletes stale files and adds README.md and manifest.json, so
the card never points at files that are not there. Every call is retried on transient
failures (`sousa.hub_calls`).
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    DatasetCard,
    HfApi,
    get_token,
)
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import RevisionNotFoundError
from tqdm import tqdm

from .errors import InputError, first_values
from .hub_calls import LOGIN_HINT, check_xet_write_token, hub_call
from .hub_publish import Work, open_work, publish
from .layout import FileDigest
from .limits import (
    HUB_MAX_BYTES_PER_COMMIT,
    HUB_MAX_FILES_PER_COMMIT,
    check_push_limits,
    commit_batches,
    commit_pace,
)
from .shards import sha256_file
from .staging import MANAGED_FOLDERS, MANIFEST, read_manifest

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
LAST_FILES = ("README.md", MANIFEST)  # committed last: the card and the completion mark
COMMIT_FILES = HUB_MAX_FILES_PER_COMMIT  # module attributes: tests make many small commits
COMMIT_BYTES = HUB_MAX_BYTES_PER_COMMIT


@dataclass(frozen=True)
class RemoteFile:
    size: int
    sha256: str | None  # LFS files
    blob_id: str  # git object id


@dataclass
class PushResult:
    repo_id: str
    revision: str  # where the dataset is now: the target, or the pull request's ref
    uploaded: int
    deleted: int
    mismatched: list[str]
    commits: int = 0
    pr_url: str | None = None


def check_repo_id(repo_id: str | None) -> str:
    """`user/name`, as the Hub spells repo ids: refused before any work is done."""
    if not repo_id or not REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise InputError(f"--repo-id {repo_id!r}: expected 'user/name' (letters, digits, - _ .)")
    return repo_id


def push_staging(
    staging: Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    progress: bool = True,
) -> int:
    """The `--push` step of the CLI: upload, verify, print where it is. Returns the exit code."""
    pushed = push(
        staging,
        repo_id=check_repo_id(repo_id),
        token=token,
        private=private,
        revision=revision,
        create_pr=create_pr,
        progress=progress,
    )
    if pushed.mismatched:
        print(
            f"error: the remote differs from {MANIFEST} for {len(pushed.mismatched)} file(s): "
            f"{first_values(pushed.mismatched)}",
            file=sys.stderr,
        )
        return 1
    print(
        f"pushed: {pushed.uploaded} file(s) uploaded, {pushed.deleted} deleted "
        f"in {pushed.commits} commit(s), verified"
    )
    if pushed.pr_url:
        print(f"pull request: {pushed.pr_url} ({pushed.revision}, not merged)")
    print(f"dataset: {hub_constants.ENDPOINT}/datasets/{pushed.repo_id}")
    print(f'load it: load_dataset("{pushed.repo_id}", streaming=True)')
    return 0


def push(
    staging: Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    progress: bool = False,
    api: HfApi | None = None,
) -> PushResult:
    """Check, upload what differs away from the target, verify, publish; see the docstring."""
    check_repo_id(repo_id)
    files = read_manifest(staging).files
    check_push_limits({p: f.size for p, f in files.items()}, private)
    api = api or HfApi()
    token, user = _require_token(api, token)
    check_card(staging, repo_id)
    hub_call(
        "creating the repo", repo_id, api.create_repo, repo_id, repo_type="dataset",
        private=private, token=token, exist_ok=True,
    )  # fmt: skip
    target = revision or "main"
    if target != "main" and not create_pr:
        hub_call(
            f"creating branch {target}", repo_id, api.create_branch, repo_id, branch=target,
            repo_type="dataset", token=token, exist_ok=True,
        )  # fmt: skip
    remote = hub_call("listing the repo", repo_id, remote_files, api, repo_id, target, token)
    if not _differences(remote, files, staging):
        mismatched = verify(api, repo_id, target, token, staging, files)
        return PushResult(repo_id, target, 0, 0, mismatched)
    digest = hashlib.sha256((staging / MANIFEST).read_bytes()).hexdigest()[:12]
    hub_call(
        "getting a Xet write token", repo_id, check_xet_write_token, api.endpoint, repo_id,
        target, token,
    )  # fmt: skip
    work = open_work(api, repo_id, token, user, target, create_pr, digest)
    result = _upload(api, work, token, staging, files, progress)
    result.mismatched = verify(api, repo_id, work.ref, token, staging, files)
    if result.mismatched or create_pr:
        result.pr_url = work.pr_url
        return result
    publish(api, repo_id, token, work, target)
    result.revision = target
    result.mismatched = verify(api, repo_id, target, token, staging, files)
    return result


def check_card(staging: Path, repo_id: str) -> None:
    """The card, checked as the Hub checks it (`validate-yaml`) before any data goes up."""
    path = staging / "README.md"
    try:
        card = DatasetCard(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise InputError(f"{path}: the card's metadata does not parse ({e})") from None
    try:
        hub_call("checking the card", repo_id, card.validate, repo_type="dataset")
    except ValueError as e:  # the Hub answered 400 with what it refuses
        raise InputError(f"{path}: the Hub refuses this card: {str(e).strip()}") from None


def _upload(
    api: HfApi, work: Work, token: str, staging: Path, files: dict[str, FileDigest], progress: bool
) -> PushResult:
    """Commit the data files that differ at `work.ref`, in batches, then the last commit."""
    repo_id = work.repo_id
    remote = hub_call("listing the upload", repo_id, remote_files, api, repo_id, work.ref, token)
    data = [p for p in sorted(files) if p not in LAST_FILES]
    to_send = {p: files[p].size for p in data if not _same(remote.get(p), files[p], staging / p)}
    batches = list(commit_batches(to_send, COMMIT_FILES, COMMIT_BYTES))
    pace = commit_pace(len(batches) + 1)
    for i, batch in enumerate(tqdm(batches, desc="commits", disable=not progress, file=sys.stderr)):
        if i and pace:
            time.sleep(pace)
        hub_call(
            f"data commit {i + 1}/{len(batches)}", repo_id, api.upload_folder, repo_id=repo_id,
            repo_type="dataset", folder_path=staging, allow_patterns=batch, revision=work.ref,
            token=token, commit_message=f"Upload sousa data files ({i + 1}/{len(batches)})",
        )  # fmt: skip
    last, stale = hub_call(
        "the last commit (card, manifest, deletions)", repo_id, _commit_last, api, work.ref,
        repo_id, token, staging, files,
    )  # fmt: skip
    commits = len(batches) + bool(last or stale)
    return PushResult(repo_id, work.ref, len(to_send) + len(last), len(stale), [], commits)


def _commit_last(
    api: HfApi, ref: str, repo_id: str, token: str, staging: Path, files: dict[str, FileDigest]
) -> tuple[list[str], list[str]]:
    """Delete stale files, add the card and manifest: computed from the tree on every try, so
    a retry after a commit whose answer was lost finds nothing left to do."""
    remote = remote_files(api, repo_id, ref, token)
    stale = _stale(remote, files)
    last = [p for p in LAST_FILES if not _same_as_local(remote, staging, p)]
    if last or stale:
        operations = [CommitOperationDelete(p) for p in stale]
        operations += [CommitOperationAdd(p, staging / p) for p in last]
        api.create_commit(
            repo_id, operations, commit_message="Update the dataset card and manifest (sousa)",
            repo_type="dataset", revision=ref, token=token,
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


def _require_token(api: HfApi, token: str | None) -> tuple[str, str]:
    """The token to use and its user name; a missing or rejected token is an InputError."""
    token = token or get_token()
    if not token:
        raise InputError(f"no Hugging Face token found: {LOGIN_HINT}")
    rejected = "the Hugging Face token was rejected"
    me = hub_call("checking the token", "the Hub", api.whoami, token=token, auth_message=rejected)
    return token, me["name"]
