"""What every forked worker of the packager does first: make sure it cannot outlive the run."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), and exit if it has;
    and let SIGTERM end it (the parent's `terminate`) whatever handler the parent had
    installed (a library's, inherited by the fork: it would keep a worker alive)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def helper_of(parent: int) -> None:
    """`die_with_parent`, for a helper process that its parent ends (head checks, figures):
    Ctrl-C, sent to the whole process group, is left to the parent, which ends it; the
    helper would only print a traceback of its own."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
