"""Package a generated SOUSA folder into a staging folder: the library behind the CLI.

source folder → validated `Source` → `Plan` → shards, tables, card, builder → manifest (last).
`package_dataset(PackageOptions(...))` runs it all; `plan_package` stops before writing (the
dry run). `sousa/package.py` is the command line over these functions.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..errors import InputError
from ..layout import (
    ORDERS,
)
from ..limits import check_repo_id, check_tag
from ..progress import byte_bar
from ..staged import read_manifest, writer_lock
from .beside import BesideShards, FigureProcess, draw_here
from .builder_file import standalone_builder
from .code_key import code_fingerprint
from .memory import release_freed
from .plan import Plan, SampleShard, build_plan
from .shard_pool import write_shards
from .shards import DEFAULT_SHARD_SIZE
from .source import STAGING_DEFAULT_NAME, Source, Unassigned, read_source
from .space import check_free_space, planned_sizes
from .staging import (
    FileDigest,
    atomic_writer,
    check_out_dir,
    prepare_out_dir,
    remove_incomplete,
    remove_stale,
    write_manifest,
)
from .stamps import Stamps
from .summary import Summary, summarize

# Options that cannot change a byte of the output: left out of the reuse fingerprint.
# (--quiet, --token and the push options never reach PackageOptions.)
# verify_audio: a file it finds bad is refused, or (--skip-bad-media) enters the source's own
# fingerprint as bad, so the key changes exactly when the output does.
OUTPUT_NEUTRAL_OPTIONS = frozenset({"source", "out", "overwrite", "workers", "verify_audio"})


@dataclass(frozen=True)
class PackageOptions:
    """Everything that decides the staging folder's bytes, plus `out`, `overwrite`, `workers`."""

    source: Path
    out: Path | None = None
    shard_size: int = DEFAULT_SHARD_SIZE
    include_audio: bool = True
    include_midi: bool = True
    sharding: bool = True
    unassigned: Unassigned = "error"
    allow_missing: bool = False
    overwrite: bool = False
    workers: int = 1
    order: str = "shuffled"  # within each split: "shuffled" by (seed, sample_id), or "sorted"
    seed: int = 0
    shard_multiple: int = 1  # every split's shard count (per kind) is a multiple of this
    min_shards: int | None = None  # the fewest shards a split gets (None: order.feed_shards)
    verify_audio: bool = False  # decode every FLAC whole (else its head only)
    skip_bad_media: bool = False  # a sample with a bad media file is labels-only (else exit 2)
    repo_id: str | None = None  # the repo the card's code names (`--repo-id`); None: placeholder
    tag: str | None = None  # the release tag the card's "Versions" section names (`--tag`)

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path(self.source) / STAGING_DEFAULT_NAME

    def fingerprint_fields(self) -> dict:
        """Every option that can change the output, and the code that writes it."""
        fields = {k: v for k, v in asdict(self).items() if k not in OUTPUT_NEUTRAL_OPTIONS}
        return fields | {"sousa": __version__, "code": code_fingerprint()}


def package_dataset(options: PackageOptions, progress: bool = False) -> Summary:
    """Package `options.source` into `options.out_dir`; reuse it if already complete and current."""
    with packaged(options, progress) as summary:
        return summary


@contextmanager
def packaged(options: PackageOptions, progress: bool = False) -> Iterator[Summary]:
    """`package_dataset`, holding the staging folder's `writer_lock` until the block ends (the
    push reads the folder inside it). Before anything is written: bad input, a second writer
    and too little free space raise `InputError`. A full disk midway raises `DiskFullError`;
    files complete by then are kept and trusted by the re-run (their stamps).

    With two workers or more, the card's figures are drawn by a `FigureProcess` forked first
    (before the source is read and any thread is started)."""
    figures = FigureProcess() if options.workers > 1 else None
    try:
        source, plan = plan_package(options, progress)
        try:
            with _writing(options, source, plan, progress, figures) as summary:
                yield summary
        finally:
            plan.close()
    finally:
        if figures is not None:
            figures.close()


@contextmanager
def _writing(
    options: PackageOptions, source: Source, plan: Plan, progress: bool,
    figures: FigureProcess | None,
):  # fmt: skip
    """`packaged` once the plan is made."""
    out = options.out_dir
    fingerprint = source.fingerprint(options.fingerprint_fields())
    check_out_dir(out, options.overwrite)
    kept = Stamps(out)  # read unlocked to size the run; trusted only once locked, below
    planned = planned_sizes(plan, len(standalone_builder()))
    check_free_space(out, planned, [p for p in planned if kept.trusted(p, fingerprint)])
    with writer_lock(out):
        stamps = Stamps(out)
        try:
            reused = _is_current(out, fingerprint, stamps)
            if reused:
                files = read_manifest(out).files
            else:
                files = _write_all(options, plan, planned, stamps, fingerprint, progress, figures)
        finally:
            if figures is not None:
                figures.close()  # drawn, or not needed: not kept alive through a push
        yield summarize(plan, out, files, reused=reused)


