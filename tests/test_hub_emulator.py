"""The Hub emulator works with the real ``huggingface_hub`` / ``datasets`` clients."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    hf_hub_download,
)
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from tests.hub_emulator import LFS_THRESHOLD, guard_network, point_clients_at

REPO = "user/tiny"
BIG = LFS_THRESHOLD + 1024 * 1024  # above the Hub's inline limit -> LFS


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def folder(tmp_path):
    """A local folder with a small text file and a > 10 MB binary file."""
    root = tmp_path / "upload"
    (root / "data").mkdir(parents=True)
    (root / "notes.txt").write_text("hello hub\n")
    (root / "data" / "big.bin").write_bytes(os.urandom(BIG))
    return root


def _object_bytes(hub) -> int:
    """Bytes of large-file content sent: LFS PUTs (legacy mode) or Xet xorbs (Xet mode)."""
    return hub.stats.bytes_uploaded_lfs + hub.stats.bytes_uploaded_xorb


def _upload(api: HfApi, folder, **kwargs):
    return api.upload_folder(repo_id=REPO, repo_type="dataset", folder_path=folder, **kwargs)


@pytest.mark.lfs_too
def test_upload_folder_lists_files_with_sizes_and_lfs_sha256(hub, folder):
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset", private=True, exist_ok=True)
    api.create_repo(REPO, repo_type="dataset", private=True, exist_ok=True)  # idempotent
    _upload(api, folder)

    big = (folder / "data" / "big.bin").read_bytes()
    assert sorted(api.list_repo_files(REPO, repo_type="dataset")) == [
        ".gitattributes",
        "data/big.bin",
        "notes.txt",
    ]
    info = api.repo_info(REPO, repo_type="dataset", files_metadata=True)
    sib = {s.rfilename: s for s in info.siblings}
    assert sib["notes.txt"].size == 10 and sib["notes.txt"].lfs is None
    assert sib["data/big.bin"].size == BIG
    assert sib["data/big.bin"].lfs.sha256 == _sha256(big)
    tree = {
        e.path: e
        for e in api.list_repo_tree(REPO, repo_type="dataset", recursive=True, expand=True)
    }
    assert tree["data/big.bin"].lfs.sha256 == _sha256(big)
    assert tree["data/big.bin"].last_commit.oid == info.sha
    assert type(tree["data"]).__name__ == "RepoFolder"
    paths = api.get_paths_info(REPO, ["notes.txt", "data", "missing"], repo_type="dataset")
    assert [p.path for p in paths] == ["notes.txt", "data"]
    assert api.file_exists(REPO, "data/big.bin", repo_type="dataset")
    assert not api.file_exists(REPO, "nope.bin", repo_type="dataset")
    # server side really holds the bytes
    assert hub.read_file(REPO, "data/big.bin") == big
    if hub.xet:  # random bytes: stored uncompressed, plus 8-byte chunk headers and a footer
        assert hub.stats.bytes_uploaded_lfs == 0
        assert BIG < hub.stats.bytes_uploaded_xorb < BIG * 1.01
        xet_hash = hub.cas.by_sha256[_sha256(big)]
        assert tree["data/big.bin"].xet_hash == xet_hash and tree["notes.txt"].xet_hash is None
    else:
        assert hub.stats.bytes_uploaded_lfs == BIG and hub.stats.bytes_uploaded_xorb == 0
        assert tree["data/big.bin"].xet_hash is None
    assert hub.stats.bytes_uploaded_inline == 10
    assert {op["path"] for op in hub.stats.commits[-1]["operations"]} == {
        "notes.txt",
        "data/big.bin",
    }


@pytest.mark.lfs_too
def test_hf_hub_download_round_trips_regular_and_lfs_files(hub, folder):
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    _upload(api, folder)
    for name in ("notes.txt", "data/big.bin"):
        local = hf_hub_download(REPO, name, repo_type="dataset")
        assert Path(local).read_bytes() == (folder / name).read_bytes()
    served = hub.stats.bytes_served
    if hub.xet:  # the big file came through a reconstruction + xorb range fetches
        assert served == 10 and hub.stats.bytes_served_xet >= BIG
        assert hub.stats.requests["GET xet-reconstruction"] == 1
    else:
        assert served == 10 + BIG and hub.stats.bytes_served_xet == 0
    hf_hub_download(REPO, "data/big.bin", repo_type="dataset")  # cached: only a HEAD
    assert hub.stats.bytes_served == served


@pytest.mark.lfs_too
def test_second_identical_upload_folder_sends_no_file_content(hub, folder):
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    first = _upload(api, folder)
    hub.reset_stats()
    second = _upload(api, folder)
    # Xet mode: hf_xet learns each file's sha256 by chunking it, registers it again in a shard
    # of a few hundred bytes (its chunks are known: no xorb), then drops the unchanged files
    assert _object_bytes(hub) == 0 and hub.stats.bytes_uploaded_inline == 0
    assert hub.stats.bytes_uploaded_shard < (1000 if hub.xet else 1)
    assert hub.stats.commits == []  # nothing changed -> client skips the commit entirely
    assert second.oid == first.oid


def test_changed_regular_file_is_resent_inline_but_unchanged_lfs_file_is_not(hub, folder):
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    _upload(api, folder)
    hub.reset_stats()
    (folder / "notes.txt").write_text("hello again hub\n")
    _upload(api, folder)
    assert hub.stats.bytes_uploaded_inline == 16
    assert _object_bytes(hub) == 0
    assert [op["path"] for op in hub.stats.commits[0]["operations"]] == ["notes.txt"]


@pytest.mark.lfs_too
def test_failed_commit_then_rerun_does_not_resend_uploaded_lfs_objects(hub, folder):
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    status = 422 if hub.xet else 500  # the Xet upload pipeline retries a 5xx commit itself
    hub.fail_commit(1, status)
    with pytest.raises(HfHubHTTPError) as err:
        _upload(api, folder)
    assert err.value.response.status_code == status
    assert set(hub.repo_files(REPO)) == {".gitattributes"}  # nothing applied
    assert _object_bytes(hub) >= BIG  # the object made it before the commit failed

    hub.reset_stats()
    _upload(api, folder)
    assert _object_bytes(hub) == 0  # LFS batch API said "already there" / Xet dedup
    assert hub.stats.lfs_uploads == [] and hub.stats.xorb_uploads == []
    assert set(hub.repo_files(REPO)) == {".gitattributes", "notes.txt", "data/big.bin"}


def test_create_commit_delete_branch_parent_commit_and_pr(hub):
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    c1 = api.create_commit(
        REPO,
        repo_type="dataset",
        commit_message="add",
        operations=[
            CommitOperationAdd("a.txt", b"a"),
            CommitOperationAdd("dir/b.txt", b"b"),
        ],
    )
    c2 = api.create_commit(
        REPO,
        repo_type="dataset",
        commit_message="delete",
        operations=[CommitOperationDelete("a.txt")],
        parent_commit=c1.oid,
    )
    assert c2.oid != c1.oid
    assert set(hub.repo_files(REPO)) == {".gitattributes", "dir/b.txt"}
    assert set(hub.repo_files(REPO, revision=c1.oid)) == {".gitattributes", "a.txt", "dir/b.txt"}
    with pytest.raises(HfHubHTTPError):  # stale parent
        api.create_commit(
            REPO,
            repo_type="dataset",
            commit_message="stale",
            operations=[CommitOperationAdd("c.txt", b"c")],
            parent_commit=c1.oid,
        )
    api.create_branch(REPO, repo_type="dataset", branch="dev")
    api.create_commit(
        REPO,
        repo_type="dataset",
        commit_message="on dev",
        revision="dev",
        operations=[CommitOperationAdd("dev.txt", b"d")],
    )
    assert "dev.txt" in hub.repo_files(REPO, revision="dev")
    assert "dev.txt" not in hub.repo_files(REPO)
    pr = api.create_commit(
        REPO,
        repo_type="dataset",
        commit_message="pr",
        create_pr=True,
        operations=[CommitOperationAdd("pr.txt", b"p")],
    )
    assert pr.pr_revision == "refs/pr/1"
    assert "pr.txt" in api.list_repo_files(REPO, repo_type="dataset", revision="refs/pr/1")
    assert "pr.txt" not in hub.repo_files(REPO)
    api.delete_folder("dir", repo_id=REPO, repo_type="dataset")
    assert set(hub.repo_files(REPO)) == {".gitattributes"}


def test_hffilesystem_range_read_transfers_only_the_range(hub, folder):
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    _upload(api, folder)
    big = (folder / "data" / "big.bin").read_bytes()
    fs = HfFileSystem()
    hub.reset_stats()
    path = f"datasets/{REPO}/data/big.bin"
    # NB: HfFileSystem's default read-ahead cache fetches block_size (5 MB) past the range;
    # cache_type="none" makes cat_file fetch exactly [start, end).
    assert fs.cat_file(path, start=1000, end=1100, cache_type="none") == big[1000:1100]
    assert hub.stats.bytes_served == 100
    assert hub.stats.log[-1][3] == "bytes=1000-1099"
    with fs.open(f"hf://datasets/{REPO}/data/big.bin", "rb", block_size=4096) as fh:
        fh.seek(5_000_000)
        assert fh.read(10) == big[5_000_000:5_000_010]
    assert hub.stats.bytes_served < 100 + 3 * 4096
    assert fs.info(f"datasets/{REPO}/data/big.bin")["size"] == BIG
    assert fs.glob(f"datasets/{REPO}/data/*.bin") == [f"datasets/{REPO}/data/big.bin"]
    assert f"datasets/{REPO}/notes.txt" in fs.ls(f"datasets/{REPO}", detail=False)


def test_missing_or_invalid_token_is_rejected_with_401_and_read_token_cannot_commit(hub):
    hub.tokens["hf_test_read"] = "read"
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset", private=True)
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(token="hf_bogus").whoami()
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(token=False).create_repo("user/other", repo_type="dataset")
    assert err.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError):  # private repo, anonymous
        HfApi(token=False).repo_info(REPO, repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(token="hf_bogus").list_repo_files(REPO, repo_type="dataset")
    assert err.value.response.status_code == 401
    reader = HfApi(token="hf_test_read")
    assert reader.whoami()["name"] == "user"
    assert reader.list_repo_files(REPO, repo_type="dataset") == [".gitattributes"]
    with pytest.raises(HfHubHTTPError) as err:
        reader.upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=REPO, repo_type="dataset"
        )
    assert err.value.response.status_code == 403


def _tar_shard(path, samples):
    with tarfile.open(path, "w") as tar:
        for key, meta, payload in samples:
            for ext, data in (("json", json.dumps(meta).encode()), ("bin", payload)):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_load_dataset_streaming_reads_webdataset_shards(hub, tmp_path):
    import datasets

    root = tmp_path / "wds"
    (root / "audio").mkdir(parents=True)
    samples = [(f"k{i}", {"idx": i, "name": f"n{i}"}, bytes([i]) * (i + 1)) for i in range(5)]
    _tar_shard(root / "audio" / "train-00000.tar", samples[:3])
    _tar_shard(root / "audio" / "train-00001.tar", samples[3:])
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        '  - split: train\n    path: "audio/train-*.tar"\n---\n# tiny\n'
    )
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    api.upload_folder(repo_id=REPO, repo_type="dataset", folder_path=root)

    ds = datasets.load_dataset(REPO, split="train", streaming=True)
    rows = sorted(ds, key=lambda r: r["json"]["idx"])
    assert [r["__key__"] for r in rows] == [s[0] for s in samples]
    assert [r["bin"] for r in rows] == [s[2] for s in samples]
    assert rows[2]["json"] == {"idx": 2, "name": "n2"}
    assert hub.blocked_hosts == []


def test_subprocess_client_configured_by_client_env_reaches_the_emulator(hub, tmp_path):
    HfApi().create_repo(REPO, repo_type="dataset")
    code = (
        "from huggingface_hub import HfApi; api = HfApi();"
        "api.upload_file(path_or_fileobj=b'sub', path_in_repo='sub.txt',"
        f" repo_id={REPO!r}, repo_type='dataset'); print(api.whoami()['name'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=hub.client_env(tmp_path / "sub_home"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "user"
    assert hub.read_file(REPO, "sub.txt") == b"sub"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("xet", [True, False], ids=["xet", "lfs"])
def test_standalone_emulator_serves_a_push_until_terminated(xet, folder, tmp_path, monkeypatch):
    port = _free_port()
    cmd = [sys.executable, "-m", "tests.hub_emulator", "--port", str(port), "--token", "hf_cli"]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [*cmd, *([] if xet else ["--no-xet"])], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == f"ready http://127.0.0.1:{port}\n"
        point_clients_at(f"http://127.0.0.1:{port}", tmp_path / "home", "hf_cli", monkeypatch, xet)
        guard_network(monkeypatch, [])
        api = HfApi()
        assert api.whoami()["name"] == "user"
        api.create_repo(REPO, repo_type="dataset")
        _upload(api, folder)
        [big] = list(api.list_repo_tree(REPO, "data", repo_type="dataset"))
        assert (big.xet_hash is not None) == xet
        local = hf_hub_download(REPO, "data/big.bin", repo_type="dataset")
        assert Path(local).read_bytes() == (folder / "data" / "big.bin").read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass
