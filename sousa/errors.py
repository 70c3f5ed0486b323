"""The exceptions the CLI turns into exit statuses: `InputError` 2, the others 1."""

from __future__ import annotations

import errno

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class InputError(Exception):
    """The input (source folder, options, staging folder) is wrong; the message says where.

    Raised before anything is written whenever possible; the CLI prints the message and
    exits with status 2.
    """


class SourceChangedError(RuntimeError):
    """A source file changed while it was being packaged; exit status 1.

    Not an `InputError`: the input was valid when it was checked, before writing began. The
    file being written is discarded (atomic writes), and a re-run packages the new contents.
    """


class DiskFullError(RuntimeError):
    """The disk (or the quota) filled up while writing; exit status 1.

    The file being written is removed; completed files stay, and a re-run finishes the work.
    """


def disk_full(error: BaseException, path: object) -> DiskFullError | None:
    """The `DiskFullError` for an `OSError` of a full disk or quota while writing `path`."""
    if not isinstance(error, OSError) or error.errno not in DISK_FULL_ERRNOS:
        return None
    return DiskFullError(
        f"{error.strerror or 'no space left'} while writing {path}; the files already "
        "complete are kept: free some space and re-run to finish"
    )


class PushError(RuntimeError):
    """An upload stopped midway (a failed commit, a dropped connection); exit status 1.

    Re-running the same command resumes it: committed files are not sent again.
    """


def first_values(values: list, limit: int = 5) -> str:
    """`a, b, c … (+N more)`: the first offending values, for error messages."""
    shown = ", ".join(repr(v) for v in values[:limit])
    more = len(values) - limit
    return shown + (f" … (+{more} more)" if more > 0 else "")
