"""The progress flags both command lines share: bars on a terminal by default, `--quiet` hides
them, `--progress` (hidden) forces them where stderr is not a terminal (logs, CI)."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)


def wants_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and (args.progress or sys.stderr.isatty())


class _NoMonitorBar(tqdm):
    """A bar that starts no monitor thread: forking workers while it is open copies none."""

    monitor_interval = 0


def byte_bar(desc: str, total: int, progress: bool) -> tqdm:
    """A bar counting bytes on stderr, hidden unless `progress`; safe to fork under."""
    return _NoMonitorBar(
        total=total, unit="B", unit_scale=True, desc=desc, file=sys.stderr, disable=not progress
    )
