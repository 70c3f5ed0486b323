"""What a packaging run produced: the summary the CLI prints and the card's per-split counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..card.checks import card_warnings
from ..layout import CARD_PATH, FIGURES_FOLDER, MANIFEST_PATH, MEDIA_KINDS, SPLITS
from ..limits import HUB_MAX_FILE_BYTES, HUB_MAX_FILES_PER_FOLDER, HUB_MAX_FILES_PER_REPO
from .media_check import BadMedia, bad_media_lines
from .plan import Plan
from .staging import FileDigest


@dataclass
class Summary:
    """What a packaging run produced, for the final report and the push checks."""

    out: Path
    samples: dict[str, int]
    shards: dict[str, int]
    split_shards: dict[str, dict[str, int]]  # kind → split → shards (`split_shard_counts`)
    files: dict[str, int]  # relative path → size
    media_files: dict[str, int]  # source media files packaged, by kind ("audio", "midi")
    missing: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the plan's (a split with few samples)
    reused: bool = False
    configs: dict[str, int] = field(default_factory=dict)  # the card's configs: samples
    labels_only: int = 0  # samples with neither audio nor MIDI packaged
    bad_media: list[BadMedia] = field(default_factory=list)  # --skip-bad-media: labels-only
    warnings: list[str] = field(default_factory=list)  # about the card's carried-over text

    def configs_line(self) -> str:
        """The card's configs (those with data), why a media config is absent, and how many
        samples are labels-only (in the split tables, in no TAR config)."""
        made = ", ".join(f"{name} ({n} samples)" for name, n in self.configs.items())
        if "default" in self.configs:
            return f"configs: {made}: no TAR shard, so the card's one config is the split tables"
        absent = [kind for kind in MEDIA_KINDS if kind not in self.configs]
        notes = [f"no {kind} config: no {kind} file packaged" for kind in absent]
        if self.labels_only:
            notes.append(f"{self.labels_only} labels-only samples (split tables only)")
        return "; ".join([f"configs: {made}", *notes])

    def lines(self) -> list[str]:
        largest = max(self.files.values(), default=0)
        per_folder: dict[str, int] = {}
        for path in self.files:
            folder = path.rsplit("/", 1)[0] if "/" in path else "."
            per_folder[folder] = per_folder.get(folder, 0) + 1
        lines = [
            f"staging folder: {self.out}" + (" (unchanged source: reused)" if self.reused else ""),
            f"card: {self.out / CARD_PATH}; figures: "
            + (
                ", ".join(str(self.out / p) for p in self.files if p.startswith(FIGURES_FOLDER))
                or "none"
            ),
            "samples: " + ", ".join(f"{s} {n}" for s, n in self.samples.items()),
            "shards: " + (shards_line(self.split_shards) or "none"),
            self.configs_line(),
            f"files: {sum(self.media_files.values())} source media files → "
            f"{len(self.files)} staged files, "
            f"{sum(self.files.values()):,} bytes",
            f"Hub limits: {len(self.files):,}/{HUB_MAX_FILES_PER_REPO:,} files a repo, "
            f"{max(per_folder.values(), default=0):,}/{HUB_MAX_FILES_PER_FOLDER:,} a folder, "
            f"largest file {largest:,}/{HUB_MAX_FILE_BYTES:,} bytes",
        ]
        if self.missing:
            lines.append(
                f"missing media packaged as null: {len(self.missing)} ({self.missing[:3]})"
            )
        if self.dropped:
            lines.append(f"samples of unassigned profiles dropped: {len(self.dropped)}")
        if self.bad_media:
            lines.append(f"bad media, samples packaged as labels-only: {len(self.bad_media)}")
            lines += bad_media_lines(self.bad_media, with_sample=True)
        lines += self.notes
        lines += [f"warning: {warning}" for warning in self.warnings]
        return lines


def split_shard_counts(plan: Plan) -> dict[str, dict[str, int]]:
    """kind → split → the split's shards of that kind, in SPLITS order."""
    counts: dict[str, dict[str, int]] = {}
    for shard in plan.shards:
        counts.setdefault(shard.kind, dict.fromkeys(SPLITS, 0))[shard.split] += 1
    return {kind: {s: n for s, n in c.items() if n} for kind, c in counts.items()}


def shards_line(counts: dict[str, dict[str, int]]) -> str:
    """`audio 6 (train 2, validation 2, test 2), midi …`: what DataLoader workers and ranks
    share out (`datasets` gives each whole shards of the split it reads)."""
    return ", ".join(
        f"{kind} {sum(c.values())} (" + ", ".join(f"{s} {n}" for s, n in c.items()) + ")"
        for kind, c in counts.items()
    )


def split_stats(plan: Plan) -> dict[str, dict[str, tuple[int, int]]]:
    """config → split → (samples in the config's shards, bytes of those shards)."""
    stats: dict[str, dict[str, tuple[int, int]]] = {}
    for shard in plan.shards:
        n, size = stats.setdefault(shard.kind, {}).get(shard.split, (0, 0))
        stats[shard.kind][shard.split] = (n + len(shard.samples), size + shard.size)
    return stats


def summarize(plan: Plan, out: Path, files: dict[str, FileDigest], reused: bool = False) -> Summary:
    source = plan.source
    shards: dict[str, int] = {}
    for shard in plan.shards:
        shards[shard.kind] = shards.get(shard.kind, 0) + 1
    media = {kind: source.media_count(kind) for kind in MEDIA_KINDS}
    configs = {kind: 0 for kind in MEDIA_KINDS}
    for shard in plan.shards:
        configs[shard.kind] += len(shard.samples)
    configs = {kind: n for kind, n in configs.items() if n} or {"default": source.num_samples}
    staged = {p: f.size for p, f in files.items()}
    return Summary(
        configs=configs,
        labels_only=source.labels_only_count(),
        warnings=card_warnings(source.readme, staged, source.num_samples),
        out=out,
        samples={split: len(source.splits[split]) for split in SPLITS},
        shards=shards,
        split_shards=split_shard_counts(plan),
        files=staged | {MANIFEST_PATH: (out / MANIFEST_PATH).stat().st_size},
        media_files=media,
        missing=source.missing,
        dropped=source.dropped,
        bad_media=source.bad_media,
        notes=plan.notes,
        reused=reused,
    )
