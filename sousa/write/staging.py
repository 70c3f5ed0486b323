"""The staging folder: atomic file writes, the manifest, the writer's lock, what counts as ours.

Every file is written as `.{name}.{pid}.incomplete` beside its final name and renamed when
complete, so an interrupted run never leaves a final-named partial file, and two processes
never share a temporary name. `manifest.json` is written last and removed first: it is the
mark of a complete staging folder. One process at a time writes or reads a staging folder for
packaging or pushing: it holds `sousa.staged.writer_lock` (an `flock` on `layout.LOCK_PATH`,
which the kernel releases when the holder dies). The lock and the stamps (`layout.STAMPS_PATH`, see
`sousa.write.stamps`) are local state under `layout.LOCAL_STATE_FOLDER`: in no manifest, never
pushed, and skipped by a hand `upload_folder` / `hf upload` of the folder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError, disk_full
from ..layout import (
    CARD_PATH,
    LEGACY_LOCAL_FILES,
    LOCAL_STATE_FOLDER,
    MANAGED_FOLDERS,
    FileDigest,
    Manifest,
)
from ..layout import MANIFEST_PATH as MANIFEST
from ..staged import foreign_names, remove_entry

MANAGED_FILES = (CARD_PATH, MANIFEST)
INCOMPLETE_SUFFIX = ".incomplete"
LOCAL_ROOT = LOCAL_STATE_FOLDER.split("/", 1)[0]  # `.cache`: the top-level name it lives under


class HashingWriter:
    """A binary file object that hashes and counts what it writes."""

    def __init__(self, f) -> None:
        self._f = f
        self._hash = hashlib.sha256()
        self.size = 0
        self.digest: FileDigest | None = None

    def write(self, data: bytes) -> int:
        if self._f.closed:
            # A writer finalised after its run failed (pyarrow's ParquetWriter closes itself
            # when collected, writing its footer): the temporary file is already removed, so
            # the bytes go nowhere, and an error here could only be printed at a GC.
            return len(data)
        self._hash.update(data)
        self.size += len(data)
        return self._f.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._f.flush()

    @property
    def closed(self) -> bool:
        return self._f.closed

    def finish(self) -> FileDigest:
        self.digest = FileDigest(self.size, self._hash.hexdigest())
        return self.digest


def temporary_name(path: Path) -> Path:
    """Where `path` is written until complete: unique to this process."""
    return path.with_name(f".{path.name}.{os.getpid()}{INCOMPLETE_SUFFIX}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name to write `path` under, renamed into place only if the block succeeds.

    The temporary file is removed whatever happens; a full disk (or quota) raises
    `DiskFullError` naming `path`.
    """
    tmp = temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        full = disk_full(e, path)
        if full is None:
            raise
        raise full from None
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_writer(path: Path) -> Iterator[HashingWriter]:
    """Write `path` atomically (see `atomic_path`) through a HashingWriter."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        writer = HashingWriter(f)
        yield writer
        writer.finish()


def write_bytes_atomic(path: Path, data: bytes) -> FileDigest:
    with atomic_writer(path) as out:
        out.write(data)
    return out.digest


def check_out_dir(out: Path, overwrite: bool) -> list[str]:
    """Refuse a non-empty folder that is not a staging folder of ours, unless `overwrite`.

    A staging folder of ours holds only the managed names (complete or interrupted run).
    Reads only; returns the foreign names that `overwrite` will remove.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    foreign = foreign_names(out, _is_managed)
    if foreign and not overwrite:
        raise InputError(
            f"--out {out}: not empty and not a sousa staging folder (it has "
            f"{', '.join(foreign[:5])}); choose another folder or pass --overwrite"
        )
    return foreign


def prepare_out_dir(out: Path, overwrite: bool) -> None:
    """`check_out_dir`, then remove what `overwrite` replaces, the manifest (the folder is
    marked incomplete until the run ends) and the temporary files of dead runs (call it
    holding `writer_lock`: then no live process is writing any of them)."""
    for name in check_out_dir(out, overwrite):
        remove_entry(out / name)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    for leftover in out.glob(f"*{INCOMPLETE_SUFFIX}"):  # subfolders: remove_stale
        leftover.unlink()
    for legacy in LEGACY_LOCAL_FILES:  # sousa 0.1's local state, which a hand upload would send
        (out / legacy).unlink(missing_ok=True)


def remove_stale(out: Path, keep: set[str]) -> list[str]:
    """Delete files in the managed folders that this run did not produce (and leftovers)."""
    removed = []
    for folder in MANAGED_FOLDERS:
        for path in sorted((out / folder).rglob("*")) if (out / folder).is_dir() else []:
            rel = path.relative_to(out).as_posix()
            if path.is_file() and rel not in keep:
                path.unlink()
                removed.append(rel)
    for folder in MANAGED_FOLDERS:
        for path in sorted((out / folder).rglob("*"), reverse=True):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return removed


def write_manifest(
    out: Path,
    files: dict[str, FileDigest],
    source_fingerprint: str,
    order: str = "shuffled",
    seed: int = 0,
) -> Path:
    """Write manifest.json (`layout.Manifest`): every file with size and sha256, and how samples
    are ordered within each split (`order`, `seed`). Written last: it marks completion."""
    manifest = Manifest(files, source_fingerprint, order, seed)
    write_bytes_atomic(out / MANIFEST, manifest.to_json())
    return out / MANIFEST


def _is_managed(name: str) -> bool:
    local = (LOCAL_ROOT, *LEGACY_LOCAL_FILES)
    return name in MANAGED_FOLDERS + MANAGED_FILES + local or name.endswith(INCOMPLETE_SUFFIX)


def remove_incomplete(out: Path) -> None:
    """Remove every temporary file in the staging folder (holding `writer_lock`: they are
    this run's, whose writers have stopped, or dead runs')."""
    found = list(out.glob(f".*{INCOMPLETE_SUFFIX}"))
    for folder in MANAGED_FOLDERS:
        found += (out / folder).rglob(f".*{INCOMPLETE_SUFFIX}")
    for path in found:
        path.unlink(missing_ok=True)