def _write_all(
    options: PackageOptions, plan: Plan, planned: dict[str, int], stamps: Stamps,
    fingerprint: str, progress: bool, figures: FigureProcess | None,
) -> dict[str, FileDigest]:  # fmt: skip
    """Write the staging folder (locked), the manifest last; its files' digests."""
    out = options.out_dir
    prepare_out_dir(out, options.overwrite)
    remove_stale(out, set(planned))  # room for what comes, before it is written
    try:
        digests = write_plan(
            plan,
            out,
            options.workers,
            progress,
            stamps,
            fingerprint,
            options.repo_id,
            options.tag,
            figures,
        )
    except BaseException:
        remove_incomplete(out)  # shard writers are stopped: what they left is partial
        raise
    remove_stale(out, set(digests))
    stamps.rewrite(digests, fingerprint)
    write_manifest(out, digests, fingerprint, plan.order, plan.seed)
    return digests


def plan_package(options: PackageOptions, progress: bool = False) -> tuple[Source, Plan]:
    """Read, validate and plan: everything short of writing (this is `--dry-run`)."""
    out = options.out_dir.resolve()
    root = Path(options.source).resolve()
    if out == root or root.is_relative_to(out):
        raise InputError(f"--out {options.out_dir}: would overwrite the source folder {root}")
    if options.shard_size <= 0:
        raise InputError(f"--shard-size must be positive, got {options.shard_size}")
    if options.min_shards is not None and options.min_shards < 1:
        raise InputError(f"--min-shards must be 1 or more, got {options.min_shards}")
    if options.shard_multiple < 1:
        raise InputError(f"--shard-multiple must be 1 or more, got {options.shard_multiple}")
    if not 0 <= options.seed < 2**64:
        raise InputError(f"--seed must be between 0 and 2**64 - 1, got {options.seed}")
    if options.order not in ORDERS:
        raise InputError(f"--order must be one of {', '.join(ORDERS)}, got {options.order!r}")
    if options.repo_id is not None:
        check_repo_id(options.repo_id)
    check_tag(options.tag)
    source = read_source(
        root,
        include_audio=options.include_audio,
        include_midi=options.include_midi,
        unassigned=options.unassigned,
        allow_missing=options.allow_missing,
        verify_audio=options.verify_audio,
        skip_bad_media=options.skip_bad_media,
        workers=options.workers,
        progress=progress,
    )
    release_freed()  # the checks' transient columns, before the plan's long-lived arrays
    plan = build_plan(
        source,
        options.shard_size,
        sharded=options.sharding,
        order=options.order,
        seed=options.seed,
        shard_multiple=options.shard_multiple,
        min_shards=options.min_shards,
    )
    release_freed()
    return source, plan


def write_plan(
    plan: Plan,
    out: Path,
    workers: int,
    progress: bool,
    stamps: Stamps,
    fingerprint: str,
    repo_id: str | None = None,
    tag: str | None = None,
    figures: FigureProcess | None = None,
) -> dict[str, FileDigest]:
    """Write every planned file: the shards in `workers` processes and, meanwhile, in a thread
    (`beside.BesideShards`), the tables, the builder, the card's figures (drawn by `figures`
    if given) and the card, whose code names `repo_id` (and the release `tag`).

    Shards and copies that `stamps` trusts as this fingerprint's are kept, not written again;
    each one written is stamped as it completes (the others once all are written).
    """
    digests: dict[str, FileDigest] = {}
    todo = []
    for shard in plan.shards:
        trusted = stamps.trusted(shard.path, fingerprint)
        if trusted and trusted.size == shard.size:
            digests[shard.path] = trusted
        else:
            todo.append(shard)
    for dest in plan.copies:
        if trusted := stamps.trusted(dest, fingerprint):
            digests[dest] = trusted
    kept = set(digests)

    def written(shard: SampleShard, digest: FileDigest) -> None:
        stamps.record(shard.path, fingerprint, digest)
        bar.update(shard.size)

    sizes = {shard.path: shard.size for shard in plan.shards}
    sizes |= {dest: os.stat(src).st_size for dest, src in plan.copies.items()}
    draw = figures.draw if figures is not None else draw_here
    beside = BesideShards(plan, out, sizes, repo_id, tag, draw)
    try:
        with _progress_bar(plan.shards, progress) as bar:
            bar.update(sum(s.size for s in plan.shards) - sum(s.size for s in todo))
            digests |= write_shards(todo, out, workers, written, beside.start)
        for dest, src in sorted(plan.copies.items()):
            if dest not in kept:
                digests[dest] = _copy_file(src, out / dest)
                stamps.record(dest, fingerprint, digests[dest])
        digests |= beside.result()
    except BaseException:
        beside.stop()  # nothing is being written once this returns, and its files are gone
        raise
    for rel in sorted(digests.keys() - kept - stamps.recorded):  # tables, builder, card
        stamps.record(rel, fingerprint, digests[rel])
    return digests


def _progress_bar(shards: list[SampleShard], progress: bool) -> tqdm:
    return byte_bar("packing shards", sum(s.size for s in shards), progress)


def _copy_file(src: Path, dest: Path) -> FileDigest:
    with open(src, "rb") as f, atomic_writer(dest) as out:
        shutil.copyfileobj(f, out, 1 << 20)
    return out.digest


def _is_current(out: Path, fingerprint: str, stamps: Stamps) -> bool:
    """A complete staging folder made from this very input: every file the manifest lists is
    present with its size and sha256 as stamped when it was written, and unchanged since."""
    try:
        manifest = read_manifest(out)
    except InputError:
        return False
    if manifest.source_fingerprint != fingerprint:
        return False
    return all(stamps.trusted(p, fingerprint) == f for p, f in manifest.files.items())
