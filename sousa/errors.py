"""The one exception type the CLI turns into exit status 2."""

from __future__ import annotations


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


class PushError(RuntimeError):
    """An upload stopped midway (a failed commit, a dropped connection); exit status 1.

    Re-running the same command resumes it: committed files are not sent again.
    """


def first_values(values: list, limit: int = 5) -> str:
    """`a, b, c … (+N more)`: the first offending values, for error messages."""
    shown = ", ".join(repr(v) for v in values[:limit])
    more = len(values) - limit
    return shown + (f" … (+{more} more)" if more > 0 else "")
