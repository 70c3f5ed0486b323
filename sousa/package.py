"""`python -m sousa.package DIR`: package a generated SOUSA folder into a Hub-ready folder.

source folder → validated `Source` → `Plan` → shards, tables, card, builder → manifest (last).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import resources
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from . import __version__
from .card import build_card
from .errors import InputError, PushError
from .limits import (
    HUB_MAX_FILE_BYTES,
    HUB_MAX_FILES_PER_COMMIT,
    HUB_MAX_FILES_PER_FOLDER,
    HUB_MAX_FILES_PER_REPO,
    push_commit_count,
)
from .plan import Plan, build_plan
from .shards import DEFAULT_SHARD_SIZE, Shard, write_shard
from .source import SPLITS, STAGING_DEFAULT_NAME, Source, Unassigned, read_source
from .staging import (
    MANIFEST,
    FileDigest,
    atomic_writer,
    prepare_out_dir,
    read_manifest,
    remove_stale,
    write_bytes_atomic,
    write_manifest,
)
from .tables import write_auxiliary, write_table

BUILDER_PATH = "builder/sousa.py"
MEDIA = ("audio", "midi")


@dataclass(frozen=True)
class PackageOptions:
    """Everything that decides the staging folder's bytes (and `out`, `workers`, which don't)."""

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

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path(self.source) / STAGING_DEFAULT_NAME

    def fingerprint_fields(self) -> dict:
        """The options and code that decide the output's bytes (not `out`, `workers`...)."""
        keep = ("shard_size", "include_audio", "include_midi", "sharding", "unassigned")
        keep += ("allow_missing",)
        fields = {k: v for k, v in asdict(self).items() if k in keep}
        builder = hashlib.sha256(builder_source()).hexdigest()
        return fields | {"sousa": __version__, "builder": builder}


@dataclass
class Summary:
    """What a packaging run produced, for the final report and the push checks."""

    out: Path
    samples: dict[str, int]
    shards: dict[str, int]
    files: dict[str, int]  # relative path → size
    media_files: dict[str, int]  # source media files packaged, by kind ("audio", "midi")
    missing: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    reused: bool = False

    def lines(self) -> list[str]:
        largest = max(self.files.values(), default=0)
        per_folder: dict[str, int] = {}
        for path in self.files:
            folder = path.rsplit("/", 1)[0] if "/" in path else "."
            per_folder[folder] = per_folder.get(folder, 0) + 1
        lines = [
            f"staging folder: {self.out}" + (" (unchanged source: reused)" if self.reused else ""),
            "samples: " + ", ".join(f"{s} {n}" for s, n in self.samples.items()),
            "shards: " + (", ".join(f"{k} {n}" for k, n in self.shards.items()) or "none"),
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
        return lines


def package_dataset(options: PackageOptions, progress: bool = False) -> Summary:
    """Package `options.source` into `options.out_dir`; reuse it if already complete and current."""
    source, plan = plan_package(options)
    out = options.out_dir
    fingerprint = source.fingerprint(options.fingerprint_fields())
    if _is_current(out, fingerprint):
        return summarize(plan, out, read_manifest(out)["files"], reused=True)
    prepare_out_dir(out, options.overwrite)
    digests = write_plan(plan, out, options.workers, progress)
    remove_stale(out, set(digests))
    write_manifest(out, digests, fingerprint)
    return summarize(plan, out, {p: {"size": d.size} for p, d in digests.items()})


def plan_package(options: PackageOptions) -> tuple[Source, Plan]:
    """Read, validate and plan: everything short of writing (this is `--dry-run`)."""
    out = options.out_dir.resolve()
    root = Path(options.source).resolve()
    if out == root or root.is_relative_to(out):
        raise InputError(f"--out {options.out_dir}: would overwrite the source folder {root}")
    if options.shard_size <= 0:
        raise InputError(f"--shard-size must be positive, got {options.shard_size}")
    source = read_source(
        root,
        include_audio=options.include_audio,
        include_midi=options.include_midi,
        unassigned=options.unassigned,
        allow_missing=options.allow_missing,
    )
    return source, build_plan(source, options.shard_size, sharded=options.sharding)


def write_plan(plan: Plan, out: Path, workers: int, progress: bool) -> dict[str, FileDigest]:
    """Write every planned file (shards in `workers` processes), then the card and builder."""
    digests = _write_shards(plan.shards, out, workers, progress)
    for dest, src in sorted(plan.copies.items()):
        digests[dest] = _copy_file(src, out / dest)
    for rel, table in plan.tables.items():
        digests[rel] = write_table(table, out / rel)
    ids_by_split = {
        split: [s.sample_id for s in plan.source.splits[split]]
        for split in SPLITS
        if plan.source.splits[split]
    }
    for name, path in plan.source.auxiliary.items():
        digests |= write_auxiliary(name, path, ids_by_split, out)
    digests[BUILDER_PATH] = write_bytes_atomic(out / BUILDER_PATH, builder_source())
    card = build_card(
        plan.source.readme,
        plan.source.labels.schema,
        split_stats(plan),
        {p: d.size for p, d in digests.items()},
    )
    digests["README.md"] = write_bytes_atomic(out / "README.md", str(card).encode())
    return digests


def builder_source() -> bytes:
    """The reference loader, copied into every staging folder as builder/sousa.py."""
    return resources.files("sousa_builder").joinpath("sousa.py").read_bytes()


def _write_shards(
    shards: list[Shard], out: Path, workers: int, progress: bool
) -> dict[str, FileDigest]:
    """Write the shards, in `workers` forked processes when there are several."""
    if workers <= 1 or len(shards) <= 1:
        with _progress(shards, progress) as bar:
            return {s.path: _tick(bar, s, write_shard(s, out / s.path)) for s in shards}
    global _FORKED_SHARDS
    _FORKED_SHARDS = shards  # inherited by the forked workers: no plan is pickled
    try:
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            # workers fork at the first submit: before the progress bar starts its thread
            futures = [pool.submit(_write_forked_shard, i, out) for i in range(len(shards))]
            with _progress(shards, progress) as bar:
                return {s.path: _tick(bar, s, f.result()) for s, f in zip(shards, futures)}
    finally:
        _FORKED_SHARDS = []


def _progress(shards: list[Shard], progress: bool) -> tqdm:
    total = sum(s.size for s in shards)
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="packing shards",
        file=sys.stderr,
        disable=not progress,
    )


