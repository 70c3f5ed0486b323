"""One loader, run in its own process: ``python benchmarks/loaders.py KIND ROOT SPLIT LIMIT``.

KIND is one of

- ``soundfile``: the decode floor, ``soundfile.read(path, dtype="float32")`` over the split's
  source FLAC files (ROOT is the source folder);
- ``sousa``: ``sousa.load(ROOT, split=SPLIT, streaming=True)``, touching
  ``sample["audio"]["array"]`` (ROOT is the staging folder);
- ``native``: ``datasets.load_dataset(ROOT, "audio", split=SPLIT, streaming=True)``, decoding
  each ``sample["flac"]`` with torchcodec's ``get_all_samples()``;
- ``soundfile_2p``: the soundfile loop in 2 processes (a fork pool, each decoding every other
  file; only the lengths come back: the decode ceiling of 2 cores, no transfer);
- ``sousa_dl2_np``: ``sousa_dl2`` with ``collate_fn`` leaving samples as they are (numpy
  arrays pickled through the workers' pipe rather than tensors in shared memory);
- ``null_dl2``: the same DataLoader over arrays made, not decoded (the transfer ceiling);
- ``sousa_dl2`` / ``native_dl2``: ``torch.utils.data.DataLoader(ds, num_workers=2,
  batch_size=None)`` over ``sousa``'s / ``native``'s streaming dataset (native decodes with
  torchcodec inside the workers, in ``.map``, so both decode in the workers).

LIMIT > 0 stops after that many samples. Imports happen before the clock starts (torch included:
``datasets`` imports it inside ``IterableDataset()`` whenever it is installed, which would
otherwise add ~1.4 s to ``sousa``'s clock; torchcodec too, for ``native``); the clock covers
opening the dataset and the whole loop.
The last stdout line is JSON: ``{"samples": n, "seconds": t}``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path


def split_audio_paths(source: Path, split: str) -> list[Path]:
    """The split's FLAC files in a source folder, sorted (splits.json + samples.parquet)."""
    import pyarrow.parquet as pq

    keys = {
        "train": "train_profile_ids",
        "validation": "val_profile_ids",
        "test": "test_profile_ids",
    }
    profiles = set(json.loads((source / "splits.json").read_text())[keys[split]])
    table = pq.read_table(
        source / "labels" / "samples.parquet", columns=["profile_id", "audio_path"]
    )
    rows = zip(table.column("profile_id").to_pylist(), table.column("audio_path").to_pylist())
    return sorted(source / path for profile, path in rows if profile in profiles and path)


def soundfile_loop(root: Path, split: str) -> Callable[[], Iterable[object]]:
    """The decode floor: read every FLAC file of the split from disk."""
    import soundfile as sf

    paths = split_audio_paths(root, split)
    return lambda: (sf.read(path, dtype="float32")[0] for path in paths)


def sousa_loop(root: Path, split: str, threads: int = 0) -> Callable[[], Iterable[object]]:
    """`sousa.load(streaming=True)`, touching each decoded array."""
    import datasets  # noqa: F401  (imported before the clock, like the native loader)

    import sousa

    # datasets imports torch inside IterableDataset() when it is installed: not our clock
    with contextlib.suppress(ImportError):
        import torch  # noqa: F401

    def run() -> Iterable[object]:
        ds = sousa.load(str(root), split=split, streaming=True, decode_threads=threads)
        for sample in ds:
            yield sample["audio"]["array"]

    return run


def native_loop(root: Path, split: str) -> Callable[[], Iterable[object]]:
    """Native `load_dataset(streaming=True)` with torchcodec decoding every FLAC."""
    import datasets
    import torch  # noqa: F401
    import torchcodec.decoders  # noqa: F401

    def run() -> Iterable[object]:
        ds = datasets.load_dataset(str(root), "audio", split=split, streaming=True)
        for sample in ds:
            yield sample["flac"].get_all_samples().data

    return run


def sousa_threads_loop(root: Path, split: str) -> Callable[[], Iterable[object]]:
    """`sousa.load(streaming=True, decode_threads=2)`: decoding on both cores."""
    return sousa_loop(root, split, threads=2)


def _decode(path: Path) -> int:
    import soundfile as sf

    return len(sf.read(path, dtype="float32")[0])


