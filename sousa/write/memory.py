"""The C allocator's hold on freed memory, for a long packaging run (glibc only; elsewhere
these do nothing).

Each thread that allocates (pyarrow's readers and kernels, the head checks) gets a glibc arena
of its own that keeps its freed pages, and freed blocks inside a heap stay resident behind
long-lived ones. `tune_allocator` caps the arenas at two; `release_freed` hands the free pages
left inside the heaps back to the operating system. (Fixing the mmap threshold as well kept
the peak where it was and cost system time: every large read became a fresh mapping.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # glibc malloc.h
ARENA_MAX = 2


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def tune_allocator() -> bool:
    """Cap glibc's arenas for this process (and forked children). False where the C library
    is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt(M_ARENA_MAX, ARENA_MAX)
    return True


def release_freed() -> None:
    """Return the free pages inside glibc's heaps to the operating system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