def _tick(bar: tqdm, shard: Shard, digest: FileDigest) -> FileDigest:
    bar.update(shard.size)
    return digest


_FORKED_SHARDS: list[Shard] = []


def _write_forked_shard(index: int, out: Path) -> FileDigest:
    shard = _FORKED_SHARDS[index]
    return write_shard(shard, out / shard.path)


def _copy_file(src: Path, dest: Path) -> FileDigest:
    with open(src, "rb") as f, atomic_writer(dest) as out:
        shutil.copyfileobj(f, out, 1 << 20)
    return out.digest


def split_stats(plan: Plan) -> dict[str, dict[str, tuple[int, int]]]:
    """config → split → (samples in the config's shards, bytes of those shards)."""
    stats: dict[str, dict[str, tuple[int, int]]] = {}
    for shard in plan.shards:
        config, name = shard.path.split("/", 1)
        split = name.rsplit("-", 1)[0]
        samples = len(shard.samples)
        n, size = stats.setdefault(config, {}).get(split, (0, 0))
        stats[config][split] = (n + samples, size + shard.size)
    return stats


def summarize(plan: Plan, out: Path, files: dict[str, dict], reused: bool = False) -> Summary:
    source = plan.source
    shards: dict[str, int] = {}
    for shard in plan.shards:
        kind = shard.path.split("/", 1)[0]
        shards[kind] = shards.get(kind, 0) + 1
    media = {
        kind: sum(getattr(s, kind) is not None for s in source.samples)
        for kind in ("audio", "midi")
    }
    return Summary(
        out=out,
        samples={split: len(source.splits[split]) for split in SPLITS},
        shards=shards,
        files={p: f["size"] for p, f in files.items()}
        | {MANIFEST: (out / MANIFEST).stat().st_size},
        media_files=media,
        missing=source.missing,
        dropped=source.dropped,
        reused=reused,
    )


def _is_current(out: Path, fingerprint: str) -> bool:
    """A complete staging folder made from this very input, every file present at its size."""
    try:
        manifest = read_manifest(out)
    except InputError:
        return False
    if manifest.get("source_fingerprint") != fingerprint:
        return False
    return all(
        (out / p).is_file() and (out / p).stat().st_size == f["size"]
        for p, f in manifest["files"].items()
    )


# -- command line ------------------------------------------------------------------------


