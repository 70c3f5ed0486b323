"""Push a complete staging folder to the Hub, resumably, and verify it against the manifest.

The remote tree is compared with the manifest first (LFS sha256, or the git blob id of a
regular file), so only files that differ are sent: a re-run after a failure resends nothing
that a finished commit already holds, and a second push of an unchanged dataset sends nothing.
Data files go up in batches of commits (`HfApi.upload_folder`, which with `hf_xet` also
batches and deduplicates by itself); the last commit deletes stale files and adds README.md
and manifest.json, so the card never points at files that are not there yet.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError
from tqdm import tqdm

from .errors import InputError, PushError, first_values
from .limits import HUB_MAX_FILE_BYTES, check_hub_file_limits
from .staging import MANAGED_FOLDERS, MANIFEST, read_manifest

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
LAST_FILES = ("README.md", MANIFEST)  # committed last: the card and the completion mark
BATCH_BYTES = 20 * 10**9  # data files per commit, by size …
BATCH_FILES = 200  # … and by count
FREE_PRIVATE_STORAGE = 100 * 10**9
LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN to a token with write access"


@dataclass(frozen=True)
class RemoteFile:
    size: int
    sha256: str | None  # LFS files
    blob_id: str  # git object id


def check_repo_id(repo_id: str | None) -> str:
    """`user/name`, as the Hub spells repo ids: refused before any work is done."""
    if not repo_id or not REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise InputError(f"--repo-id {repo_id!r}: expected 'user/name' (letters, digits, - _ .)")
    return repo_id


def push_staging(staging: Path, args: argparse.Namespace) -> int:
    """The `--push` step of the CLI: upload, verify, print where it is. Returns the exit code."""
    pushed = push(
        staging,
        repo_id=check_repo_id(args.repo_id),
        token=args.token,
        private=args.private,
        revision=args.revision,
        create_pr=args.create_pr,
        progress=not args.quiet,
    )
    if pushed.mismatched:
        print(
            f"error: the remote differs from {MANIFEST} for {len(pushed.mismatched)} file(s): "
            f"{first_values(pushed.mismatched)}",
            file=sys.stderr,
        )
        return 1
    print(f"pushed: {pushed.uploaded} file(s) uploaded, {pushed.deleted} deleted, verified")
    print(f"dataset: {hub_constants.ENDPOINT}/datasets/{pushed.repo_id}")
    print(f'load it: load_dataset("{pushed.repo_id}", streaming=True)')
    return 0


@dataclass
class PushResult:
    repo_id: str
    revision: str
    uploaded: int
    deleted: int
    mismatched: list[str]


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
    """Upload what differs, delete what is stale, verify; see the module docstring."""
    check_repo_id(repo_id)
    files: dict[str, dict] = read_manifest(staging)["files"]
    _check_limits(files, private)
    api = api or HfApi()
    token = _require_token(api, token)
    _create_repo(api, repo_id, token, private)
    if revision and not create_pr:
        api.create_branch(repo_id, branch=revision, repo_type="dataset", token=token, exist_ok=True)
    commit = _Committer(api, repo_id, token, revision, create_pr)

    remote = remote_files(api, repo_id, revision or "main", token)
    data_files = [p for p in sorted(files) if p not in LAST_FILES]
    to_send = [p for p in data_files if not _same(remote.get(p), files[p], staging / p)]
    batches = list(_batches(to_send, files))
    for i, batch in enumerate(tqdm(batches, desc="commits", disable=not progress, file=sys.stderr)):
        message = f"Upload sousa data files ({i + 1}/{len(batches)})"
        commit(api.upload_folder, message, folder_path=staging, allow_patterns=batch)
    stale = _stale(remote, files)
    last = [p for p in LAST_FILES if not _same(remote.get(p), _digest(staging / p), staging / p)]
    if last or stale:
        operations = [CommitOperationDelete(p) for p in stale]
        operations += [CommitOperationAdd(p, staging / p) for p in last]
        commit(
            api.create_commit, "Update the dataset card and manifest (sousa)", operations=operations
        )
    mismatched = verify(api, repo_id, commit.revision, token, staging, files)
    return PushResult(repo_id, commit.revision, len(to_send) + len(last), len(stale), mismatched)


def verify(
    api: HfApi, repo_id: str, revision: str, token: str, staging: Path, files: dict[str, dict]
) -> list[str]:
    """Files whose remote size/hash differ from the manifest (or that are missing/stale)."""
    remote = remote_files(api, repo_id, revision, token)
    wrong = [p for p in sorted(files) if not _same(remote.get(p), files[p], staging / p)]
    if not _same(remote.get(MANIFEST), _digest(staging / MANIFEST), staging / MANIFEST):
        wrong.append(MANIFEST)
    return wrong + _stale(remote, files)


@dataclass
class _Committer:
    """Commits to the branch, or into one pull request opened by the first commit."""

    api: HfApi
    repo_id: str
    token: str
    branch: str | None
    create_pr: bool
    pr_revision: str | None = None

    @property
    def revision(self) -> str:
        return self.pr_revision or self.branch or "main"

    def __call__(self, call, message: str, **kwargs):
        opens_pr = self.create_pr and self.pr_revision is None
        info = _commit(
            call,
            repo_id=self.repo_id,
            repo_type="dataset",
            token=self.token,
            revision=self.pr_revision or (None if self.create_pr else self.branch),
            create_pr=opens_pr,
            commit_message=message,
            **kwargs,
        )
        if opens_pr:
            self.pr_revision = info.pr_revision
        return info


def _check_limits(files: dict[str, dict], private: bool) -> None:
    """The Hub's limits, checked on the manifest before a byte is sent."""
    check_hub_file_limits([*files, MANIFEST])
    too_big = [p for p, f in files.items() if f["size"] > HUB_MAX_FILE_BYTES]
    if too_big:
        raise InputError(f"files over the Hub's 50 GB limit: {first_values(too_big)}")
    total = sum(f["size"] for f in files.values())
    if private and total > FREE_PRIVATE_STORAGE:
        print(
            f"warning: {total / 1e9:.0f} GB is over a free account's 100 GB of private storage",
            file=sys.stderr,
        )


