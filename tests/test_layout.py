"""The one definition of the staging format, and the builder's pinned copy of it."""

from __future__ import annotations

import ast
import json
import tarfile
from importlib import resources
from pathlib import Path

import pytest
from sousa_builder.sousa import SousaDataError

import sousa.layout as layout
from sousa.errors import InputError
from sousa.layout import layout_block
from sousa.loading import load


def test_the_builder_holds_a_byte_identical_copy_of_the_layout_block():
    builder = resources.files("sousa_builder").joinpath("sousa.py").read_text(encoding="utf-8")
    module = Path(layout.__file__).read_text(encoding="utf-8")
    assert layout_block(builder) == layout_block(module)


def test_the_layout_block_needs_only_the_standard_library():
    block = layout_block(Path(layout.__file__).read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(ast.parse(block)) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == []  # the copy in builder/sousa.py relies on the file's stdlib imports


def test_members_of_a_sample_per_kind_are_sorted_and_adjacent():
    audio = [name for name, _ in layout.sample_members("audio", "k", has_midi=True)]
    midi = [name for name, _ in layout.sample_members("midi", "k", has_midi=True)]
    assert audio == ["k.flac", "k.json", "k.mid"] == sorted(audio)
    assert midi == ["k.json", "k.mid"]
    assert [p for _, p in layout.sample_members("audio", "k", has_midi=False)] == [
        "audio",
        "labels",
    ]


def test_every_shard_member_is_named_as_the_layout_says(staging):
    tables = {s: staging / layout.split_table_path(s) for s in layout.SPLITS}
    assert all(path.is_file() for path in tables.values())
    for kind in layout.MEDIA_KINDS:
        for tar_path in sorted((staging / kind).glob("*.tar")):
            with tarfile.open(tar_path) as tar:
                names = tar.getnames()
            keys = list(dict.fromkeys(layout.member_key(n) for n in names))
            expected = []
            for key in keys:
                has_midi = f"{key}.mid" in names
                expected += [n for n, _ in layout.sample_members(kind, key, has_midi)]
            assert names == expected, tar_path


@pytest.fixture
def future_staging(staging, tmp_path) -> Path:
    """A copy of the demo staging folder whose manifest claims a version we do not know."""
    import shutil

    copy = Path(shutil.copytree(staging, tmp_path / "future"))
    manifest = json.loads((copy / layout.MANIFEST_PATH).read_text())
    manifest["version"] = layout.FORMAT_VERSION + 1
    (copy / layout.MANIFEST_PATH).write_text(json.dumps(manifest))
    return copy


def test_readers_refuse_a_manifest_version_they_do_not_know_naming_both(future_staging):
    found, known = f"version {layout.FORMAT_VERSION + 1}", f"version {layout.FORMAT_VERSION}"
    with pytest.raises(SousaDataError) as builder_error:
        load(future_staging, split="test")
    assert found in str(builder_error.value) and known in str(builder_error.value)
    # the packager's own reader (used by --push) refuses it the same way
    from sousa.staging import read_manifest

    with pytest.raises(InputError) as staging_error:
        read_manifest(future_staging)
    assert found in str(staging_error.value) and known in str(staging_error.value)
