"""`sousa.load`'s builder: the staged `Sousa` (sousa/read/builder.py) plus what only the
installed package carries.

- Range reads (`sousa.read.ranges`): a filtered shard whose selected samples cost less to read
  one span at a time than to stream whole (`use_ranges`) is read by HTTP range requests.
- Lazy rows (`sousa.read.rows`): a job holds the row numbers of its shard's rows, read when it
  is reached (the last row group kept for the next shard); rows become dicts a batch at a time.
- Fast label conversion (`sousa.read.labels`) and the streaming shortcut
  (`sousa.read.shortcut`, fenced: checked, with a public fallback).
- Each epoch's order (`sousa.epochs`): streamed with `shard_seed`, epoch `epoch` reads the
  shards in `shard_order` and each shard's samples `windowed` by runs of `window` (default
  `WINDOWS[config]`), as the card's recipe reads them.

The examples are the staged builder's, the same for every config and split (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import datasets
import pyarrow as pa

from ..epochs import WINDOWS, shard_order, windowed
from ..layout import shard_column
from ..tar_format import END_OF_ARCHIVE
from .builder import ROW, ShardJob, Sousa, SousaConfig, is_url, join
from .labels import label_converter
from .ranges import Span, open_ranged, plan_spans, read_exactly, span_examples, use_ranges
from .rows import RowsByName, TableRows
from .shortcut import typed

__all__ = ["PackageSousa", "PlannedJob"]


@dataclass(frozen=True)
class PlannedJob(ShardJob):
    """A `ShardJob` with where its rows are (`rows`) and, when range-read, the shard's `url`,
    `size` (manifest) and the coalesced byte `spans` of its selected rows (`plan_spans`)."""

    rows: TableRows | None = None
    url: str | None = None
    size: int = 0
    spans: tuple = ()
    order: tuple = ()  # (seed, epoch, window): its samples `windowed`; (): as written


@dataclass
class PackageConfig(SousaConfig):
    """`SousaConfig` and the epoch order's `shard_seed`, `epoch` and `window` (None:
    `WINDOWS[config]`)."""

    shard_seed: int | None = None
    epoch: int = 0
    window: int | None = None


class PackageSousa(Sousa):
    """The staged `Sousa` with range reads, lazy rows, windows and the streaming shortcut."""

    BUILDER_CONFIG_CLASS = PackageConfig
    BUILDER_CONFIGS = [
        PackageConfig(name=c.name, version=c.version, description=c.description)
        for c in Sousa.BUILDER_CONFIGS
    ]

    def as_streaming_dataset(self, split=None, base_path=None):
        """`datasets`' streaming dataset (or dict of them by split), each through
        `shortcut.typed`: a `SousaStream`, or as is when the internals are not as expected."""
        streamed = super().as_streaming_dataset(split=split, base_path=base_path)
        if isinstance(streamed, datasets.IterableDataset):
            return typed(streamed)
        for name in list(streamed):
            streamed[name] = typed(streamed[name])
        return streamed

    def _labels(self, schema: pa.Schema):
        return label_converter(schema)

    def _plan_job(self, job: ShardJob, rows: pa.Table, in_shard: pa.Table) -> ShardJob:
        indices = in_shard.column(ROW).to_numpy()
        where = TableRows(job.table, indices, self._download_config, version=self.hash)
        job = PlannedJob(**{f.name: getattr(job, f.name) for f in fields(job)}, rows=where)
        if not job.stream:
            return job
        spans = self._spans_if_they_pay(
            job, rows.sort_by(shard_column(job.kind, "offset")), in_shard
        )
        if not spans:
            return job
        url = join(self._root, job.shard)
        return replace(job, stream=False, url=url, size=self._shard_size(job), spans=tuple(spans))

    def _shard_rows(self, job: ShardJob, columns: list[str]) -> pa.Table:
        if getattr(job, "rows", None) is None:
            return super()._shard_rows(job, columns)
        table = job.rows.read(columns)
        pa.default_memory_pool().release_unused()
        return table

    def _rows_by_name(self, rows: pa.Table, key: str) -> RowsByName:
        return RowsByName(rows, key)

    def _shard_jobs(self, dl_manager, table: str) -> list[ShardJob]:
        jobs = super()._shard_jobs(dl_manager, table)
        streaming = getattr(dl_manager, "is_streaming", False)
        return self.epoch_jobs(jobs, self.config.epoch) if streaming else jobs

    def epoch_jobs(self, jobs: list[ShardJob], epoch: int) -> list[ShardJob]:
        """`jobs` in `epoch`'s `shard_order`, each to yield its samples `windowed` in that
        epoch's order; as they are without `shard_seed`."""
        seed, by_name = self.config.shard_seed, {job.name: job for job in jobs}
        if seed is None:
            return jobs
        window = self.config.window or WINDOWS.get(self.config.name, 1)
        order = shard_order(seed, epoch, sorted(by_name))
        return [replace(by_name[name], order=(seed, epoch, window)) for name in order]

    def _generate_shard(self, job: ShardJob, labels):
        if getattr(job, "spans", ()):
            examples = self._generate_ranges(job, labels)
        else:
            examples = super()._generate_shard(job, labels)
        if getattr(job, "order", ()):
            seed, epoch, window = job.order
            examples = windowed(examples, seed, epoch, job.name, window)
        return examples

    def _shard_size(self, job: ShardJob) -> int | None:
        entry = self.manifest.files.get(job.shard)
        return entry.size if entry else None

    def _spans(self, job: ShardJob, rows: pa.Table, in_shard: pa.Table) -> list[Span]:
        """`rows`: the selected rows of the shard in offset order; `in_shard`: all of them."""
        offset = shard_column(job.kind, "offset")
        whole = [False] * len(rows)
        if job.kind == "audio":  # a sample with MIDI: read on to the next sample
            midi = rows.column(shard_column("midi", "filename")).to_pylist()
            whole = [m is not None for m in midi]
        return plan_spans(
            rows.column(offset).to_pylist(),
            whole,
            rows.column(shard_column(job.kind, "size")).to_pylist(),
            sorted(in_shard.column(offset).drop_null().to_pylist()),
            (self._shard_size(job) or 0) - END_OF_ARCHIVE,
        )

    def _spans_if_they_pay(self, job: ShardJob, rows: pa.Table, in_shard: pa.Table):
        """A filtered shard's spans when range-reading them costs less than streaming it."""
        size = self._shard_size(job)
        if not self.config.filter or not size:
            return None
        spans = self._spans(job, rows, in_shard)
        return (
            spans if use_ranges(spans, size, "remote" if is_url(self._root) else "local") else None
        )

    def _generate_ranges(self, job: PlannedJob, labels):
        """Read only the selected samples' spans of a shard, one request per span."""
        rows, stems = self._job_rows(job)
        with open_ranged(job.url, job.size, self._download_config) as f:
            for span in job.spans:
                data = read_exactly(f, span.start, span.end - span.start, job.shard)
                part = rows.slice(span.first, span.stop - span.first).to_pylist()
                yield from span_examples(data, span, part, job.kind, labels, job.shard, stems)
