"""The archiver tests of the seed plan (the design this project grew from; README "The seed
plan"), tasks 1-6: ShardInfo and create_sharded_archives, import path changed.

Deliberate differences from the seed, each tested below: a missing file is an error (the seed
logged and skipped it), and shards are written without tarfile's 10 KiB record padding.
"""

import tarfile

import pytest

from sousa.errors import InputError
from sousa.seed_api import ShardInfo, create_sharded_archives


class TestShardInfo:
    """Tests for ShardInfo dataclass."""

    def test_shard_info_locates_its_file(self, tmp_path):
        """ShardInfo (the seed's shard_name and filename, plus offset and size) names the shard
        and member holding a file, and the file's byte range in that shard."""
        files = {"a.flac": b"A" * 700, "b.flac": b"B" * 10}
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
        result = create_sharded_archives(tmp_path, tmp_path / "out", {"train": list(files)}, 2048)
        assert result["a.flac"].shard_name != result["b.flac"].shard_name  # 2048 B: one each
        for name, data in files.items():
            info = result[name]
            assert isinstance(info, ShardInfo) and info.filename == name
            shard = tmp_path / "out" / info.shard_name
            with tarfile.open(shard) as tar:
                assert tar.extractfile(info.filename).read() == data
            assert shard.read_bytes()[info.offset : info.offset + info.size] == data
        seed_style = ShardInfo(shard_name="train-00001.tar", filename="sample_001.flac")
        assert (seed_style.offset, seed_style.size) == (-1, -1), "the seed's keywords: no range"


