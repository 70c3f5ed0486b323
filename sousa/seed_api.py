"""The seed plan's public API, in one place: `ShardInfo`, `create_sharded_archives`,
`HubConfig`, `DatasetUploader` (with `prepare`, `push`, `_get_filenames_by_split`,
`_create_media_archives`).

Everything here is built on the core packager: `DatasetUploader` runs `sousa.write.pipeline` and
`sousa.hub.push`; `create_sharded_archives` cuts and writes shards with `order.balanced_cut` and
`shards.write_shard`. Differences from the seed, each deliberate: a missing file is an error
(the seed logged and skipped it), shards have no 10 KiB record padding, `prepare()` writes the
WebDataset layout (a sample's MIDI member is named after its audio key), and `HubConfig` has
no `max_shard_size` (the seed sized parquet shards of `push_to_hub` with it; the split
tables here are one parquet file per split).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import InputError, first_values
from .hub.push import PushResult, push
from .layout import SPLITS
from .tar_format import member_span
from .write.order import balanced_cut
from .write.pipeline import PackageOptions, package_dataset, plan_package
from .write.shard_pool import write_shards
from .write.shards import (
    DEFAULT_SHARD_SIZE,
    Member,
    ShardInfo,
    locations,
    shard_size,
    write_shard,
)
from .write.source import STAGING_DEFAULT_NAME, read_source

__all__ = ["DatasetUploader", "HubConfig", "ShardInfo", "UploadStats", "create_sharded_archives"]


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
    """Prepare a staging folder from `config` (and push it, via `sousa.hub.push`)."""

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
            repo_id=c.repo_id,
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
        """Write the `media_type` shards of `prepare()`'s layout; map each member to its place.

        The shards are exactly those `prepare()` (and `python -m sousa.package`) writes under
        the same names, WebDataset members included, so the two can never disagree about what
        `audio/train-00000.tar` holds. Returns `{member name: ShardInfo}` for the
        `{key}.{extension}` members (for audio, the FLAC file's own name).
        """
        _, plan = plan_package(self.options())
        shards = [s for s in plan.shards if s.kind == media_type]
        write_shards(shards, Path(self.config.staging_dir), workers=1)
        setattr(self.stats, f"{media_type}_files", sum(len(s.samples) for s in shards))
        return {
            info.filename: info
            for shard in shards
            for info in locations(shard.name, shard.layout())
            if info.filename.endswith(f".{extension}")
        }


def create_sharded_archives(
    source_dir: Path,
    output_dir: Path,
    filenames_by_split: dict[str, list[str]],
    target_shard_size_bytes: int = DEFAULT_SHARD_SIZE,
    extension: str = "flac",
) -> dict[str, ShardInfo]:
    """Pack the named files of each split into `{split}-{i:05d}.tar` shards (the seed's API).

    Each file is its own member, named as given, in sorted order, cut into shards by the same
    rule as the packager's (`order.balanced_cut`) and written by the same writer
    (`shards.write_shard`).
    Unlike the seed plan, a missing file is an error rather than a warning: a shard map must
    not silently lack files. `extension` names the files in that error, as the seed logged it.
    """
    source_dir, output_dir = Path(source_dir), Path(output_dir)
    members = {
        split: _members(source_dir, sorted(names), extension)
        for split, names in filenames_by_split.items()
    }
    result: dict[str, ShardInfo] = {}
    for split, split_members in members.items():
        spans = [member_span(m.size) for m in split_members]
        for i, indices in enumerate(balanced_cut(spans, target_shard_size_bytes).shards):
            shard = split_members[indices.start : indices.stop]
            name = f"{split}-{i:05d}.tar"
            write_shard(output_dir / name, shard, shard_size(m.size for m in shard))
            layout = [(m.name, m.size) for m in shard]
            result.update((info.filename, info) for info in locations(name, layout))
    return result


def _members(source_dir: Path, filenames: list[str], extension: str) -> list[Member]:
    """One member per file, named as given; every file must exist (checked before writing)."""
    missing = [str(source_dir / f) for f in filenames if not (source_dir / f).is_file()]
    if missing:
        raise InputError(f"{len(missing)} {extension} file(s) are missing: {first_values(missing)}")
    return [Member(f, (source_dir / f).stat().st_size, str(source_dir / f)) for f in filenames]
