"""SOUSA reference loader: a self-contained `datasets.GeneratorBasedBuilder`.

It reads a sousa staging folder (= the Hub repo): the split tables `data/` say which TAR shard
of `audio/` and `midi/` holds each sample's files. It streams each shard holding a row the
`filter` selects (`dl_manager.iter_archive`: one GET), reads that shard's rows when there,
picks each sample's members by name and checks them against the table (`SousaDataError`).
Configs: `audio` (labels, `audio`, `midi`), `midi`, `labels` (tables only). `filter={column:
value or [values]}`, ANDed, `None` matching nulls. Shards stream in name order, samples as
written (`sousa.load(seed=, epoch=)` and the card's recipe give each epoch its own order).
`audio` decodes with soundfile (`FlacAudio`); labels are what native `load_dataset` reads.
Public `datasets` API only (but the guarded `register_feature`); `sousa.load` subclasses it.
`Sousa(base_path="hf://datasets/user/sousa", config_name="midi").as_streaming_dataset("train")`
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tarfile
from dataclasses import dataclass, replace
from typing import Any

import datasets
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..layout import (
    CONFIGS,
    MANIFEST_PATH,
    MEDIA_KINDS,
    SHARD_COLUMNS,
    SPLITS,
    Manifest,
    ManifestError,
    json_label_type,
    labels_json,
    member_key,
    shard_column,
    shard_file_path,
    shard_path,
    split_table_path,
)
from .flac_audio import FlacAudio, SousaDataError, register_flac_audio

ROW = "__sousa_row__"  # the row-number column added to a split table's index while planning

register_flac_audio()


@dataclass
class SousaConfig(datasets.BuilderConfig):
    """A config and its row `filter`."""

    filter: dict | None = None


def resolve_root(base_path: str | None, data_dir: str | None) -> str:
    """The staging folder: `data_dir` (absolute, or relative to `base_path`) else `base_path`."""
    root = posixpath.join(os.fspath(base_path or ""), os.fspath(data_dir or ""))
    if not root:
        raise ValueError("no staging folder: pass base_path= (a folder or hf://datasets/…)")
    return root.rstrip("/") if is_url(root) else os.path.abspath(root)


def is_url(path: str) -> bool:
    return "://" in path


def join(root: str, relative: str) -> str:
    return f"{root}/{relative}" if is_url(root) else os.path.join(root, *relative.split("/"))


def fs_options(url: str, download_config: datasets.DownloadConfig) -> dict:
    """fsspec's options for `url`: the storage options of its protocol, for `hf://` the token."""
    protocol = url.split("://", 1)[0]
    options = dict((download_config.storage_options or {}).get(protocol, {}))
    if protocol == "hf" and download_config.token is not None:
        options.setdefault("token", download_config.token)
    return options


def open_file(path: str, download_config: datasets.DownloadConfig):
    """A local path opened for reading, or a URL opened with fsspec (`fs_options`)."""
    if is_url(path):
        return fsspec.open(path, "rb", **fs_options(path, download_config)).open()
    return open(path, "rb")


def load_manifest(root: str, download_config: datasets.DownloadConfig) -> Manifest:
    """The staging folder's manifest; a `SousaDataError` naming it if missing or unreadable."""
    path = join(root, MANIFEST_PATH)
    try:
        with open_file(path, download_config) as f:
            return Manifest.from_json(f.read())
    except FileNotFoundError as err:
        missing = f"{root} is not a complete sousa staging folder: {MANIFEST_PATH} is missing"
        raise SousaDataError(missing) from err
    except ManifestError as err:
        raise SousaDataError(f"{path}: {err}") from None


def manifest_splits(manifest: Manifest) -> list[str]:
    return [s for s in SPLITS if split_table_path(s) in manifest.files]


def config_splits(manifest: Manifest) -> dict[str, list[str]]:
    """The splits each config has data in: a media config's have a shard 0."""
    splits = manifest_splits(manifest)
    media = {k: [s for s in splits if shard_path(k, s, 0) in manifest.files] for k in MEDIA_KINDS}
    return media | {"labels": splits}


