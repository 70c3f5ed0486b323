"""Emulator rules no push test reaches (stale ``parentCommit``, tokens), checked through the real
``huggingface_hub`` client, and the standalone ``python -m tests.hub_emulator``; every other rule
is exercised by the push tests (tests/test_push*.py, test_selective.py, test_card.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from tests.hub_emulator import LFS_THRESHOLD, guard_network, point_clients_at

REPO = "user/tiny"
BIG = LFS_THRESHOLD + 1024 * 1024  # above the Hub's inline limit -> LFS


@pytest.fixture
def folder(tmp_path):
    """A local folder with a small text file and a > 10 MB binary file."""
    root = tmp_path / "upload"
    (root / "data").mkdir(parents=True)
    (root / "notes.txt").write_text("hello hub\n")
    (root / "data" / "big.bin").write_bytes(os.urandom(BIG))
    return root


def _upload(api: HfApi, folder):
    return api.upload_folder(repo_id=REPO, repo_type="dataset", folder_path=folder)


def test_a_commit_on_a_stale_parent_commit_is_refused_with_412(hub):
    """``parentCommit`` must be the branch's head (no push test commits on a stale parent)."""
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")

    def commit(op, parent=None):
        kw = {"repo_type": "dataset", "commit_message": "c", "parent_commit": parent}
        return api.create_commit(REPO, operations=[op], **kw)

    c1 = commit(CommitOperationAdd("a.txt", b"a"))
    c2 = commit(CommitOperationDelete("a.txt"), parent=c1.oid)
    assert set(hub.repo_files(REPO)) == {".gitattributes"}
    assert set(hub.repo_files(REPO, revision=c1.oid)) == {".gitattributes", "a.txt"}
    with pytest.raises(HfHubHTTPError) as err:
        commit(CommitOperationAdd("c.txt", b"c"), parent=c1.oid)
    assert err.value.response.status_code == 412
    assert hub.head(REPO) == c2.oid


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
