"""The demo's output folder: what counts as an earlier demo (replaced) and what is refused.

The rule is staging's (`sousa.staged.foreign_names`): a name the demo does not write is
someone else's. A folder holding only the demo's names is replaced only if it carries the
demo's marker file, so a real generator output (the same names, no marker) is never removed.
The staging folder `sousa.package` writes inside it (`hf_staging`, where `make demo` puts it) is
allowed there but is not the demo's: it is kept, never removed (the next packaging run brings
it up to date).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..staged import foreign_names, remove_entry

MARKER = ".sousa-demo"  # written first, so even an interrupted demo is recognised
_LEGACY_MARKER = "pretty_name: SOUSA (demo)"  # README.md of demos older than the marker file
STAGING_NAME = "hf_staging"  # = sousa.write.source.STAGING_DEFAULT_NAME
OWN_NAMES = frozenset(
    {"README.md", "splits.json", "index.json", "audio", "midi", "labels", MARKER, STAGING_NAME}
)


class DemoDirError(FileExistsError):
    """The target exists, is not empty and does not look like a previous demo output."""


def is_demo_folder(folder: Path) -> bool:
    """Does `folder` carry the demo's marker (or an older demo's README marker)?"""
    if (folder / MARKER).is_file():
        return True
    readme = folder / "README.md"
    return readme.is_file() and _LEGACY_MARKER in readme.read_text("utf-8", errors="replace")


def prepare_dir(out: Path, marker: dict) -> None:
    """Make `out` a folder holding only the marker (and a staging folder `sousa.package` wrote
    there, kept as it is); refuse anything not ours."""
    if out.exists() and not out.is_dir():
        raise DemoDirError(f"{out} exists and is not a directory")
    entries = sorted(os.listdir(out)) if out.is_dir() else []
    if entries and (foreign_names(out, OWN_NAMES.__contains__) or not is_demo_folder(out)):
        more = ", ..." if len(entries) > 5 else ""
        raise DemoDirError(
            f"refusing to write into {out}: it is not empty and does not look like a previous "
            f"sousa.demo output (found: {', '.join(entries[:5])}{more})"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(json.dumps(marker, sort_keys=True) + "\n", encoding="utf-8")
    for name in entries:  # after the marker: an interrupted run leaves a folder still ours
        if name not in (MARKER, STAGING_NAME):
            remove_entry(out / name)