def manifest_fingerprint(root: str, manifest: Manifest) -> str:
    """A cache key: where the data is and what it is (the manifest lists every file's sha256)."""
    text = json.dumps([root, sorted((path, e.sha256) for path, e in manifest.files.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def label_columns(schema: pa.Schema) -> list[str]:
    return [name for name in schema.names if name not in SHARD_COLUMNS]


def label_features(schema: pa.Schema) -> datasets.Features:
    """The label columns' features by the type rule (`json_label_type`), as the card's."""
    fields = [schema.field(name) for name in label_columns(schema)]
    typed = pa.schema([f.with_type(json_label_type(f.type, pa)) for f in fields])
    return datasets.Features.from_arrow_schema(typed)


def json_labels(row: dict) -> dict:
    """A row's label values by the type rule: what native loading reads from its labels JSON."""
    return json.loads(labels_json(row))


def filter_table(table: pa.Table, filter: dict | None, where: str = "") -> pa.Table:
    """Rows matching `{column: value or [values]}` (ANDed; `None` matches nulls)."""
    if not filter:
        return table
    if not isinstance(filter, dict):
        raise ValueError(f"filter must be a dict {{column: value or [values]}}, got {filter!r}")
    mask = None
    for column, wanted in filter.items():
        if column not in table.column_names or column in SHARD_COLUMNS:
            raise ValueError(
                f"filter: unknown column {column!r}{where}; label columns: "
                f"{', '.join(label_columns(table.schema))}"
            )
        values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        data = table.column(column)
        try:
            value_set = pa.array(values, type=data.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
            raise ValueError(
                f"filter: values {values!r} do not fit column {column!r} ({data.type}): {err}"
            ) from err
        matches = pc.fill_null(pc.is_in(data, value_set=value_set, skip_nulls=False), False)
        mask = matches if mask is None else pc.and_(mask, matches)
    return table.filter(mask)


def sample_example(row: dict, labels, kind: str, members: dict, shard: str) -> dict:
    """A row and its members (name → bytes) from a `kind` shard → `labels(row)`, `audio` as
    `{"bytes", "path"}`, `midi` bytes or None; members present, sizes and FLAC marker checked."""
    name = row[shard_column(kind, "filename")]
    example = labels(row)
    data = _member(row, kind, members, shard)
    if kind == "audio":
        if data[:4] != b"fLaC":
            raise SousaDataError(
                f"corrupt FLAC member {name!r} in shard {shard!r}: it does not start with "
                f"'fLaC' (starts {data[:4]!r})"
            )
        example["audio"] = {"bytes": data, "path": name}
        has_midi = row[shard_column("midi", "filename")]
        example["midi"] = _member(row, "midi", members, shard) if has_midi else None
    else:
        example["midi"] = data
    return example


def _member(row: dict, kind: str, members: dict, shard: str) -> bytes:
    name, expected = row[shard_column(kind, "filename")], row[shard_column(kind, "size")]
    data = members.get(name)
    if data is None:
        lacks = f"shard {shard} lacks {name!r}, which the split table puts there (mismatched ids)"
        raise SousaDataError(lacks)
    if expected is not None and expected != len(data):
        raise SousaDataError(
            f"member {name!r} of shard {shard} has {len(data)} bytes, the split table says "
            f"{expected}"
        )
    return data


@dataclass(frozen=True)
class ShardJob:
    """A shard of `kind` named `name`, its split table at `table`, streamed as `archive`
    (`dl_manager.iter_archive`) when `stream`; else read otherwise, or not at all."""

    kind: str
    name: str
    table: str
    stream: bool = True
    archive: Any = None

    @property
    def shard(self) -> str:
        return shard_file_path(self.kind, self.name)


class Sousa(datasets.GeneratorBasedBuilder):
    """SOUSA drum-rudiment performances from a sousa staging folder or Hub repo."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = SousaConfig
    BUILDER_CONFIGS = [
        SousaConfig(name="audio", version=VERSION, description="labels + FLAC audio + MIDI"),
        SousaConfig(name="midi", version=VERSION, description="labels + MIDI (samples with MIDI)"),
        SousaConfig(name="labels", version=VERSION, description="labels only (no shard read)"),
    ]
    DEFAULT_CONFIG_NAME = "audio"
    DEFAULT_WRITER_BATCH_SIZE = 64  # rows hold ~MB of FLAC each: keep Arrow batches small

    def __init__(self, *args, **kwargs):
        options = {"token": kwargs.get("token"), "storage_options": kwargs.get("storage_options")}
        self._download_config = datasets.DownloadConfig(**options)
        self._root = resolve_root(kwargs.get("base_path"), kwargs.get("data_dir"))
        self._manifest = load_manifest(self._root, self._download_config)
        self._splits = manifest_splits(self._manifest)
        if kwargs.get("hash") is None:
            kwargs["hash"] = manifest_fingerprint(self._root, self._manifest)
        self._schema: pa.Schema | None = None
        super().__init__(*args, **kwargs)
        filter_table(self._label_schema().empty_table(), self.config.filter, f" in {self._root}")

    splits = property(lambda self: list(self._splits), doc="The splits (manifest), in order.")
    manifest = property(lambda self: self._manifest, doc="The staging folder's manifest.")

    def _label_schema(self) -> pa.Schema:
        if self._schema is None:
            if not self._splits:
                raise SousaDataError(f"{self._root}: the manifest lists no split table (data/)")
            path = join(self._root, split_table_path(self._splits[0]))
            with open_file(path, self._download_config) as f:
                schema = pq.read_schema(f)
            missing = [c for c in SHARD_COLUMNS if c not in schema.names]
            if missing:
                raise SousaDataError(
                    f"{path}: not a sharded split table, missing columns {missing} "
                    "(was it packaged with --no-sharding?)"
                )
            self._schema = schema.remove_metadata()
        return self._schema

    def _info(self) -> datasets.DatasetInfo:
        features = dict(label_features(self._label_schema()))
        if self.config.name == "audio":
            features["audio"] = FlacAudio()
        if self.config.name in MEDIA_KINDS:
            features["midi"] = datasets.Value("binary")
        about = "SOUSA: synthetic drum-rudiment performances with dense labels."
        return datasets.DatasetInfo(description=about, features=datasets.Features(features))

    def _split_generators(self, dl_manager):
        available, name = config_splits(self._manifest), self.config.name
        if not available[name]:
            having = ", ".join(c for c in CONFIGS if available[c])
            problem = f"config {name!r} has no data in {self._root}; configs with data: {having}"
            raise SousaDataError(problem)
        generators = []
        for split in available[name]:
            table = dl_manager.download(join(self._root, split_table_path(split)))
            kwargs = {"table": table, "jobs": None}
            if self.config.name != "labels":
                kwargs = {"table": None, "jobs": self._shard_jobs(dl_manager, table)}
            generators.append(datasets.SplitGenerator(name=split, gen_kwargs=kwargs))
        return generators

    def _index(self, table: str) -> pa.Table:
        """The split table's shard columns of the kind, the filter's, and row numbers `ROW`."""
        kind = self.config.name
        columns = [shard_column(kind, f) for f in ("shard", "offset", "size")]
        columns += [shard_column("midi", "filename")] if kind == "audio" else []
        columns += [c for c in (self.config.filter or {}) if c not in columns]
        with open_file(table, self._download_config) as f:
            index = pq.ParquetFile(f).read(columns=columns, use_threads=False)
        return index.append_column(ROW, pa.array(np.arange(len(index), dtype=np.int64)))

    def _shard_jobs(self, dl_manager, table: str) -> list[ShardJob]:
        """A job per shard holding selected rows (streaming: per shard, so the job count that
        `datasets` deals to workers and ranks does not depend on the filter), streamed unless
        `_plan_job` says otherwise."""
        kind, streaming = self.config.name, getattr(dl_manager, "is_streaming", False)
        index = self._index(table)
        shard = shard_column(kind, "shard")
        selected = filter_table(index, self.config.filter)
        names = pc.unique((index if streaming else selected).column(shard).drop_null())
        jobs = []
        for name in sorted(names.to_pylist()):
            in_shard = index.filter(pc.equal(index.column(shard), name))
            rows = selected.filter(pc.equal(selected.column(shard), name))
            job = ShardJob(kind, name, table, len(rows) > 0)
            jobs.append(self._plan_job(job, rows, in_shard))
        streamed = [i for i, job in enumerate(jobs) if job.stream]
        paths = dl_manager.download([join(self._root, jobs[i].shard) for i in streamed])
        for i, path in zip(streamed, paths):
            jobs[i] = replace(jobs[i], archive=dl_manager.iter_archive(path))
        return jobs

    def _plan_job(self, job: ShardJob, rows: pa.Table, in_shard: pa.Table) -> ShardJob:
        return job  # a hook: the job from the shard's selected `rows` and all its rows

    def _generate_examples(self, table=None, jobs=None):
        if table is not None:  # the labels config: the split table's rows, a group at a time
            yield from self._generate_labels(table)
        for job in jobs or ():
            yield from self._generate_shard(job, self._labels(self._label_schema()))

    def _labels(self, schema: pa.Schema):  # row → its label values; a subclass's is faster
        columns = label_columns(schema)
        return lambda row: json_labels({name: row[name] for name in columns})

    def _generate_labels(self, table: str):
        with open_file(table, self._download_config) as f:
            parquet = pq.ParquetFile(f)
            convert = self._labels(parquet.schema_arrow)
            columns = label_columns(parquet.schema_arrow)
            for group in range(parquet.num_row_groups):
                batch = filter_table(parquet.read_row_group(group), self.config.filter)
                for row in map(convert, batch.select(columns).to_pylist()):
                    yield row.get("sample_id", str(row)), row

    def _shard_rows(self, job: ShardJob, columns: list[str]) -> pa.Table:
        """The split table's rows in the job's shard (the row groups whose statistics may
        hold it)."""
        where = [(shard_column(job.kind, "shard"), "==", job.name)]
        with open_file(job.table, self._download_config) as f:
            return pq.read_table(f, columns=columns, filters=where, use_threads=False)

    def _job_rows(self, job: ShardJob) -> tuple[pa.Table, frozenset]:
        """(the shard's selected rows in offset order, the member stems of all its rows)."""
        kind = job.kind
        member, offset = shard_column(kind, "filename"), shard_column(kind, "offset")
        columns = [*label_columns(self._label_schema()), member, offset, shard_column(kind, "size")]
        columns += [] if kind == "midi" else [shard_column("midi", f) for f in ("filename", "size")]
        table = self._shard_rows(job, columns)
        stems = frozenset(member_key(name) for name in table.column(member).to_pylist())
        table = filter_table(table, self.config.filter)
        return table.sort_by(offset), stems

    def _rows_by_name(self, rows: pa.Table, key: str):  # rows by member name (`key`)
        return {row[key]: row for row in rows.to_pylist()}

    def _generate_shard(self, job: ShardJob, labels):
        """Stream a shard; group each sample's adjacent members; check them against the table."""
        if job.archive is None:  # no selected row in that shard
            return
        rows, stems = self._job_rows(job)
        selected = self._rows_by_name(rows, shard_column(job.kind, "filename"))
        midi = rows.column(shard_column("midi", "filename")) if job.kind == "audio" else None
        wanted = set(selected) | set(midi.drop_null().to_pylist() if midi is not None else ())
        seen, stem, members = set(), None, {}
        try:
            for name, file in job.archive:
                if member_key(name) not in stems:
                    raise SousaDataError(
                        f"member {name!r} of shard {job.shard} belongs to no sample of "
                        "the split table (mismatched ids: shard and table disagree)"
                    )
                if member_key(name) != stem:
                    yield from self._finish_sample(job, labels, selected, members, seen)
                    stem, members = member_key(name), {}
                members[name] = file.read() if name in wanted else None
        except (tarfile.TarError, EOFError) as err:
            raise SousaDataError(f"shard {job.shard}: not a readable TAR ({err})") from err
        yield from self._finish_sample(job, labels, selected, members, seen)
        missing = sorted(set(selected) - seen)
        if missing:
            raise SousaDataError(
                f"shard {job.shard} lacks {len(missing)} member(s) the split table "
                f"puts there (mismatched ids): {missing[:5]}"
            )

    def _finish_sample(self, job: ShardJob, labels, selected, members: dict, seen: set):
        for name in members:
            if name in selected:
                seen.add(name)
                example = sample_example(selected[name], labels, job.kind, members, job.shard)
                yield example.get("sample_id", member_key(name)), example
