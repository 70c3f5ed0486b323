"""The seed plan's packing algorithm, re-implemented as the benchmark's reference point.

``python benchmarks/seed_algorithm.py SRC OUT`` packs SRC's audio and MIDI into
``OUT/{audio,midi}/{split}-{i:05d}.tar`` exactly the way `seed/tar-sharding-plan.md` does:

- Task 8 ``_get_filenames_by_split``: pandas ``read_parquet`` of ``labels/samples.parquet``,
  then ``iterrows`` with a list-membership test of each row's ``profile_id`` against
  ``splits.json``;
- Task 2 ``create_sharded_archives``: per split, sorted filenames, ``exists()`` + ``stat()`` per
  file, stdlib ``tarfile.add`` per file, a new shard when 1 GB would be exceeded.

One adaptation: the seed keeps only ``Path(path).name`` and joins it to ``SRC/{media}``, which
finds nothing in SOUSA's nested ``{media}/{rudiment}/{file}`` layout. We keep the path relative
to ``SRC/{media}`` instead (so the member names carry the rudiment folder); the work per file is
unchanged. Nothing else (hashing, tables, the card) is done: this is the seed's packing step only.
"""

from __future__ import annotations

import json
import logging
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)


@dataclass
class ShardInfo:
    """Information about which shard contains a file (seed Task 1)."""

    shard_name: str
    filename: str


def get_filenames_by_split(dataset_dir: Path, media_type: str) -> dict[str, list[str]]:
    """Seed Task 8 ``_get_filenames_by_split``: media files grouped by split, row by row."""
    samples_df = pd.read_parquet(dataset_dir / "labels" / "samples.parquet")
    with open(dataset_dir / "splits.json") as f:
        splits = json.load(f)

    path_col = f"{media_type}_path"
    if path_col not in samples_df.columns:
        return {"train": [], "validation": [], "test": []}

    result: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    for _, row in samples_df.iterrows():
        path = row[path_col]
        if pd.isna(path) or not path:
            continue
        filename = str(Path(path).relative_to(media_type))  # seed: Path(path).name
        profile_id = row["profile_id"]
        if profile_id in splits.get("train_profile_ids", []):
            result["train"].append(filename)
        elif profile_id in splits.get("val_profile_ids", []):
            result["validation"].append(filename)
        elif profile_id in splits.get("test_profile_ids", []):
            result["test"].append(filename)
        else:
            result["train"].append(filename)
    return result


def create_sharded_archives(
    source_dir: Path,
    output_dir: Path,
    filenames_by_split: dict[str, list[str]],
    target_shard_size_bytes: int = 1_000_000_000,
) -> dict[str, ShardInfo]:
    """Seed Task 2 ``create_sharded_archives``: ``tarfile.add`` per file, shards by size."""
    output_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, ShardInfo] = {}
    for split_name, filenames in filenames_by_split.items():
        shard_index = 0
        current_shard_size = 0
        shard_path = output_dir / f"{split_name}-{shard_index:05d}.tar"
        current_tar = tarfile.open(shard_path, "w")  # noqa: SIM115  (as the seed)
        for filename in sorted(filenames):
            src_file = source_dir / filename
            if not src_file.exists():
                logger.warning("Source file not found: %s", src_file)
                continue
            file_size = src_file.stat().st_size
            if current_shard_size > 0 and current_shard_size + file_size > target_shard_size_bytes:
                current_tar.close()
                shard_index += 1
                current_shard_size = 0
                shard_path = output_dir / f"{split_name}-{shard_index:05d}.tar"
                current_tar = tarfile.open(shard_path, "w")  # noqa: SIM115  (as the seed)
            current_tar.add(src_file, arcname=filename)
            current_shard_size += file_size
            result[filename] = ShardInfo(f"{split_name}-{shard_index:05d}.tar", filename)
        current_tar.close()
    return result


def pack(dataset_dir: Path, out_dir: Path) -> int:
    """Seed Task 9 ``_create_media_archives`` for audio then MIDI; returns the files packed."""
    packed = 0
    for media_type in ("audio", "midi"):
        by_split = get_filenames_by_split(dataset_dir, media_type)
        packed += len(
            create_sharded_archives(dataset_dir / media_type, out_dir / media_type, by_split)
        )
    return packed


if __name__ == "__main__":
    src, out = (Path(a) for a in sys.argv[1:3])
    print(f"seed algorithm: packed {pack(src, out)} files")
