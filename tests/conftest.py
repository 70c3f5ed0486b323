"""Shared fixtures: real SOUSA-shaped source folders and real staging folders in tmp_path."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

import sousa.write.beside
import sousa.write.pipeline
from sousa.card.figures import render_figures
from sousa.demo import write_demo
from sousa.write.pipeline import PackageOptions, package_dataset

from .helpers import SMALL_SHARD, TRAIN_SHARDS

_FIGURES: dict[bytes, dict[str, tuple[bytes, str]]] = {}


def _render_once(stats):
    """`render_figures`, each distinct statistics drawn once per test process."""
    key = pickle.dumps(stats)
    if key not in _FIGURES:
        _FIGURES[key] = render_figures(stats)
    return _FIGURES[key]


@pytest.fixture(autouse=True)
def figures_drawn_once(request, monkeypatch):
    """The card's figures are a pure function of the label statistics (test_card_stats.py
    shows it, where every packaging draws them): elsewhere the packager draws each distinct
    statistics once per test process and reuses the same PNG bytes, as drawing again would
    give, in the packager's thread (not in a `FigureProcess`, whose drawings would not come
    back to the cache). Packagers run in a child process draw as always."""
    if request.module.__name__.rsplit(".", 1)[-1] != "test_card_stats":
        monkeypatch.setattr(sousa.write.beside, "render_figures", _render_once)
        monkeypatch.setattr(sousa.write.pipeline, "FigureProcess", lambda: None)


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


@pytest.fixture(scope="session")
def training_staging(demo_template, tmp_path_factory) -> Path:
    """The demo packaged so that train has TRAIN_SHARDS audio shards (read-only for tests):
    one shard by size, rounded up to the multiple (every split that has the samples for it
    gets TRAIN_SHARDS shards of each kind)."""
    out = tmp_path_factory.mktemp("training") / "hf_staging"
    options = PackageOptions(source=demo_template, out=out, shard_multiple=TRAIN_SHARDS)
    package_dataset(options)
    return out


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
    """torch's DataLoader and torchdata's StatefulDataLoader must import, or the test skips
    (fails with SOUSA_REQUIRE_NATIVE_AUDIO=1, as CI installs both with the native-audio extra)."""
    import os

    try:
        import torch.utils.data  # noqa: F401
        import torchdata.stateful_dataloader  # noqa: F401
    except Exception as e:
        reason = f"DataLoader tests need torch and torchdata (make test-native): {e}"
        if os.environ.get("SOUSA_REQUIRE_NATIVE_AUDIO") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


UPLOAD_PATHS = ("xet", "lfs")


def pytest_generate_tests(metafunc):
    """A Hub test marked ``lfs_too`` runs once per upload path; every other one runs on Xet."""
    if "hub" in metafunc.fixturenames and metafunc.definition.get_closest_marker("lfs_too"):
        metafunc.parametrize("hub", UPLOAD_PATHS, indirect=True)


@pytest.fixture
def hub(request, tmp_path_factory, monkeypatch):
    """A Hub emulator on loopback with huggingface_hub and datasets pointed at it (write token
    ``hf_test_write`` in ``HF_TOKEN``, fresh caches, non-loopback DNS refused). Uploads go
    through ``xet`` (the default every user gets: hf_xet talks to the emulator's CAS); a test
    marked ``@pytest.mark.lfs_too`` also runs on ``lfs`` (``HF_HUB_DISABLE_XET=1``, the legacy
    LFS path): the smoke subset (round trip, resume, verify). ``hub.xet`` says which."""
    from .hub_emulator import emulated_hub

    path = getattr(request, "param", "xet")
    home = tmp_path_factory.mktemp("hf_home")
    with emulated_hub(monkeypatch, home, xet=path == "xet") as emulator:
        yield emulator
