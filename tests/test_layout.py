"""The one definition of the staging format: each fact written and read back by the same code."""

from __future__ import annotations

import ast
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

import sousa.layout as layout
from sousa.errors import InputError
from sousa.layout import FileDigest, Manifest, ManifestError
from sousa.read.builder import SousaDataError
from sousa.read.loading import load
from sousa.staged import read_manifest
from sousa.tar_format import (
    BLOCK,
    END_OF_ARCHIVE,
    TarHeaderError,
    member_span,
    parse_tar_header,
    tar_header_bytes,
)
from sousa.write.staging import write_manifest

REPO = Path(__file__).resolve().parents[1]

# -- member naming ---------------------------------------------------------------------------


def test_members_of_a_sample_per_kind_are_sorted_and_adjacent():
    audio = [name for name, _ in layout.sample_members("audio", "k", has_midi=True)]
    midi = [name for name, _ in layout.sample_members("midi", "k", has_midi=True)]
    assert audio == ["k.flac", "k.json", "k.mid"] == sorted(audio)
    assert midi == ["k.json", "k.mid"]
    assert [p for _, p in layout.sample_members("audio", "k", has_midi=False)] == [
        "audio",
        "labels",
    ]


@pytest.mark.parametrize("key", ["p001_roll_120bpm_kit_clean", "é-ü", "a" * 95])
@pytest.mark.parametrize("kind", layout.MEDIA_KINDS)
@pytest.mark.parametrize("has_midi", [True, False])
def test_a_member_name_reads_back_to_its_key_and_part(key, kind, has_midi):
    for name, part in layout.sample_members(kind, key, has_midi):
        assert layout.member_key_and_part(name) == (key, part)
        assert layout.member_key(name) == key


def test_a_member_key_ends_at_the_first_dot_as_webdataset_groups_members():
    assert layout.member_key("a.b.flac") == "a"  # webdataset and datasets: key "a"
    with pytest.raises(ValueError, match="'a.b.flac' is not a sample member"):
        layout.member_key_and_part("a.b.flac")  # extension "b.flac" is none of ours


@pytest.mark.parametrize("name", ["k.txt", "k", ".flac", "__k.json", "k.FLAC"])
def test_a_name_that_is_no_sample_member_is_refused_naming_it(name):
    with pytest.raises(ValueError, match=f"member {name!r} is not a sample member"):
        layout.member_key_and_part(name)


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
            assert {layout.member_key_and_part(n)[1] for n in names} <= {"audio", "labels", "midi"}


# -- the TAR dialect ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "size"),
    [("a.flac", 0), ("x" * 100, 123_456_789), ("p001_ab-c.json", 511), ("é.mid", 8 * 1024**3 - 1)],
)
def test_a_tar_header_parses_back_to_its_name_and_size(name, size):
    header = tar_header_bytes(name, size)
    assert len(header) == BLOCK
    assert parse_tar_header(header) == (name, size)
    info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")  # the stdlib agrees
    assert (info.name, info.size, info.isfile()) == (name, size, True)


def test_a_shard_parses_member_by_member_with_the_dialects_spans(staging):
    """Walk a real shard with `parse_tar_header` and `member_span` alone: every member
    tarfile lists, at the offset the split table records, then the end of archive."""
    shard = sorted((staging / "audio").glob("*.tar"))[0]
    data = shard.read_bytes()
    with tarfile.open(shard) as tar:
        expected = [(m.name, m.size, m.offset_data) for m in tar.getmembers()]
    found, pos = [], 0
    while data[pos : pos + BLOCK] != bytes(BLOCK):
        name, size = parse_tar_header(data[pos : pos + BLOCK])
        found.append((name, size, pos + BLOCK))
        pos += member_span(size)
    assert found == expected
    assert len(data) == pos + END_OF_ARCHIVE and data[pos:] == bytes(END_OF_ARCHIVE)


def test_a_damaged_header_or_another_entry_type_is_no_member():
    header = bytearray(tar_header_bytes("k.flac", 1000))
    for damage in (3, 125, 150):  # in the name, the size, the checksum
        broken = bytearray(header)
        broken[damage] ^= 0x01
        with pytest.raises(TarHeaderError, match="no TAR header"):
            parse_tar_header(bytes(broken))
    with pytest.raises(TarHeaderError, match="no TAR header"):
        parse_tar_header(bytes(BLOCK))  # the end-of-archive blocks
    info = tarfile.TarInfo("k")
    info.type = tarfile.DIRTYPE
    with pytest.raises(TarHeaderError, match="unexpected TAR entry 'k/?' \\(not a file\\)"):
        parse_tar_header(info.tobuf(tarfile.USTAR_FORMAT))
    with pytest.raises(ValueError, match="over 100 bytes"):
        tar_header_bytes("x" * 101, 1)


