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

import numpy as np

from ..errors import InputError, first_values
from ..layout import MAX_MEMBER_NAME_BYTES, key_problem


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One source media file: where it is and what it weighs (stat taken once, here)."""

    relpath: str  # relative to the source folder (checked to stay inside it)
    size: int
    mtime_ns: int


def sample_keys(
    audio: list[str | None], midi: list[str | None], sample_ids: list[str], bad: list[str]
) -> list[str]:
    """The WebDataset key of each sample: the stem of its audio file, else of its MIDI file,
    else (a labels-only sample, in no shard) its `sample_id`. Appends to `bad` what names each
    key that cannot be one (`key_error` makes the error of all of them).

    `datasets` and webdataset split a member name at the FIRST dot, so a stem with a dot would
    scatter one sample over several; `__`-names are reserved and `.`-names are hidden files.
    A labels-only sample's key follows the same rules: it names the sample in every loader.
    """
    keys: list[str] = []
    for a, m, sample_id in zip(audio, midi, sample_ids):
        key = media_key(a, m, sample_id)
        if key_problem(key):
            bad.append(a or m or f"sample_id {sample_id!r} (a sample without media)")
        keys.append(key)
    return keys


def key_error(bad: list[str], path: Path) -> InputError:
    """The error for the samples `sample_keys` found without a valid key."""
    return InputError(
        f"{path}: {len(bad)} media file name(s) cannot be WebDataset keys (a file stem may "
        f"not be empty, contain a dot, start with '.' or '__', or make a member name over "
        f"{MAX_MEMBER_NAME_BYTES} bytes): {first_values(bad)}"
    )


def media_key(audio: str | None, midi: str | None, sample_id: str | None) -> str | None:
    """One sample's key by the rule of `sample_keys` (not checked: `sample_keys` checks it)."""
    name = (audio or midi or "").rpartition("/")[2]
    return (name.rpartition(".")[0] if "." in name else name) if name else sample_id


class MediaStat:
    """One path column's files, checked to stay inside `root` and stat'ed once each, a batch
    of rows at a time. The unsafe and missing paths are gathered over every batch, in row
    order; `check` raises for the unsafe ones. With `include` False nothing is stat'ed.

    Folders are resolved once each (a dataset has ~100 folders for ~100,000 files); a file
    is resolved on its own only when it is itself a symlink.
    """

    def __init__(self, root: Path, column: str, include: bool) -> None:
        self.root, self.column, self.include = root, column, include
        self.unsafe: list[str] = []
        self.missing: list[str] = []
        self._inside_root = os.path.join(os.path.realpath(root), "")
        self._real_folder = functools.lru_cache(maxsize=None)(os.path.realpath)

    def stat(self, relpaths: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Each path's size (-1: no file packaged) and mtime (ns, 0 without a file)."""
        sizes = np.full(len(relpaths), -1, dtype=np.int64)
        mtimes = np.zeros(len(relpaths), dtype=np.int64)
        if not self.include:
            return sizes, mtimes
        for i, relpath in enumerate(relpaths):
            if relpath is None:
                continue
            folder, name = os.path.split(os.path.join(self.root, relpath))
            real = os.path.join(self._real_folder(folder), name)
            try:
                st = os.lstat(real)
                if stat.S_ISLNK(st.st_mode):
                    real = os.path.realpath(real)
                    st = os.stat(real)
            except OSError:
                st = None
            if not _is_plain_relative(relpath) or not real.startswith(self._inside_root):
                self.unsafe.append(relpath)
            elif st is None or not stat.S_ISREG(st.st_mode):
                self.missing.append(relpath)
            else:
                sizes[i], mtimes[i] = st.st_size, st.st_mtime_ns
        return sizes, mtimes

    def check(self) -> None:
        if self.unsafe:
            raise InputError(
                f"labels/samples.parquet: column '{self.column}' has {len(self.unsafe)} "
                f"path(s) that are absolute, contain '..' or lead outside the folder: "
                f"{first_values(self.unsafe)}"
            )


def _is_plain_relative(relpath: str) -> bool:
    """Relative, forward slashes, no `..`: plain string checks (this runs once per file)."""
    return not (
        relpath.startswith(("/", "\\"))
        or (len(relpath) > 1 and relpath[1] == ":")  # a Windows drive
        or "\\" in relpath
        or ".." in relpath.split("/")
    )
