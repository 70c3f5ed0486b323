"""The Hub's documented limits and repo-id rule, below the plan, the card and the push.

Stdlib only, so a dry run can show them without importing huggingface_hub. Sources: the Hub's
"Repository limitations and recommendations" (files per repo and folder, 50 GB per file,
50-100 files per commit, a commit finishing within ~60 s) and its 429 answers to fast
committers (128 commits an hour).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

from .errors import InputError, first_values

HUB_MAX_FILES_PER_REPO = 100_000
HUB_MAX_FILES_PER_FOLDER = 10_000
HUB_MAX_FILE_BYTES = 50 * 10**9
HUB_MAX_FILES_PER_COMMIT = 100  # the Hub's guidance is 50-100 files per commit …
HUB_MAX_BYTES_PER_COMMIT = 20 * 10**9  # … and a commit that carries less than this
HUB_COMMITS_PER_HOUR = 128  # what a 429 quotes; pushes plan below it (see `commit_pace`)
FREE_PRIVATE_STORAGE = 100 * 10**9  # a free account's private storage
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def check_repo_id(repo_id: str | None) -> str:
    """`user/name`, as the Hub spells repo ids: refused before any work is done."""
    if not repo_id or not REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise InputError(f"--repo-id {repo_id!r}: expected 'user/name' (letters, digits, - _ .)")
    return repo_id


TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")  # a git ref name: no "/", "..", ".lock"


def check_tag(tag: str | None) -> str | None:
    """A release tag (`v1.0`): letters, digits, `. _ -`; refused before any work is done."""
    if tag is not None and (not TAG.fullmatch(tag) or ".." in tag or tag.endswith(".lock")):
        raise InputError(f"--tag {tag!r}: expected a name like v1.0 (letters, digits, . _ -)")
    return tag


def check_hub_file_limits(paths: list[str]) -> None:
    """The Hub takes at most 100,000 files a repo and 10,000 a folder."""
    per_folder: dict[str, int] = {}
    for path in paths:
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        per_folder[folder] = per_folder.get(folder, 0) + 1
    crowded = [f"{f}/ has {n}" for f, n in per_folder.items() if n > HUB_MAX_FILES_PER_FOLDER]
    if len(paths) > HUB_MAX_FILES_PER_REPO or crowded:
        raise InputError(
            f"this layout has {len(paths):,} files, over the Hub's limits of "
            f"{HUB_MAX_FILES_PER_REPO:,} a repo and {HUB_MAX_FILES_PER_FOLDER:,} a folder "
            f"({first_values(sorted(crowded)) or 'too many in all'}); "
            "package with TAR shards instead (drop --no-sharding)"
        )


def check_push_limits(sizes: dict[str, int], private: bool) -> None:
    """The Hub's limits, checked on a manifest's files (path → size) before a byte is sent;
    a private dataset over a free account's storage is a warning (the account may be paid)."""
    check_hub_file_limits([*sizes, "manifest.json"])
    too_big = [p for p, n in sizes.items() if n > HUB_MAX_FILE_BYTES]
    if too_big:
        raise InputError(f"files over the Hub's 50 GB limit: {first_values(too_big)}")
    total = sum(sizes.values())
    if private and total > FREE_PRIVATE_STORAGE:
        print(
            f"warning: {total / 1e9:.0f} GB is over a free account's 100 GB of private storage",
            file=sys.stderr,
        )


def commit_batches(
    sizes: dict[str, int],
    max_files: int = HUB_MAX_FILES_PER_COMMIT,
    max_bytes: int = HUB_MAX_BYTES_PER_COMMIT,
) -> Iterator[list[str]]:
    """Paths (in the order given) cut into commits of at most `max_files` files and `max_bytes`
    bytes (a single larger file gets a commit of its own)."""
    batch: list[str] = []
    size = 0
    for path, n in sizes.items():
        if batch and (size + n > max_bytes or len(batch) >= max_files):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += n
    if batch:
        yield batch


def push_commit_count(data_sizes: dict[str, int]) -> int:
    """Commits a first push makes: the data batches, plus the last one (card, manifest)."""
    return sum(1 for _ in commit_batches(data_sizes)) + 1


def commit_pace(commits: int, per_hour: int = HUB_COMMITS_PER_HOUR) -> float:
    """Seconds to leave between commits so that `commits` stay under the hourly rate.

    Up to 7/8 of the rate a push commits as fast as it can (10,000 files make 101 commits,
    under 112); beyond that every commit waits its share of the hour, with 1/8 kept free for
    retries and for other writers to the same account.
    """
    budget = per_hour * 7 // 8
    return 0.0 if commits <= budget else 3600.0 / budget