def test_a_tar_written_by_tarfile_parses_as_well():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("key.json")
        info.size = 1234
        tar.addfile(info, io.BytesIO(bytes(1234)))
    assert parse_tar_header(buf.getvalue()[:BLOCK]) == ("key.json", 1234)


# -- the manifest ------------------------------------------------------------------------------


def a_manifest() -> Manifest:
    files = {"data/train-00000-of-00001.parquet": FileDigest(10, "ab" * 32)}
    files["audio/train-00000.tar"] = FileDigest(2**40, "cd" * 32)
    return Manifest(files, "f" * 64, order="sorted", seed=2**64 - 1)


def test_the_manifest_reads_back_exactly_what_it_writes(staging, tmp_path):
    manifest = a_manifest()
    assert Manifest.from_json(manifest.to_json()) == manifest
    staged = read_manifest(staging)
    assert staged.to_json() == (staging / layout.MANIFEST_PATH).read_bytes()  # same bytes
    on_disk = {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
    local = {layout.MANIFEST_PATH, layout.LOCK_PATH, layout.STAMPS_PATH}
    assert set(staged.files) == on_disk - local
    write_manifest(tmp_path, manifest.files, manifest.source_fingerprint, "sorted", 2**64 - 1)
    assert read_manifest(tmp_path) == manifest


def test_the_manifests_json_is_the_documented_one():
    found = json.loads(a_manifest().to_json())
    assert list(found) == ["format", "version", "source_fingerprint", "order", "seed", "files"]
    assert (found["format"], found["version"]) == (layout.FORMAT, layout.FORMAT_VERSION)
    assert list(found["files"]) == sorted(found["files"])
    assert found["files"]["audio/train-00000.tar"] == {"size": 2**40, "sha256": "cd" * 32}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(version=layout.FORMAT_VERSION + 1), "version 2; this code reads"),
        (lambda m: m.update(version=str(layout.FORMAT_VERSION)), "version '1'; this code reads"),
        (lambda m: m.update(format="other"), "format 'other' version 1; this code reads"),
        (lambda m: m.pop("files"), "not a sousa staging manifest"),
        (lambda m: m["files"].update(x={"size": -1, "sha256": "0"}), "malformed entry for 'x'"),
        (lambda m: m["files"].update(x={"size": True, "sha256": "0"}), "malformed entry for 'x'"),
        (lambda m: m["files"].update(x={"size": 1}), "malformed entry for 'x'"),
        (lambda m: m.update(order="random"), "malformed order 'random'"),
        (lambda m: m.update(seed=-1), "malformed order .* or seed -1"),
    ],
)
def test_a_manifest_of_another_format_version_or_shape_is_refused(change, message):
    found = json.loads(a_manifest().to_json())
    change(found)
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(json.dumps(found))


def test_a_manifest_without_order_and_seed_reads_as_not_recorded():
    found = json.loads(a_manifest().to_json())
    del found["order"], found["seed"]
    manifest = Manifest.from_json(json.dumps(found))
    assert (manifest.order, manifest.seed) == (None, None)
    assert manifest.files == a_manifest().files


@pytest.fixture
def future_staging(staging, tmp_path) -> Path:
    """A copy of the demo staging folder whose manifest claims a version we do not know."""
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
    with pytest.raises(InputError) as staging_error:
        read_manifest(future_staging)
    assert found in str(staging_error.value) and known in str(staging_error.value)


def test_an_unreadable_manifest_is_refused_naming_the_file(staging, tmp_path):
    copy = Path(shutil.copytree(staging, tmp_path / "broken"))
    (copy / layout.MANIFEST_PATH).write_bytes(b'{"format": "sousa-st')
    with pytest.raises(InputError, match=f"{copy / layout.MANIFEST_PATH}: unreadable"):
        read_manifest(copy)
    with pytest.raises(SousaDataError, match=f"{layout.MANIFEST_PATH}: unreadable"):
        load(copy, split="test")


# -- one definition ----------------------------------------------------------------------------


def top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def test_no_other_module_defines_a_name_of_the_format_again():
    """A format fact is defined once: no module of the package, the tests or the benchmarks
    defines (rather than imports) a top-level name that layout.py or tar_format.py defines."""
    format_names = top_level_names(REPO / "sousa/layout.py") | top_level_names(
        REPO / "sousa/tar_format.py"
    )
    format_names -= {"__all__"}
    redefined = {
        path.relative_to(REPO).as_posix(): sorted(top_level_names(path) & format_names)
        for folder in ("sousa", "tests", "benchmarks")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name not in ("layout.py", "tar_format.py") or path.parent.name != "sousa"
        if "work" not in path.relative_to(REPO / folder).parts  # benchmarks' generated folders
    }
    assert {path: names for path, names in redefined.items() if names} == {}
