"""`python -m sousa.package DIR`: package a generated SOUSA folder into a Hub-ready folder.

The command line only: it parses arguments into `PackageOptions` and calls the library
(`sousa.write.pipeline` to package, `sousa.hub.push` to push). Exit status 0 on success, 2 for
bad input (nothing written), 1 when a run failed midway (a re-run finishes it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from .errors import (
    DiskFullError,
    InputError,
    PushError,
    SourceChangedError,
    disk_full,
    first_values,
)
from .layout import BUILDER_PATH, ORDERS, SPLITS, auxiliary_table_path
from .limits import HUB_MAX_FILES_PER_COMMIT, check_repo_id, check_tag, push_commit_count
from .progress import add_progress_flags, run_main, wants_progress
from .write.memory import tune_allocator
from .write.pipeline import PackageOptions, package_dataset, packaged, plan_package
from .write.plan import Plan
from .write.shards import DEFAULT_SHARD_SIZE
from .write.source import STAGING_DEFAULT_NAME
from .write.staging import MANIFEST
from .write.summary import shards_line, split_shard_counts

if TYPE_CHECKING:
    from .hub.push import PushResult

__all__ = ["PackageOptions", "build_parser", "main", "package_dataset", "parse_size"]


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
        "--shard-multiple",
        type=int,
        default=1,
        metavar="M",
        help="each split's shard count is a multiple of M (workers x nodes; default 1)",
    )
    p.add_argument(
        "--min-shards",
        type=int,
        metavar="N",
        help="each split gets at least N shards a kind (default: 2 for DataLoader workers, "
        "doubling per 4,000 samples up to 16)",
    )
    p.add_argument(
        "--order",
        choices=ORDERS,
        default="shuffled",
        help="samples within a split: shuffled by (seed, sample_id) (default) or sorted by key",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffled order (default 0)")
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
        "--verify-audio",
        action="store_true",
        help="decode every FLAC whole (catches truncated files; else only headers are checked)",
    )
    p.add_argument(
        "--skip-bad-media",
        action="store_true",
        help="package samples whose media file is bad as labels-only (default: exit 2)",
    )
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
    add_progress_flags(p)
    hub = p.add_argument_group("push to the Hub")
    hub.add_argument("--push", action="store_true", help="upload the staging folder and verify it")
    hub.add_argument(
        "--repo-id",
        help="user/name of the dataset repo; the card's code names it (also without --push)",
    )
    hub.add_argument(
        "--tag",
        help="release tag (v1.0): the card names it, and --push tags the pushed commit with it "
        "(refused if the repo has it already)",
    )
    hub.add_argument("--private", action="store_true")
    hub.add_argument("--revision", help="branch to push to (default main)")
    how = hub.add_mutually_exclusive_group()
    how.add_argument(
        "--create-pr", action="store_true", help="open the pull request, do not merge it"
    )
    how.add_argument(
        "--direct",
        action="store_true",
        help="commit straight to the branch, no pull request (readers see it while it uploads)",
    )
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
        verify_audio=args.verify_audio,
        skip_bad_media=args.skip_bad_media,
        overwrite=args.overwrite,
        workers=max(1, args.workers),
        order=args.order,
        seed=args.seed,
        shard_multiple=args.shard_multiple,
        min_shards=args.min_shards,
        repo_id=args.repo_id,
        tag=args.tag,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The CLI streams tables batch by batch; the system allocator gives memory back, where
    # pyarrow's default mimalloc keeps ~20-60 MB of arenas for the process's life.
    pa.set_memory_pool(pa.system_memory_pool())
    tune_allocator()  # and keeps fewer freed blocks resident (sousa/write/memory.py)
    options = options_from_args(args)
    try:
        if args.push and not args.repo_id:
            raise InputError(
                "--push needs --repo-id user/name: the dataset repo to push to (under the "
                "token's user or one of its organisations)"
            )
        if args.push:
            check_repo_id(args.repo_id)
        check_tag(args.tag)
        if args.tag and args.create_pr:
            raise InputError(f"--tag {args.tag} and --create-pr: a tag marks a merged release")
        if args.dry_run:
            _, plan = plan_package(options, wants_progress(args))
            plan.close()
            print("\n".join(describe_plan(plan, options)))
            return 0
        with packaged(options, progress=wants_progress(args)) as summary:  # holds the folder
            print("\n".join(summary.lines()))
            if args.push:
                from .hub.push import push

                if args.direct:
                    print(direct_warning(args.repo_id, args.revision or "main"), file=sys.stderr)
                pushed = push(
                    summary.out, args.repo_id, token=args.token, private=args.private,
                    revision=args.revision, create_pr=args.create_pr, direct=args.direct,
                    progress=wants_progress(args), tag=args.tag,
                )  # fmt: skip
                return report_push(pushed)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (PushError, SourceChangedError, DiskFullError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        full = disk_full(e, e.filename or options.out_dir)
        if full is None:
            raise
        print(f"error: {full}", file=sys.stderr)
        return 1
    return 0


def direct_warning(repo_id: str, branch: str) -> str:
    return (
        f"warning: --direct commits straight to {repo_id}@{branch}: until this push ends, "
        f"readers of {branch} can see a partly uploaded dataset (new files beside old ones)"
    )


def report_push(pushed: PushResult) -> int:
    """Print what a push did; the exit status (1 when the remote differs from the manifest)."""
    from huggingface_hub import constants

    for closed in pushed.conflicts:
        files = ", ".join(closed.files) or "files"
        print(
            f"merge into {pushed.target} refused as a conflict ({files} changed on "
            f"{pushed.target} during the push): pull request #{closed.num} closed, the "
            f"upload continued in a new one from {pushed.target}'s current head"
        )
    if pushed.mismatched:
        print(
            f"error: the remote differs from {MANIFEST} for {len(pushed.mismatched)} file(s): "
            f"{first_values(pushed.mismatched)}",
            file=sys.stderr,
        )
        return 1
    print(
        f"pushed: {pushed.uploaded} file(s) uploaded, {pushed.deleted} deleted "
        f"in {pushed.commits} commit(s), verified"
    )
    if pushed.merged:
        print(f"merged: pull request #{pushed.pr_num} into {pushed.target} ({pushed.pr_url})")
    elif pushed.pr_url:
        print(f"pull request: {pushed.pr_url} ({pushed.revision}, not merged)")
    if pushed.replaced:
        earlier = ", ".join(f"#{n}" for n in pushed.replaced)
        print(f"closed earlier pull request(s) {earlier}: replaced by #{pushed.pr_num}")
    if pushed.tag:
        print(f"tagged: {pushed.tag} (commit {pushed.tagged_commit[:12]} of {pushed.target})")
    where = "" if pushed.target == "main" else f"/tree/{pushed.target}"
    print(f"dataset: {constants.ENDPOINT}/datasets/{pushed.repo_id}{where}")
    pinned = pushed.tag or (None if pushed.target == "main" else pushed.target)
    revision = f', revision="{pinned}"' if pinned else ""
    print(f'load it: load_dataset("{pushed.repo_id}"{revision}, streaming=True)')
    return 0


def describe_plan(plan: Plan, options: PackageOptions) -> list[str]:
    lines = [f"dry run: would write {options.out_dir} (nothing written)"]
    lines.append(f"  order within each split: {plan.order} (seed {plan.seed})")
    for split in SPLITS:
        lines.append(f"  {split}: {len(plan.source.splits[split])} samples")
    if plan.shards:
        lines.append(f"  shards: {shards_line(split_shard_counts(plan))}")
    for shard in plan.shards:
        members = sum(1 for _ in shard.layout())
        lines.append(f"  {shard.path}: {members} members, {shard.size:,} bytes")
    for rel, table in plan.tables.items():
        lines.append(f"  {rel}: {table.num_rows} rows")
    if plan.copies:
        lines.append(f"  {len(plan.copies)} media files copied one by one (--no-sharding)")
    sizes = {s.path: s.size for s in plan.shards} | {d: 0 for d in [*plan.copies, *plan.tables]}
    sizes |= {auxiliary_table_path(a, s): 0 for a in plan.source.auxiliary for s in SPLITS}
    commits = push_commit_count(sizes | {BUILDER_PATH: 0})
    lines.append(f"  push: {commits} commits (at most {HUB_MAX_FILES_PER_COMMIT} files each)")
    for name in plan.source.auxiliary:
        lines.append(f"  auxiliary/{name}/: split from labels/{name}.parquet")
    if plan.source.missing:
        lines.append(f"  missing media (null shard columns): {len(plan.source.missing)}")
    if plan.source.bad_media:
        lines.append(f"  bad media, samples labels-only: {len(plan.source.bad_media)}")
    lines += [f"  {note}" for note in plan.notes]
    return lines


if __name__ == "__main__":
    run_main(main)
