"""`sousa.load` and `sousa.fetch`: read a sousa staging folder or Hub repo back.

`load` runs the reference builder directly (`datasets` >= 4 runs no loading scripts, so the
builder class is instantiated here rather than through `load_dataset`): the package's subclass
`sousa.read.package_builder.PackageSousa` of the staged `sousa.read.builder.Sousa`, adding range
reads, lazy rows and the streaming shortcut. `fetch` reads samples by id with byte-range
reads (`sousa.read.ranges`): the `sample_id` and shard columns of the split tables, then the
row groups holding those rows, then only the samples' members, from `{kind}_offset` in their
shards (`plan_spans`), and builds each example with the builder's `sample_example`.

Every error is a `LoadError` (both a `sousa.InputError` and a `ValueError`) naming what is
wrong, except inconsistent or corrupt data, reported by the builder's `SousaDataError` (a
`ValueError`) naming the shard and member.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets import Dataset, DatasetDict, DownloadConfig, IterableDataset
from datasets.exceptions import DatasetGenerationError

from ..errors import InputError
from ..layout import Manifest, member_key, shard_column, shard_file_path
from .builder import (
    CONFIGS,
    SousaDataError,
    config_splits,
    join,
    load_manifest,
    manifest_splits,
    split_table_path,
)
from .flac_audio import decode_flac
from .labels import label_converter
from .package_builder import PackageSousa
from .ranges import open_ranged, plan_spans, read_exactly, shard_archive_end, span_examples

__all__ = ["LoadError", "PackageSousa", "fetch", "load", "no_data_message", "read_range", "resolve"]

INDEX = ("shard", "filename", "offset")  # the shard fields `fetch` reads for every row
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class LoadError(InputError, ValueError):
    """A wrong argument to `load` / `fetch`: unknown sample, split, config or location."""


def resolve(path_or_repo_id: str | os.PathLike, revision: str | None = None) -> str:
    """A local staging folder (absolute path) or `hf://datasets/{repo_id}[@{revision}]`."""
    text = os.fspath(path_or_repo_id)
    if text.startswith("hf://"):
        if revision and "@" not in text:
            raise LoadError(f"{text}: put the revision in the URL (…@{revision}) or pass a repo id")
        return text.rstrip("/")
    if os.path.exists(text):
        if revision:
            raise LoadError(f"{text}: a local staging folder has no revision ({revision!r})")
        if not os.path.isdir(text):
            raise LoadError(f"{text}: not a staging folder (a file)")
        return os.path.abspath(text)
    if _REPO_ID.fullmatch(text) and not text.startswith(("./", "../")):
        root = f"hf://datasets/{text}"
        return f"{root}@{_quote_revision(revision)}" if revision else root
    raise LoadError(f"{text}: no such staging folder, and not a Hub repo id (user/name)")


def _quote_revision(revision: str) -> str:
    # HfFileSystem reads "refs/pr/N" and "refs/convert/…" as is; other revisions URL-quoted
    return revision if re.match(r"refs/(convert|pr)/", revision) else quote(revision, safe="")


def no_data_message(root: str, manifest: Manifest, config: str, split: str | None = None) -> str:
    """Why `config` (in `split`) cannot be loaded, naming what can be, or "" if it can."""
    available = config_splits(manifest)
    if not available.get(config):
        having = ", ".join(name for name in CONFIGS if available.get(name))
        return (
            f"config {config!r} has no data in {root} (no {config} file was packaged); "
            f"configs with data: {having}"
        )
    if split is not None and split in manifest_splits(manifest) and split not in available[config]:
        return (
            f"config {config!r} has no sample in split {split!r} of {root}; "
            f"its splits: {', '.join(available[config])}"
        )
    return ""


def _check_config(config: str) -> None:
    if config not in CONFIGS:
        raise LoadError(f"unknown config {config!r}; choose from {', '.join(CONFIGS)}")


def load(
    path_or_repo_id,
    config: str = "audio",
    split: str | None = None,
    streaming: bool = False,
    filter: dict | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    decode_threads: int = 0,
    seed: int | None = None,
    epoch: int | None = None,
    window: int | None = None,
):
    """Load SOUSA from a staging folder or a Hub repo id (`user/sousa`).

    `config`: `audio` (labels + decoded `audio` + `midi` bytes or None), `midi` (labels + MIDI,
    the samples that have MIDI) or `labels`. `filter={column: value or [values]}` selects rows
    on label columns before any shard is read; only shards holding selected rows are
    downloaded (or streamed); a split it selects nothing from is empty (a `Dataset` of no
    rows, or an empty stream). Returns a `Dataset` / `IterableDataset`, or a dict of them by
    split when `split` is None. Non-streaming, the Arrow cache holds the FLAC bytes; audio is
    decoded on access.

    `decode_threads` (streaming): decode FLAC in that many threads (soundfile releases the
    GIL); 0, the default, decodes in the iterating thread. Threads pay off on long clips only
    (BENCHMARKS.md, "decode_threads").

    `seed` (streaming): read epoch `epoch` (default 0) in its own order (`sousa.epochs`): the
    shards in an order drawn from (seed, epoch), and within each shard every run of `window`
    samples permuted (default `WINDOWS`: 128 audio samples, ~90 MB of FLAC in the real SOUSA,
    which raise peak RSS by ~1.7 × that; 1,024 MIDI samples, a few MB), the same in every
    process and for any number of DataLoader workers or ranks. `ds.set_epoch(e)` on the
    result gives the order of `epoch=e`. No `.shuffle()` is needed: a state dict
    (`ds.state_dict()`, torchdata's `StatefulDataLoader`, with workers) taken mid-epoch loads
    into `load(..., seed=s, epoch=e)` of a new process and continues the order exactly; one
    saved with another world size (or seed, or epoch) is refused when iterated
    (`ResumeError`, naming the shards), and torchdata refuses another `num_workers` itself (a
    bare `AssertionError`). Without `seed` samples come in the written order (`epoch` is then
    refused). A `WORLD_SIZE` (as `torchrun` sets it) that does not divide a split's shard
    count is warned about.
    """
    _check_config(config)
    if seed is None and (epoch is not None or window is not None):
        raise LoadError("epoch= and window= order a shuffled stream: pass seed= as well")
    if seed is not None and not streaming:
        raise LoadError("seed= orders the shards of a stream: pass streaming=True")
    epoch = 0 if epoch is None else epoch
    numbers = (epoch,) if seed is None else (seed, epoch)
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in numbers):
        raise LoadError(f"seed and epoch must be integers ≥ 0, got seed={seed!r} epoch={epoch!r}")
    if window is not None and (
        not isinstance(window, int) or isinstance(window, bool) or window < 1
    ):
        raise LoadError(f"window must be an integer ≥ 1 (samples), got {window!r}")
    root = resolve(path_or_repo_id, revision)
    kwargs = {"base_path": root, "config_name": config, "token": token}
    if cache_dir is not None:
        kwargs["cache_dir"] = os.fspath(cache_dir)
    if filter is not None:
        kwargs["filter"] = filter
    if seed is not None:
        kwargs |= {"shard_seed": seed, "epoch": epoch, "window": window}
    if root.startswith("hf://datasets/"):
        kwargs["repo_id"] = root.removeprefix("hf://datasets/").split("@", 1)[0]
    builder = PackageSousa(**kwargs)
    if split is not None and split not in builder.splits:
        raise LoadError(
            f"unknown split {split!r} in {root}; available: {', '.join(builder.splits)}"
        )
    problem = no_data_message(root, builder.manifest, config, split)
    if problem:
        raise LoadError(problem)
    if streaming:
        streamed = builder.as_streaming_dataset(split=split)
        for ds in [streamed] if split is not None else streamed.values():
            # the shortcut's stream keeps the epoch order through set_epoch (its state dicts
            # then name the epoch); a plain stream would shuffle the shards again for it
            if seed is not None and type(ds).set_epoch is not IterableDataset.set_epoch:
                ds.set_epoch(epoch)
            warn_world_size(ds, config)
        if decode_threads:
            if split is not None:
                return streamed.decode(num_threads=decode_threads)
            for name in list(streamed):
                streamed[name] = streamed[name].decode(num_threads=decode_threads)
        return streamed
    try:
        builder.download_and_prepare()
    except DatasetGenerationError as err:
        if isinstance(err.__cause__, SousaDataError):  # show our message, not the wrapper's
            raise err.__cause__ from None
        raise
    return _as_dataset(builder, split)


def _as_dataset(builder: PackageSousa, split: str | None):
    """`builder.as_dataset(split=split)`, except that a split the filter left without a row is
    an empty `Dataset` with the config's features, as streaming gives an empty stream: an
    empty selection is an answer (`datasets` refuses to read a split of no rows: 'Instruction
    "test" corresponds to no data!')."""
    names = [split] if split is not None else list(builder.info.splits)
    empty = {name for name in names if not builder.info.splits[name].num_examples}
    if not empty:
        return builder.as_dataset(split=split)
    features = builder.info.features
    made = {
        name: Dataset.from_dict({column: [] for column in features}, features=features)
        if name in empty
        else builder.as_dataset(split=name)
        for name in names
    }
    return made[split] if split is not None else DatasetDict(made)


def warn_world_size(ds, config: str) -> None:
    """Warn when `WORLD_SIZE` (as `torchrun` sets it) does not divide the split's shards:
    `split_dataset_by_node` then has every rank read every shard and keep one example in
    `world_size` (once per split and shard count: Python shows a warning once)."""
    text = os.environ.get("WORLD_SIZE", "1")
    world_size = int(text) if text.isdigit() else 1
    shards = ds.num_shards
    if world_size > 1 and shards % world_size:
        warnings.warn(
            f"{config}/{ds.split}: {shards} shards do not divide among WORLD_SIZE="
            f"{world_size} ranks: each rank will read every shard and keep 1 example in "
            f"{world_size}; package with --shard-multiple {world_size}",
            stacklevel=3,
        )


# -- fetch -------------------------------------------------------------------------------------


def read_range(root: str, relative: str, start: int, length: int, token=None) -> bytes:
    """Exactly `length` bytes at `start` of the file `relative` to the staging root (one range
    request for a Hub repo)."""
    with open_ranged(join(root, relative), None, DownloadConfig(token=token)) as f:
        return read_exactly(f, start, length, relative)


def _open_table(root: str, relative: str, token) -> BinaryIO:
    if root.startswith("hf://"):
        from huggingface_hub import HfFileSystem

        return HfFileSystem(token=token).open(f"{root.removeprefix('hf://')}/{relative}", "rb")
    return open(join(root, relative), "rb")


@dataclass
class _Found:
    """What `fetch` needs from the split tables: the wanted rows, the label columns, and the
    member offsets of every shard holding one (a sample's span ends at the next sample)."""

    rows: dict = field(default_factory=dict)  # sample_id → table row
    labels: Any = None  # label_converter of the split tables' schema
    offsets: dict = field(default_factory=dict)  # shard (kind/name) → sorted member offsets
    stems: dict = field(default_factory=dict)  # shard (kind/name) → its samples' member stems


def _find_rows(root: str, ids: set, splits: list[str], kind: str | None, token) -> _Found:
    """Read the `sample_id` (and `kind` shard/offset) columns of each split table, then only
    the row groups holding a wanted id."""
    found = _Found()
    for split in splits:
        rel = split_table_path(split)
        with _open_table(root, rel, token) as f:
            table = pq.ParquetFile(f)
            found.labels = label_converter(table.schema_arrow)
            columns = ["sample_id"]
            columns += [shard_column(kind, name) for name in INDEX] if kind else []
            index = table.read(columns=columns)
            matches = pc.indices_nonzero(pc.is_in(index.column("sample_id"), pa.array(ids)))
            if len(matches) == 0:
                continue
            groups = _row_groups(table, matches.to_pylist())
            rows = table.read_row_groups(groups)
            rows = rows.filter(pc.is_in(rows.column("sample_id"), pa.array(ids))).to_pylist()
        for row in rows:
            if row["sample_id"] in found.rows:
                raise SousaDataError(f"{rel}: several rows have sample_id {row['sample_id']!r}")
            found.rows[row["sample_id"]] = row
        if kind:
            _index_shards(index, kind, found)
    return found


def _row_groups(table: pq.ParquetFile, indices: list[int]) -> list[int]:
    """The row groups of a parquet file that hold the given row indices."""
    groups, first = [], 0
    for group in range(table.metadata.num_row_groups):
        last = first + table.metadata.row_group(group).num_rows
        if any(first <= i < last for i in indices):
            groups.append(group)
        first = last
    return groups


def _index_shards(index: pa.Table, kind: str, found: _Found) -> None:
    columns = (index.column(shard_column(kind, name)).to_pylist() for name in INDEX)
    for shard, name, offset in zip(*columns):
        if shard is not None:
            path = shard_file_path(kind, shard)
            found.offsets.setdefault(path, []).append(offset)
            found.stems.setdefault(path, set()).add(member_key(name))
    for values in found.offsets.values():
        values.sort()


def _read_examples(root: str, found: _Found, kind: str, manifest: dict, token) -> dict:
    """sample_id → example (audio as FLAC bytes), reading each shard's coalesced spans."""
    config = DownloadConfig(token=token)
    shard_of, offset, size = (shard_column(kind, f) for f in ("shard", "offset", "size"))
    midi_member = shard_column("midi", "filename")
    by_shard: dict[str, list[dict]] = {}
    for row in found.rows.values():
        by_shard.setdefault(shard_file_path(kind, row[shard_of]), []).append(row)
    examples = {}
    for shard, rows in sorted(by_shard.items()):
        rows.sort(key=lambda row: row[offset])
        spans = plan_spans(
            [row[offset] for row in rows],
            [kind == "audio" and row[midi_member] is not None for row in rows],
            [row[size] for row in rows],
            found.offsets[shard],
            shard_archive_end(manifest, shard),
        )
        with open_ranged(join(root, shard), None, config) as f:
            for span in spans:
                data = read_exactly(f, span.start, span.end - span.start, shard)
                part = rows[span.first : span.stop]
                stems = found.stems[shard]
                examples.update(span_examples(data, span, part, kind, found.labels, shard, stems))
    return examples


def fetch(
    path_or_repo_id,
    sample_ids: str | Sequence[str],
    revision: str | None = None,
    token: str | bool | None = None,
    config: str = "audio",
) -> dict | list[dict]:
    """One sample (`sample_ids` a string) or several (a list: examples in its order), as the
    builder yields them (audio decoded), reading only their own bytes.

    Reads the split tables' `sample_id` and shard columns, then the row groups holding the
    wanted rows, then, per shard, each run of the wanted samples' members with one range read
    (adjacent samples coalesced, `plan_spans`): an audio sample's span holds its FLAC and its
    MIDI (the audio shard has both). `config` as in `load`; `labels` reads no shard. An empty
    list gives an empty list.
    """
    _check_config(config)
    root = resolve(path_or_repo_id, revision)
    manifest = load_manifest(root, DownloadConfig(token=token))
    ids = [sample_ids] if isinstance(sample_ids, str) else list(sample_ids)
    bad = [i for i in ids if not isinstance(i, str)]
    if bad:
        raise LoadError(f"sample ids must be a string or a list of strings, got {sample_ids!r}")
    if not ids:  # an empty selection is an answer, as an empty filter's split is for `load`
        return []
    kind = None if config == "labels" else config
    found = _find_rows(root, set(ids), manifest_splits(manifest), kind, token)
    unknown = [i for i in ids if i not in found.rows]
    if unknown:
        raise LoadError(
            f"unknown sample id {unknown[0]!r} ({len(unknown)} unknown): in no split table of "
            f"{root} ({', '.join(manifest_splits(manifest))})"
        )
    if kind is None:
        examples = {i: found.labels(row) for i, row in found.rows.items()}
    else:
        lacking = [i for i, row in found.rows.items() if row[shard_column(kind, "shard")] is None]
        if lacking:
            what = "audio" if kind == "audio" else "MIDI"
            raise LoadError(f"sample {lacking[0]!r} has no {what} (not in the {kind} config)")
        examples = _read_examples(root, found, kind, manifest, token)
        for sample_id, example in examples.items():
            if "audio" in example:
                shard = shard_file_path(
                    "audio", found.rows[sample_id][shard_column("audio", "shard")]
                )
                audio = example["audio"]
                example["audio"] = decode_flac(audio["bytes"], audio["path"], shard)
    chosen = [examples[i] for i in ids]
    return chosen[0] if isinstance(sample_ids, str) else chosen
