"""What the command lines share about their output: the progress flags (bars on a terminal by
default, `--quiet` hides them, `--progress` (hidden) forces them where stderr is not a terminal:
logs, CI), and `run_main`, which ends quietly when stdout's reader goes away (`... | head`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from tqdm import tqdm


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)


def wants_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and (args.progress or sys.stderr.isatty())


def run_main(main: Callable[[], int]) -> NoReturn:
    """`sys.exit(main())`, except that a closed stdout (`python -m sousa.package DIR --dry-run
    | head`) ends the process quietly, with status 1, instead of a `BrokenPipeError` traceback.

    The recipe of Python's documentation ("Note on SIGPIPE", library/signal): stdout is pointed
    at /dev/null so that the interpreter's own flush at exit does not fail again.
    """
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 1
    sys.exit(status)


class _NoMonitorBar(tqdm):
    """A bar that starts no monitor thread: forking workers while it is open copies none."""

    monitor_interval = 0


def byte_bar(desc: str, total: int, progress: bool) -> tqdm:
    """A bar counting bytes on stderr, hidden unless `progress`; safe to fork under."""
    return _NoMonitorBar(
        total=total, unit="B", unit_scale=True, desc=desc, file=sys.stderr, disable=not progress
    )