class TestCreateShardedArchives:
    """Tests for create_sharded_archives function."""

    def test_creates_single_shard_for_small_files(self, tmp_path):
        """Small files all go into one shard."""
        src_dir = tmp_path / "audio"
        src_dir.mkdir()
        for i in range(3):
            (src_dir / f"sample_{i:03d}.flac").write_bytes(b"x" * 100)
        out_dir = tmp_path / "output"
        out_dir.mkdir()
        filenames_by_split = {"train": [f"sample_{i:03d}.flac" for i in range(3)]}

        result = create_sharded_archives(
            source_dir=src_dir,
            output_dir=out_dir,
            filenames_by_split=filenames_by_split,
            target_shard_size_bytes=10000,
            extension="flac",
        )

        assert (out_dir / "train-00000.tar").exists()
        assert not (out_dir / "train-00001.tar").exists()
        for i in range(3):
            filename = f"sample_{i:03d}.flac"
            assert filename in result
            assert result[filename].shard_name == "train-00000.tar"
            assert result[filename].filename == filename

    def test_creates_multiple_shards_when_size_exceeded(self, tmp_path):
        """Files are split across shards when target size exceeded."""
        src_dir = tmp_path / "audio"
        src_dir.mkdir()
        for i in range(5):
            (src_dir / f"sample_{i:03d}.flac").write_bytes(b"x" * 100)
        out_dir = tmp_path / "output"
        out_dir.mkdir()
        filenames_by_split = {"train": [f"sample_{i:03d}.flac" for i in range(5)]}

        result = create_sharded_archives(
            source_dir=src_dir,
            output_dir=out_dir,
            filenames_by_split=filenames_by_split,
            target_shard_size_bytes=250,
            extension="flac",
        )

        shards = list(out_dir.glob("train-*.tar"))
        assert len(shards) >= 2, f"Expected multiple shards, got {len(shards)}"
        assert len(result) == 5

    def test_separate_shards_per_split(self, tmp_path):
        """Each split gets its own shard files."""
        src_dir = tmp_path / "audio"
        src_dir.mkdir()
        for i in range(3):
            (src_dir / f"train_{i:03d}.flac").write_bytes(b"x" * 100)
            (src_dir / f"val_{i:03d}.flac").write_bytes(b"x" * 100)
        out_dir = tmp_path / "output"
        out_dir.mkdir()
        filenames_by_split = {
            "train": [f"train_{i:03d}.flac" for i in range(3)],
            "validation": [f"val_{i:03d}.flac" for i in range(3)],
        }

        result = create_sharded_archives(
            source_dir=src_dir,
            output_dir=out_dir,
            filenames_by_split=filenames_by_split,
            target_shard_size_bytes=10000,
            extension="flac",
        )

        assert (out_dir / "train-00000.tar").exists()
        assert (out_dir / "validation-00000.tar").exists()
        assert result["train_000.flac"].shard_name == "train-00000.tar"
        assert result["val_000.flac"].shard_name == "validation-00000.tar"

    def test_tar_contains_correct_files(self, tmp_path):
        """TAR archives contain the source files with correct content."""
        src_dir = tmp_path / "audio"
        src_dir.mkdir()
        (src_dir / "a.flac").write_bytes(b"content_a")
        (src_dir / "b.flac").write_bytes(b"content_b")
        out_dir = tmp_path / "output"
        out_dir.mkdir()

        create_sharded_archives(
            source_dir=src_dir,
            output_dir=out_dir,
            filenames_by_split={"train": ["a.flac", "b.flac"]},
            target_shard_size_bytes=10000,
            extension="flac",
        )

        with tarfile.open(out_dir / "train-00000.tar") as tar:
            names = tar.getnames()
            assert "a.flac" in names
            assert "b.flac" in names
            assert tar.extractfile("a.flac").read() == b"content_a"

    def test_offsets_point_at_the_file_bytes(self, tmp_path):
        """Beyond the seed: ShardInfo carries the byte range of the member's data."""
        (tmp_path / "a.flac").write_bytes(b"A" * 700)
        (tmp_path / "b.flac").write_bytes(b"content_b")
        result = create_sharded_archives(
            tmp_path, tmp_path / "out", {"train": ["a.flac", "b.flac"]}, 10000, "flac"
        )
        data = (tmp_path / "out" / "train-00000.tar").read_bytes()
        info = result["b.flac"]
        assert (info.offset, info.size) == (512 + 1024 + 512, 9)
        assert data[info.offset : info.offset + info.size] == b"content_b"
        assert len(data) == 512 + 1024 + 512 + 512 + 1024, "no 10 KiB record padding"

    def test_a_missing_file_is_an_error_not_a_warning(self, tmp_path):
        """Differs from the seed (which skipped it): a shard map must not silently lack files."""
        (tmp_path / "a.flac").write_bytes(b"a")
        with pytest.raises(InputError, match="1 flac file"):
            create_sharded_archives(
                tmp_path, tmp_path / "out", {"train": ["a.flac", "gone.flac"]}, 10000, "flac"
            )
        assert not (tmp_path / "out").exists()


def test_archiver_exported_from_the_seed_api_module(tmp_path):
    """`sousa.seed_api` exports the working archiver (the seed imported it from
    `dataset_gen.hub`): its `create_sharded_archives` writes a shard and returns its
    `ShardInfo`s."""
    from sousa import seed_api

    assert {"ShardInfo", "create_sharded_archives"} <= set(seed_api.__all__)
    (tmp_path / "a.flac").write_bytes(b"a")
    result = seed_api.create_sharded_archives(tmp_path, tmp_path / "out", {"test": ["a.flac"]})
    assert result == {"a.flac": seed_api.ShardInfo("test-00000.tar", "a.flac", 512, 1)}
    with tarfile.open(tmp_path / "out" / "test-00000.tar") as tar:
        assert tar.getnames() == ["a.flac"]


@pytest.mark.parametrize(
    ("name", "size"),
    [("a.flac", 0), ("x" * 100, 123_456_789), ("p001_ab-c.json", 511), ("é.mid", 8 * 1024**3 - 1)],
)
def test_our_tar_headers_equal_the_standard_librarys(name, size):
    """The fast header builder writes exactly what tarfile would for such a member."""
    from sousa.tar_format import tar_header_bytes

    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = size, 0, 0o644, 0, 0
    info.uname = info.gname = ""
    assert tar_header_bytes(name, size) == info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")