def _stale(remote: dict[str, RemoteFile], files: dict[str, dict]) -> list[str]:
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


def _same(remote: RemoteFile | None, local: dict, path: Path) -> bool:
    if remote is None or remote.size != local["size"]:
        return False
    if remote.sha256 is not None:
        return remote.sha256 == local["sha256"]
    return remote.blob_id == git_blob_id(path)


def _digest(path: Path) -> dict:
    h = hashlib.sha256(path.read_bytes())
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def _batches(paths: list[str], files: dict[str, dict]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for path in paths:
        if batch and (size + files[path]["size"] > BATCH_BYTES or len(batch) >= BATCH_FILES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += files[path]["size"]
    if batch:
        yield batch


def _require_token(api: HfApi, token: str | None) -> str:
    token = token or get_token()
    if not token:
        raise InputError(f"no Hugging Face token found: {LOGIN_HINT}")
    try:
        api.whoami(token=token)
    except HfHubHTTPError as e:
        if _status(e) in (401, 403):
            raise InputError(f"the Hugging Face token was rejected: {LOGIN_HINT}") from None
        raise
    return token


def _create_repo(api: HfApi, repo_id: str, token: str, private: bool) -> None:
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, token=token, exist_ok=True)
    except HfHubHTTPError as e:
        if _status(e) in (401, 403):
            raise InputError(f"no write access to {repo_id}: {LOGIN_HINT}") from None
        raise


def _commit(call, **kwargs):
    """Run one commit, turning auth failures into InputError and others into a clear message."""
    try:
        return call(**kwargs)
    except Exception as e:  # HTTP errors, and connection errors of whatever HTTP client
        if _status(e) in (401, 403):
            raise InputError(f"no write access to {kwargs['repo_id']}: {LOGIN_HINT}") from None
        raise PushError(
            f"a commit to {kwargs['repo_id']} failed ({_status(e) or type(e).__name__}); "
            "re-run the same command to finish: committed files are not sent again"
        ) from e


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)
