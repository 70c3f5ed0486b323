"""Helpers the tests share: constants, readers of what we wrote, and editors of a source folder.

Plain functions, imported by name (`from .helpers import split_rows`); fixtures live in
conftest.py, which pytest loads by itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sousa.layout import LOCAL_STATE_FOLDER, split_table_path


def as_pandas_3(t: pa.DataType) -> pa.DataType:
    """What pandas 3 (the SOUSA generator's) infers where the installed pandas inferred `t`:
    pandas 2 infers `string` where pandas 3's `str` dtype gives `large_string`."""
    import pandas as pd

    if int(pd.__version__.split(".")[0]) < 3 and t == pa.string():
        return pa.large_string()
    return t


SMALL_SHARD = 1_000_000  # bytes: several shards per split for the 40-sample demo
TRAIN_SHARDS = 8  # audio shards of `training_staging`'s train split: divides by 2 and 4


def split_rows(staging: Path, split: str) -> list[dict]:
    """The rows of a staging folder's split table."""
    return pq.read_table(staging / split_table_path(split)).to_pylist()


def staged_files(root: Path) -> list[Path]:
    """Every file under root but a staging folder's local state (its lock and stamps)."""
    local = f"/{LOCAL_STATE_FOLDER}/"
    return [p for p in sorted(root.rglob("*")) if p.is_file() and local not in p.as_posix()]


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root (and its mtime), to prove a folder was not touched
    (a staging folder's local files left out: they record when and by whom it was written)."""
    digests = {}
    for path in staged_files(root):
        if path.is_file():
            st = path.stat()
            data = hashlib.sha256(path.read_bytes()).hexdigest()
            digests[path.relative_to(root).as_posix()] = f"{data}:{st.st_mtime_ns}"
    return digests


def source_rows(source: Path) -> dict[str, dict]:
    """The source's labels/samples.parquet rows by sample_id (with their media paths)."""
    samples = pq.read_table(source / "labels" / "samples.parquet").to_pylist()
    return {r["sample_id"]: r for r in samples}


def rewrite_samples(root: Path, change) -> None:
    """Apply `change(dict_of_columns) -> dict_of_columns` to labels/samples.parquet."""
    path = root / "labels" / "samples.parquet"
    table = pq.read_table(path)
    columns = change(table.to_pydict())
    pq.write_table(pa.table(columns, schema=table.schema), path)


def big_sparse_first_sample(source: Path, size: int = 128 * 2**20) -> Path:
    """Point the first sample's audio at a big sparse file (sorts last in train): packaging it
    takes long enough to kill the packager mid-shard. It starts with a real FLAC file's header
    and ends with that file's frames (the media check reads only those). Delete it after the
    test."""
    big = source / "audio" / "zz_big.flac"
    small = write_flac(source / "audio" / "zz_head.flac")
    data = small.read_bytes()
    small.unlink()
    with open(big, "wb") as f:
        f.write(data[:42])
        f.truncate(size - len(data) + 42)
        f.seek(0, 2)
        f.write(data[42:])

    def point(columns):
        columns["audio_path"][0] = "audio/zz_big.flac"
        return columns

    rewrite_samples(source, point)
    return big


def write_flac(path: Path, seconds: float = 0.1, seed: int = 0, rate: int = 44_100) -> Path:
    """A real FLAC file of noise, written with soundfile."""
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * rate))
    sf.write(path, noise, rate, format="FLAC", subtype="PCM_16")
    return path
