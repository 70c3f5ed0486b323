"""A source's media files: each sample's WebDataset key, and one safe stat per file.

Paths are checked to stay inside the source folder; folders are resolved once each (a dataset
has ~100 folders for ~100,000 files).
"""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, first_values
from .layout import MAX_MEMBER_NAME_BYTES, key_problem


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One source media file: where it is and what it weighs (stat taken once, here)."""

    relpath: str  # relative to the source folder (checked to stay inside it)
    size: int
    mtime_ns: int


def sample_keys(
    audio: list[str | None], midi: list[str | None], sample_ids: list[str], path: Path
) -> list[str]:
    """The WebDataset key of each sample: the stem of its audio file, else of its MIDI file,
    else (a labels-only sample, in no shard) its `sample_id`.

    `datasets` and webdataset split a member name at the FIRST dot, so a stem with a dot would
    scatter one sample over several; `__`-names are reserved and `.`-names are hidden files.
    A labels-only sample's key follows the same rules: it names the sample in every loader.
    """
    keys: list[str] = []
    bad: list[str] = []
    for a, m, sample_id in zip(audio, midi, sample_ids):
        key = media_key(a, m, sample_id)
        if key_problem(key):
            bad.append(a or m or f"sample_id {sample_id!r} (a sample without media)")
        keys.append(key)
    if bad:
        raise InputError(
            f"{path}: {len(bad)} media file name(s) cannot be WebDataset keys (a file stem may "
            f"not be empty, contain a dot, start with '.' or '__', or make a member name over "
            f"{MAX_MEMBER_NAME_BYTES} bytes): {first_values(bad)}"
        )
    return keys


def media_key(audio: str | None, midi: str | None, sample_id: str | None) -> str | None:
    """One sample's key by the rule of `sample_keys` (not checked: `sample_keys` checks it)."""
    name = (audio or midi or "").rpartition("/")[2]
    return (name.rpartition(".")[0] if "." in name else name) if name else sample_id


def stat_media(
    root: Path, relpaths: list[str | None], column: str, include: bool, missing: list[str]
) -> list[MediaFile | None]:
    """Check each path stays inside `root`, then stat it once; collect missing files.

    Folders are resolved once each (a dataset has ~100 folders for ~100,000 files); a file
    is resolved on its own only when it is itself a symlink.
    """
    if not include:
        return [None] * len(relpaths)
    inside_root = os.path.join(os.path.realpath(root), "")
    real_folder = functools.lru_cache(maxsize=None)(os.path.realpath)
    unsafe: list[str] = []
    media: list[MediaFile | None] = []
    for relpath in relpaths:
        media.append(None)
        if relpath is None:
            continue
        folder, name = os.path.split(os.path.join(root, relpath))
        real = os.path.join(real_folder(folder), name)
        try:
            st = os.lstat(real)
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(real)
                st = os.stat(real)
        except OSError:
            st = None
        if not _is_plain_relative(relpath) or not real.startswith(inside_root):
            unsafe.append(relpath)
        elif st is None or not stat.S_ISREG(st.st_mode):
            missing.append(relpath)
        else:
            media[-1] = MediaFile(relpath, st.st_size, st.st_mtime_ns)
    if unsafe:
        raise InputError(
            f"labels/samples.parquet: column '{column}' has {len(unsafe)} path(s) that are "
            f"absolute, contain '..' or lead outside the folder: {first_values(unsafe)}"
        )
    return media


def _is_plain_relative(relpath: str) -> bool:
    """Relative, forward slashes, no `..`: plain string checks (this runs once per file)."""
    return not (
        relpath.startswith(("/", "\\"))
        or (len(relpath) > 1 and relpath[1] == ":")  # a Windows drive
        or "\\" in relpath
        or ".." in relpath.split("/")
    )
