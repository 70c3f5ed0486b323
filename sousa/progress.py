"""The progress flags both command lines share: bars on a terminal by default, `--quiet` hides
them, `--progress` (hidden) forces them where stderr is not a terminal (logs, CI)."""

from __future__ import annotations

import argparse
import sys


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)


def wants_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and (args.progress or sys.stderr.isatty())
