"""Shared fixtures: real SOUSA-shaped source folders and real staging folders in tmp_path."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sousa.demo import write_demo
from sousa.pipeline import PackageOptions, package_dataset, plan_package

SMALL_SHARD = 1_000_000  # bytes: several shards per split for the 40-sample demo


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """One demo source folder per session (40 samples, 1 s each); copy it before changing it."""
    return write_demo(tmp_path_factory.mktemp("demo") / "src", n_samples=40, seconds=1.0)


@pytest.fixture
def source(demo_template, tmp_path) -> Path:
    """A private copy of the demo source folder that a test may change."""
    return Path(shutil.copytree(demo_template, tmp_path / "src"))


@pytest.fixture(scope="session")
def staging(demo_template, tmp_path_factory) -> Path:
    """The demo packaged once per session with small shards (read-only for tests)."""
    out = tmp_path_factory.mktemp("staging") / "hf_staging"
    package_dataset(PackageOptions(source=demo_template, out=out, shard_size=SMALL_SHARD))
    return out


TRAIN_SHARDS = 8  # audio shards of `training_staging`'s train split: divides by 2 and 4


def shard_size_for(source: Path, kind: str, split: str, count: int) -> int:
    """A shard size that gives `split` exactly `count` shards of `kind`, found on the plan
    (cheap: no byte is written). Training tests need shard counts that divide by the number
    of workers and ranks; this stands in until the packer can round shard counts itself."""
    prefix = f"{kind}/{split}-"
    total = sum(
        s.size for s in plan_package(PackageOptions(source))[1].shards if s.path.startswith(prefix)
    )
    for step in range(200):
        size = int(total / count * (0.8 + step * 0.005))
        shards = plan_package(PackageOptions(source, shard_size=size))[1].shards
        if sum(s.path.startswith(prefix) for s in shards) == count:
            return size
    raise AssertionError(f"no shard size gives {count} {kind} shards for {split}")


@pytest.fixture(scope="session")
def training_staging(demo_template, tmp_path_factory) -> Path:
    """The demo packaged so that train has TRAIN_SHARDS audio shards (read-only for tests)."""
    size = shard_size_for(demo_template, "audio", "train", TRAIN_SHARDS)
    out = tmp_path_factory.mktemp("training") / "hf_staging"
    package_dataset(PackageOptions(source=demo_template, out=out, shard_size=size))
    return out


def split_rows(staging: Path, split: str) -> list[dict]:
    """The rows of a staging folder's split table."""
    return pq.read_table(staging / f"data/{split}-00000-of-00001.parquet").to_pylist()


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root (and its mtime), to prove a folder was not touched."""
    digests = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            data = hashlib.sha256(path.read_bytes()).hexdigest()
            digests[path.relative_to(root).as_posix()] = f"{data}:{st.st_mtime_ns}"
    return digests


def source_rows(source: Path) -> dict[str, dict]:
    """The source's labels/samples.parquet rows by sample_id (with their media paths)."""
    samples = pq.read_table(source / "labels" / "samples.parquet").to_pylist()
    return {r["sample_id"]: r for r in samples}


def rewrite_samples(root: Path, change) -> None:
    """Apply `change(dict_of_columns) -> dict_of_columns` to labels/samples.parquet."""
    path = root / "labels" / "samples.parquet"
    table = pq.read_table(path)
    columns = change(table.to_pydict())
    pq.write_table(pa.table(columns, schema=table.schema), path)


def big_sparse_first_sample(source: Path, size: int = 128 * 2**20) -> Path:
    """Point the first sample's audio at a big sparse file (sorts last in train): packaging it
    takes long enough to kill the packager mid-shard. Delete it after the test."""
    big = source / "audio" / "zz_big.flac"
    with open(big, "wb") as f:
        f.truncate(size)

    def point(columns):
        columns["audio_path"][0] = "audio/zz_big.flac"
        return columns

    rewrite_samples(source, point)
    return big


def write_flac(path: Path, seconds: float = 0.1, seed: int = 0, rate: int = 44_100) -> Path:
    """A real FLAC file of noise, written with soundfile."""
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * rate))
    sf.write(path, noise, rate, format="FLAC", subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def native_audio() -> None:
    """The `datasets` Audio decoder (torchcodec + torch + FFmpeg) must work, or the test skips.

    With SOUSA_REQUIRE_NATIVE_AUDIO=1 (CI) a missing decoder fails instead of skipping, so CI
    can never pass with the native audio tests silently skipped.
    """
    import os

    try:
        import torchcodec.decoders  # noqa: F401
    except Exception as e:  # ImportError, or OSError/RuntimeError when FFmpeg's libs are missing
        reason = f"native audio needs torch + torchcodec + FFmpeg (make test-native): {e}"
        if os.environ.get("SOUSA_REQUIRE_NATIVE_AUDIO") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def torch_dataloader() -> None:
    """torch's DataLoader must import, or the test skips (fails with SOUSA_REQUIRE_NATIVE_AUDIO=1,
    as CI installs torch with the native-audio extra)."""
    import os

    try:
        import torch.utils.data  # noqa: F401
    except Exception as e:
        reason = f"DataLoader tests need torch (make test-native): {e}"
        if os.environ.get("SOUSA_REQUIRE_NATIVE_AUDIO") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(params=["xet", "lfs"])
def hub(request, tmp_path_factory, monkeypatch):
    """A Hub emulator on loopback with huggingface_hub and datasets pointed at it (write token
    ``hf_test_write`` in ``HF_TOKEN``, fresh caches, non-loopback DNS refused), in both upload
    modes: ``xet`` (the default every user gets: hf_xet talks to the emulator's CAS) and ``lfs``
    (``HF_HUB_DISABLE_XET=1``, the legacy LFS path). ``hub.xet`` says which."""
    from .hub_emulator import emulated_hub

    home = tmp_path_factory.mktemp("hf_home")
    with emulated_hub(monkeypatch, home, xet=request.param == "xet") as emulator:
        yield emulator