def soundfile_2p_loop(root: Path, split: str) -> Callable[[], Iterable[object]]:
    """The soundfile loop in 2 worker processes; their arrays stay there (lengths only)."""
    import multiprocessing

    paths = split_audio_paths(root, split)

    def run() -> Iterable[object]:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            yield from pool.imap(_decode, paths, chunksize=4)

    return run


def _as_is(sample):
    return sample


def _dataloader(ds, workers: int = 2, numpy: bool = False):
    """A training loop's `DataLoader` over an iterable dataset, one sample at a time.

    `numpy`: `collate_fn` that leaves samples as they are, so arrays travel pickled through
    the workers' pipe instead of as tensors in a new shared-memory segment each."""
    import torch.utils.data

    extra = {"collate_fn": _as_is} if numpy else {}
    return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers, **extra)


def sousa_dl2_loop(root: Path, split: str, numpy: bool = False) -> Callable[[], Iterable[object]]:
    """`DataLoader(sousa.load(streaming=True), num_workers=2)`."""
    import datasets  # noqa: F401
    import torch  # noqa: F401

    import sousa

    def run() -> Iterable[object]:
        ds = sousa.load(str(root), split=split, streaming=True)
        for sample in _dataloader(ds, numpy=numpy):
            yield sample["audio"]["array"]

    return run


def sousa_dl2_np_loop(root: Path, split: str) -> Callable[[], Iterable[object]]:
    """The same with `collate_fn=_as_is`: numpy arrays through the pipe."""
    return sousa_dl2_loop(root, split, numpy=True)


def _native_decode(sample: dict) -> dict:
    return {"array": sample["flac"].get_all_samples().data[0]}


def native_dl2_loop(root: Path, split: str) -> Callable[[], Iterable[object]]:
    """`DataLoader(load_dataset(streaming=True).map(torchcodec decode), num_workers=2)`."""
    import datasets
    import torch  # noqa: F401
    import torchcodec.decoders  # noqa: F401

    def run() -> Iterable[object]:
        ds = datasets.load_dataset(str(root), "audio", split=split, streaming=True)
        ds = ds.map(_native_decode, remove_columns=["flac"])
        for sample in _dataloader(ds):
            yield sample["array"]

    return run


def _null_arrays(paths: list[Path]):
    import numpy as np
    import soundfile as sf
    import torch.utils.data

    frames = sf.info(str(paths[0])).frames if paths else 0

    class Null(torch.utils.data.IterableDataset):
        """The split's number of float32 arrays of one clip's length, made, not decoded."""

        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            share = paths if info is None else paths[info.id :: info.num_workers]
            for _ in share:
                yield {"array": np.zeros(frames, dtype=np.float32), "sample_id": "x"}

    return Null()


def null_dl2_loop(root: Path, split: str) -> Callable[[], Iterable[object]]:
    """`DataLoader(num_workers=2)` over arrays made, not decoded: what moving a sample from a
    worker to the training loop costs (the ceiling of any dataset under a DataLoader)."""
    paths = split_audio_paths(root, split)

    def run() -> Iterable[object]:
        for sample in _dataloader(_null_arrays(paths)):
            yield sample["array"]

    return run


LOOPS = {
    "null_dl2": null_dl2_loop,
    "soundfile": soundfile_loop,
    "soundfile_2p": soundfile_2p_loop,
    "sousa": sousa_loop,
    "sousa_threads": sousa_threads_loop,
    "sousa_dl2": sousa_dl2_loop,
    "sousa_dl2_np": sousa_dl2_np_loop,
    "native": native_loop,
    "native_dl2": native_dl2_loop,
}


def main(argv: list[str]) -> None:
    kind, root, split, limit = argv[0], Path(argv[1]), argv[2], int(argv[3])
    run = LOOPS[kind](root, split)
    start = time.perf_counter()
    arrays = run()
    if limit > 0:
        arrays = islice(arrays, limit)
    samples = 0
    for array in arrays:
        if (array if isinstance(array, int) else len(array)) == 0:
            raise SystemExit(f"{kind}: empty audio at sample {samples}")
        samples += 1
    seconds = time.perf_counter() - start
    print(json.dumps({"samples": samples, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])
