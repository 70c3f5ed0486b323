"""Write planned shards in parallel: forked worker processes that die with their parent.

The shard writer (`shards.write_shard`) is the work; this module only spreads it. Workers are
forked, so the plan reaches them by inheritance, not pickling (a plan of 100,000 samples holds
the label table). Each worker takes the next shard index from a shared counter and reports
`(index, digest or error)` on a queue; the output is the same bytes whatever the number of
workers, because every byte and offset was fixed by the plan.

Workers must never outlive a run: on Linux each asks the kernel for SIGKILL when its parent
dies (`PR_SET_PDEATHSIG`), so an OOM-killed or SIGKILLed packager leaves no orphans. The parent
also watches its workers: one that dies without reporting stops the run with an error instead
of a hang. Nothing here depends on import or call order: everything a worker needs is passed
to it, and nothing global is set.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .forked import die_with_parent
from .shards import write_shard
from .staging import FileDigest

if TYPE_CHECKING:
    from .plan import SampleShard

POLL_SECONDS = 0.5  # how often the parent checks that its workers are alive

Written = Callable[["SampleShard", FileDigest], None]


def write_shards(
    shards: Sequence[SampleShard],
    out: Path,
    workers: int,
    written: Written | None = None,
    started: Callable[[], None] | None = None,
) -> dict[str, FileDigest]:
    """Write every shard under `out`; call `written(shard, digest)` as each completes, and
    `started()` once the workers are forked, before any shard is written (a thread it starts
    is not forked with them: a lock it held at the fork would stay held in a worker). Without
    `started`, one worker writes in this process; with it, in a process of its own, so that
    this one's thread does not slow it (the GIL).

    After the first error (a full disk: `DiskFullError`) no shard is begun; the shards being
    written end (each completes or fails), the complete ones are reported to `written`, and
    then that error is raised here. Interrupted (Ctrl-C, an error in `written`), the workers
    are terminated, and a temporary file they leave is for the caller to remove.
    """
    written = written or (lambda shard, digest: None)
    workers = max(1, min(workers, len(shards)))
    if not shards or (workers == 1 and started is None):
        digests = {}
        if started is not None:
            started()
        for shard in shards:
            digests[shard.path] = write_one(shard, out)
            written(shard, digests[shard.path])
        return digests
    return _write_in_processes(shards, out, workers, written, started or (lambda: None))


def write_one(shard: SampleShard, out: Path) -> FileDigest:
    return write_shard(out / shard.path, shard.iter_members(), shard.size)


def _write_in_processes(
    shards: Sequence[SampleShard],
    out: Path,
    workers: int,
    written: Written,
    started: Callable[[], None],
) -> dict[str, FileDigest]:
    context = multiprocessing.get_context("fork")
    next_index = context.Value("q", 0)
    results = context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(shards, out, next_index, results, os.getpid()),
            name=f"sousa-shard-writer-{i}",
            daemon=True,
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    digests: dict[str, FileDigest] = {}
    failed: BaseException | None = None
    try:
        started()
        while len(digests) < len(shards):
            try:
                index, digest, error = _next_result(results, processes)
            except RuntimeError:
                if failed is None:
                    raise
                break  # every worker has ended after the failure: no report is pending
            if error is not None:
                if failed is None:  # no shard is begun after it: the others end theirs
                    failed = error
                    with next_index.get_lock():
                        next_index.value = len(shards)
                continue
            digests[shards[index].path] = digest
            written(shards[index], digest)
    finally:
        _stop(processes)
    if failed is not None:
        raise failed
    return digests


def _next_result(results, processes: list) -> tuple:
    """The next report from a worker; an error if one died without reporting."""
    while True:
        try:
            return results.get(timeout=POLL_SECONDS)
        except queue.Empty:
            codes = [p.exitcode for p in processes]
            if any(code not in (None, 0) for code in codes) or None not in codes:
                raise RuntimeError(
                    f"a shard writer process died (exit codes {codes}); nothing "
                    "final-named is half-written: re-run to finish"
                ) from None


def _stop(processes: list) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()


def _worker(shards, out: Path, next_index, results, parent: int) -> None:
    """Take shard indices until none are left; report each digest (or the error)."""
    die_with_parent(parent)
    while True:
        with next_index.get_lock():
            index = next_index.value
            next_index.value += 1
        if index >= len(shards):
            return
        try:
            results.put((index, write_one(shards[index], out), None))
        except BaseException as error:  # reported to the parent, which raises it
            results.put((index, None, _picklable(error)))
            return


def _picklable(error: BaseException) -> BaseException:
    """The error itself if it can cross the queue, else a RuntimeError that says what it was."""
    try:
        pickle.dumps(error)
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
