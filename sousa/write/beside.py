"""The files written beside the shards, in a thread while the shards are written.

The split and auxiliary tables, the builder, the card's statistics and figures, and the card
depend on the plan alone (every shard's size and every member's offset are planned), not on
the shards' bytes: so they are written while the shards are, and off the critical path go
their cost and that of importing matplotlib and `huggingface_hub` (only here, in the thread).
A thread is enough: the shards are written by other processes (or, with one worker, mostly
in system calls and C code that release the GIL), and Arrow, zlib and Agg do the work here.

`BesideShards(plan, out, sizes, repo_id, tag).start()` starts it; `result()` waits and returns
the files' digests, raising what the thread raised; `stop()` (after an error elsewhere) makes it end
at its next file, waits for it and removes what it wrote: a failed run leaves the same files
as when these were written after the shards.

With two workers or more, that thread is the run's longest path (the shards are written by
the workers meanwhile), and importing matplotlib and drawing are a third of it: a
`FigureProcess`, forked before the source is read, imports matplotlib on the core that
reading and planning leave idle and draws the figures when the thread sends it the statistics.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..card.figures import render_figures
from ..card.stats import label_stats, statistics_section
from ..layout import BUILDER_PATH, CARD_PATH, SPLITS
from .builder_file import standalone_builder
from .forked import helper_of
from .memory import release_freed
from .plan import Plan
from .staging import FileDigest, write_bytes_atomic
from .summary import split_stats
from .tables import write_auxiliary, write_table

Figures = dict[str, tuple[bytes, str]]  # path → (PNG bytes, alt text): `render_figures`'
Draw = Callable[[object], Callable[[], Figures]]  # given statistics: a call that gives figures


def draw_here(stats) -> Callable[[], Figures]:
    """`Draw` in this thread: the figures are drawn now."""
    figures = render_figures(stats)
    return lambda: figures


class FigureProcess:
    """`render_figures` in a forked process that imports matplotlib as soon as it starts.

    Fork it before any thread is started (a lock held by a thread at the fork would stay held
    in the child). `draw(stats)` sends the statistics and returns the call that waits for the
    figures (raising what drawing raised); `close()` ends the process, drawn or not. It dies
    with its parent.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_draw_when_asked,
            args=(child, self._conn, os.getpid()),
            name="sousa-figures",
            daemon=True,
        )
        self._process.start()
        self._answered = False  # the process has sent all it will: it exits by itself
        child.close()

    def draw(self, stats) -> Callable[[], Figures]:
        self._conn.send(stats)
        return self._figures

    def _figures(self) -> Figures:
        try:
            ok, value = self._conn.recv()
            self._answered = True
        except EOFError:
            self._process.join()
            raise RuntimeError(
                f"the process drawing the card's figures died (exit code "
                f"{self._process.exitcode}); nothing final-named is half-written: re-run"
            ) from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """End the process: it has exited once its answer was read; else (the folder was
        current, or the run failed before reading it) it is killed, holding nothing to save,
        rather than waited for while it imports matplotlib or draws. Closing again does
        nothing more."""
        if not self._answered and self._process.exitcode is None:
            self._process.kill()
        self._conn.close()
        self._process.join()


def _draw_when_asked(conn, parent_end, parent: int) -> None:
    """The figure process: import matplotlib, then draw the statistics it is sent (if any).
    Its copy of the parent's end of the pipe is closed first: else it would never see the
    end of the pipe when the parent closes it unused."""
    parent_end.close()
    helper_of(parent)
    import matplotlib.figure  # noqa: F401  the point: imported while the parent plans
    import matplotlib.style  # noqa: F401
    import matplotlib.ticker  # noqa: F401

    try:
        stats = conn.recv()
    except EOFError:  # closed unused (the folder was current, or the run failed)
        return
    try:
        conn.send((True, render_figures(stats)))
    except Exception as e:  # sent to the parent, which raises it
        conn.send((False, e))


