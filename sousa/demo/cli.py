"""`python -m sousa.demo [DIR]`: write a demo folder; flags mirror the generator's modes.

Progress shows on a terminal and `--quiet` hides it, as in `python -m sousa.package`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..progress import add_progress_flags, wants_progress
from .folder import STAGING_NAME, DemoDirError
from .options import MAX_AUGMENTATIONS, DemoOptions
from .synthesis import SUBTYPES
from .writer import write_folder

DEFAULT_DIR = Path("output/demo")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m sousa.demo", description="Write a small SOUSA-shaped demo dataset folder."
    )
    p.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="output folder")
    p.add_argument("-n", "--n-samples", type=int, default=40, help="rows (samples)")
    p.add_argument("--seconds", type=float, default=1.0, help="audio length per sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-p", "--players", type=int, default=None, help="player profiles")
    p.add_argument(
        "-a", "--augmentations", type=int, default=2,
        help=f"versions of each performance (1-{MAX_AUGMENTATIONS}); MIDI for the first only",
    )  # fmt: skip
    p.add_argument(
        "--with-audio", action="store_true", default=True,
        help="write FLAC (the generator's --with-audio; the default here)",
    )  # fmt: skip
    p.add_argument(
        "--no-audio", dest="with_audio", action="store_false",
        help="labels and MIDI only: the generator's default mode",
    )  # fmt: skip
    p.add_argument("--channels", type=int, choices=(1, 2), default=2)
    p.add_argument("--subtype", choices=tuple(SUBTYPES), default="PCM_24", help="FLAC bit depth")
    p.add_argument(
        "--midi-fraction", type=float, default=None, help="share of performances with MIDI"
    )
    p.add_argument("--flat", action="store_true", help="no per-rudiment subfolders")
    p.add_argument("--no-readme", dest="readme", action="store_false", help="no README.md")
    add_progress_flags(p)
    return p.parse_args(argv)


def _dir_stats(root: Path, skip: str) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != skip]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        options = DemoOptions(
            n_samples=args.n_samples, seconds=args.seconds, seed=args.seed,
            midi_fraction=args.midi_fraction, nested=not args.flat, players=args.players,
            augmentations=args.augmentations, with_audio=args.with_audio,
            channels=args.channels, subtype=args.subtype, readme=args.readme,
        )  # fmt: skip
        out = write_folder(args.dir, options, wants_progress(args))
    except (DemoDirError, ValueError) as exc:
        print(f"sousa.demo: error: {exc}", file=sys.stderr)
        return 2
    n_files, n_bytes = _dir_stats(out, skip=STAGING_NAME)
    print(
        f"wrote {options.n_samples} samples ({n_files} files, {n_bytes / 1e6:.1f} MB) to {out} "
        f"in {time.perf_counter() - start:.2f}s"
    )
    if (out / STAGING_NAME).exists():
        print(
            f"kept {out / STAGING_NAME}: sousa.package wrote it from the earlier demo; "
            f"python -m sousa.package {out} brings it up to date"
        )
    return 0
