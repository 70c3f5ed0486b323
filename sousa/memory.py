"""The C allocator's hold on freed memory, for a long packaging run (glibc only; elsewhere
these do nothing).

glibc raises its mmap threshold each time a large block is freed, so later large blocks (Arrow
buffers, joined labels JSON) come from the heap, and one long-lived block above them keeps the
freed ones resident; each thread that allocates gets an arena of its own that keeps its freed
pages too. `tune_allocator` fixes the threshold at 128 KiB (large blocks are mapped and
unmapped on their own) and caps the arenas at two; `release_freed` hands the free pages left
inside the heap back to the operating system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3  # glibc malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's own initial value, kept fixed
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
    """Fix glibc's mmap threshold and cap its arenas for this process (and forked children).
    False where the C library is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    libc.mallopt(M_ARENA_MAX, ARENA_MAX)
    return True


def release_freed() -> None:
    """Return the free pages inside glibc's heaps to the operating system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