class Stopped(Exception):
    """The thread was asked to stop before it had written every file."""


class BesideShards:
    """Writes the tables, builder, figures and card of `plan` under `out` in a thread.

    `sizes` holds the size of every other staged file (the shards and copies, as planned):
    the card lists them.
    """

    def __init__(
        self, plan: Plan, out: Path, sizes: dict[str, int], repo_id: str | None,
        tag: str | None = None, draw: Draw = draw_here,
    ) -> None:  # fmt: skip
        self._args = (plan, out, sizes, repo_id, tag, draw)
        self._stop = threading.Event()
        self._digests: dict[str, FileDigest] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sousa-beside-shards", daemon=True)

    def start(self) -> None:
        """Start the thread (after the shard writers are forked: see `write_shards`)."""
        self._thread.start()

    def result(self) -> dict[str, FileDigest]:
        """Every file written, once all are; re-raises the thread's error."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digests

    def stop(self) -> None:
        """After an error elsewhere: end the thread at its next file, wait for it, and remove
        the files it wrote (they are rewritten on every run; its own error is dropped)."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
        out = self._args[1]
        for rel in self._digests:
            (out / rel).unlink(missing_ok=True)

    def _run(self) -> None:
        try:
            write_beside(*self._args, self._digests, self._stop)
        except BaseException as e:  # re-raised by result() in the calling thread
            self._error = e


def write_beside(
    plan: Plan,
    out: Path,
    sizes: dict[str, int],
    repo_id: str | None,
    tag: str | None,
    draw: Draw,
    digests: dict[str, FileDigest],
    stop: threading.Event,
) -> None:
    """Write the split tables, the figures (`draw`n from the statistics of the split tables
    just written), the auxiliary tables, the builder and the card (naming `repo_id` and the
    release `tag`) into `out`, adding each file's digest to `digests`. What does not need the
    figures is done while a `FigureProcess` draws them."""

    def check() -> None:
        if stop.is_set():
            raise Stopped()
        release_freed()

    for rel, table in plan.tables.items():
        check()
        digests[rel] = write_table(table, out / rel)
    stats = label_stats(out)
    figures_drawn = draw(stats)
    ids_by_split = {
        split: plan.source.sample_ids(split)
        for split in SPLITS
        if plan.source.num_samples_of(split)
    }
    for name, path in plan.source.auxiliary.items():
        check()
        digests |= write_auxiliary(name, path, ids_by_split, out)
    check()
    digests[BUILDER_PATH] = write_bytes_atomic(out / BUILDER_PATH, standalone_builder())
    from ..card.readme import build_card  # imports huggingface_hub: kept off the way to a shard
    from ..card.training import recipe_classes

    figures = figures_drawn()
    check()
    for rel, (png, _) in figures.items():
        digests[rel] = write_bytes_atomic(out / rel, png)
    card = build_card(
        plan.source.readme,
        plan.source.label_schema,
        split_stats(plan),
        sizes | {p: d.size for p, d in digests.items()},
        order=plan.order,
        seed=plan.seed,
        num_samples=plan.source.num_samples,
        bad_media=[b.sample_id for b in plan.source.bad_media],
        repo_id=repo_id,
        tag=tag,
        example_id=_example_id(plan),
        statistics=statistics_section(stats, {rel: alt for rel, (_, alt) in figures.items()}),
        classes=recipe_classes(stats),
    )
    digests[CARD_PATH] = write_bytes_atomic(out / CARD_PATH, str(card).encode())


def _example_id(plan: Plan) -> str | None:
    """The sample the card's `fetch` example reads: the first of the first shard (of the
    card's first config), else the first of a split."""
    firsts = [shard.samples[:1] for shard in plan.shards[:1]]
    firsts += [rows[:1] for rows in plan.source.split_rows.values()]
    row = next((int(rows[0]) for rows in firsts if len(rows)), None)
    return None if row is None else plan.source.media.sample_ids[row].as_py()