_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_SIZE_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str) -> int:
    """`1GB`, `500MB`, `2GiB`, `123456` → bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 500MB, 1GB, 2GiB or bytes)")
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])
    if size <= 0:
        raise argparse.ArgumentTypeError(f"a shard size must be positive: {text!r}")
    return size


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sousa.package", description=__doc__)
    p.add_argument("dataset_dir", type=Path, help="the generated SOUSA folder")
    p.add_argument(
        "--out", type=Path, help=f"staging folder (default DATASET_DIR/{STAGING_DEFAULT_NAME})"
    )
    p.add_argument("--shard-size", type=parse_size, default=DEFAULT_SHARD_SIZE, help="default 1GB")
    p.add_argument(
        "--dry-run", action="store_true", help="validate and print the plan; write nothing"
    )
    p.add_argument(
        "--no-sharding", action="store_true", help="one file per media file (small sets)"
    )
    p.add_argument("--no-audio", action="store_true", help="leave the audio out")
    p.add_argument("--no-midi", action="store_true", help="leave the MIDI out")
    p.add_argument("--allow-missing", action="store_true", help="package missing media as null")
    p.add_argument(
        "--unassigned",
        choices=["error", "train", "drop"],
        default="error",
        help="samples whose profile is in no split (default: error)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-staging --out folder")
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes writing shards (output is identical for any number)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    hub = p.add_argument_group("push to the Hub")
    hub.add_argument("--push", action="store_true", help="upload the staging folder and verify it")
    hub.add_argument("--repo-id", help="user/name of the dataset repo")
    hub.add_argument("--private", action="store_true")
    hub.add_argument("--revision", help="branch to push to (default main)")
    hub.add_argument("--create-pr", action="store_true", help="open a pull request instead")
    hub.add_argument("--token", help="Hub token (default: HF_TOKEN or `hf auth login`)")
    return p


def options_from_args(args: argparse.Namespace) -> PackageOptions:
    return PackageOptions(
        source=args.dataset_dir,
        out=args.out,
        shard_size=args.shard_size,
        include_audio=not args.no_audio,
        include_midi=not args.no_midi,
        sharding=not args.no_sharding,
        unassigned=args.unassigned,
        allow_missing=args.allow_missing,
        overwrite=args.overwrite,
        workers=max(1, args.workers),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The CLI streams tables batch by batch; the system allocator gives memory back, where
    # pyarrow's default mimalloc keeps ~20-60 MB of arenas for the process's life.
    pa.set_memory_pool(pa.system_memory_pool())
    options = options_from_args(args)
    try:
        if args.push:
            from .hub import check_repo_id

            check_repo_id(args.repo_id)
        if args.dry_run:
            _, plan = plan_package(options)
            print("\n".join(describe_plan(plan, options)))
            return 0
        summary = package_dataset(options, progress=not args.quiet)
        print("\n".join(summary.lines()))
        if args.push:
            from .hub import push_staging

            return push_staging(
                summary.out, args.repo_id, token=args.token, private=args.private,
                revision=args.revision, create_pr=args.create_pr, progress=not args.quiet,
            )  # fmt: skip
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except PushError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def describe_plan(plan: Plan, options: PackageOptions) -> list[str]:
    lines = [f"dry run: would write {options.out_dir} (nothing written)"]
    for split in SPLITS:
        lines.append(f"  {split}: {len(plan.source.splits[split])} samples")
    for shard in plan.shards:
        members = sum(1 for _ in shard.layout())
        lines.append(f"  {shard.path}: {members} members, {shard.size:,} bytes")
    for rel, table in plan.tables.items():
        lines.append(f"  {rel}: {table.num_rows} rows")
    if plan.copies:
        lines.append(f"  {len(plan.copies)} media files copied one by one (--no-sharding)")
    sizes = {s.path: s.size for s in plan.shards} | {d: 0 for d in [*plan.copies, *plan.tables]}
    sizes |= {f"auxiliary/{a}/{s}": 0 for a in plan.source.auxiliary for s in SPLITS}
    commits = push_commit_count(sizes | {BUILDER_PATH: 0})
    lines.append(f"  push: {commits} commits (at most {HUB_MAX_FILES_PER_COMMIT} files each)")
    for name in plan.source.auxiliary:
        lines.append(f"  auxiliary/{name}/: split from labels/{name}.parquet")
    if plan.source.missing:
        lines.append(f"  missing media (null shard columns): {len(plan.source.missing)}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
