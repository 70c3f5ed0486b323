"""The Hub's limits on a repository, checked before anything is written or sent.

Below both the planner (which refuses a `--no-sharding` layout over them) and the pusher
(which checks the manifest before uploading). Numbers from the Hub's documentation on
repository limits.
"""

from __future__ import annotations

from .errors import InputError, first_values

HUB_MAX_FILES_PER_REPO = 100_000
HUB_MAX_FILES_PER_FOLDER = 10_000
HUB_MAX_FILE_BYTES = 50 * 10**9


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
