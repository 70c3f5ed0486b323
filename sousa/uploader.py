"""The seed plan's object API (`HubConfig`, `DatasetUploader`), kept as thin wrappers.

The work is done by `sousa.package` and `sousa.hub`; this module only maps the seed's names
onto them, so code written against the original plan keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .hub import PushResult, push
from .layout import SPLITS
from .package import PackageOptions, package_dataset
from .shards import DEFAULT_SHARD_SIZE, ShardInfo, create_sharded_archives
from .source import STAGING_DEFAULT_NAME, read_source


@dataclass
class HubConfig:
    """Configuration for packaging and uploading (the seed's fields and defaults)."""

    dataset_dir: Path
    repo_id: str
    private: bool = False
    token: str | None = None
    include_audio: bool = True
    include_midi: bool = True
    staging_dir: Path | None = None
    max_shard_size: str = "500MB"  # kept from the seed; parquet tables are one file per split
    use_tar_shards: bool = True
    tar_shard_size_bytes: int = DEFAULT_SHARD_SIZE
    unassigned: str = "error"
    allow_missing: bool = False

    def __post_init__(self) -> None:
        self.dataset_dir = Path(self.dataset_dir)
        self.staging_dir = Path(self.staging_dir or self.dataset_dir / STAGING_DEFAULT_NAME)


@dataclass
class UploadStats:
    audio_files: int = 0
    midi_files: int = 0


@dataclass
class DatasetUploader:
    """Prepare a staging folder from `config` (and push it, via `sousa.hub`)."""

    config: HubConfig
    stats: UploadStats = field(default_factory=UploadStats)

    def options(self) -> PackageOptions:
        c = self.config
        return PackageOptions(
            source=c.dataset_dir,
            out=c.staging_dir,
            shard_size=c.tar_shard_size_bytes,
            include_audio=c.include_audio,
            include_midi=c.include_midi,
            sharding=c.use_tar_shards,
            unassigned=c.unassigned,
            allow_missing=c.allow_missing,
        )

    def prepare(self) -> Path:
        """Write the complete staging folder (WebDataset shards, tables, card, manifest)."""
        summary = package_dataset(self.options())
        self.stats.audio_files = summary.media_files["audio"]
        self.stats.midi_files = summary.media_files["midi"]
        return summary.out

    def push(self) -> PushResult:
        """Prepare (or reuse) the staging folder, upload what differs, verify it."""
        c = self.config
        return push(self.prepare(), c.repo_id, token=c.token, private=c.private)

    def _read_options(self) -> dict:
        c = self.config
        return {
            "include_audio": c.include_audio,
            "include_midi": c.include_midi,
            "unassigned": c.unassigned,
            "allow_missing": c.allow_missing,
        }

    def _get_filenames_by_split(self, media_type: str) -> dict[str, list[str]]:
        """Files of one media type by split, relative to `dataset_dir/media_type`.

        For the flat layout that is the file name; nested layouts keep their sub-folder.
        """
        source = read_source(self.config.dataset_dir, **self._read_options())
        return {
            split: [
                PurePosixPath(getattr(s, media_type).relpath).relative_to(media_type).as_posix()
                for s in source.splits[split]
                if getattr(s, media_type) is not None
            ]
            for split in SPLITS
        }

    def _create_media_archives(self, media_type: str, extension: str) -> dict[str, ShardInfo]:
        """Pack one media type into `staging/{media_type}/{split}-{i:05d}.tar` (seed layout).

        Members keep the files' own names; `prepare()` writes the WebDataset layout instead.
        """
        by_split = self._get_filenames_by_split(media_type)
        shard_map = create_sharded_archives(
            source_dir=self.config.dataset_dir / media_type,
            output_dir=self.config.staging_dir / media_type,
            filenames_by_split=by_split,
            target_shard_size_bytes=self.config.tar_shard_size_bytes,
            extension=extension,
        )
        setattr(self.stats, f"{media_type}_files", sum(len(f) for f in by_split.values()))
        return shard_map
