"""The emulator's Xet CAS checks what the real ``hf_xet`` client sends against the Xet spec.

The client names every xorb and file by a hash it computed (xet-core, Rust); the emulator
recomputes them from the bytes with its own reading of hub-docs ``docs/xet`` (tests/xet_format.py).
Agreement on real uploads (raw, LZ4 and byte-grouped chunks) is the check of both; tampered
uploads must be refused with HTTP 400 and leave nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import urllib.request
from urllib.error import HTTPError

import numpy as np
import pytest
from huggingface_hub import HfApi

from tests.hub_emulator.xet_format import (
    XetFormatError,
    bg4_ungroup,
    decompress,
    file_hash,
    hash_hex,
    hex_hash,
    merkle_root,
    parse_xorb,
)

REPO = "user/xet"


@pytest.fixture
def folder(tmp_path):
    """Random bytes (stored raw), text (LZ4) and a float32 random walk (byte grouping + LZ4)."""
    rng = np.random.default_rng(7)
    root = tmp_path / "up"
    root.mkdir()
    (root / "rand.bin").write_bytes(rng.bytes(300_000))
    text = "".join(f"row {i}: value={i * 7 % 13}, label=paradiddle\n" for i in range(20_000))
    (root / "text.bin").write_bytes(text.encode())
    (root / "floats.bin").write_bytes(np.cumsum(rng.normal(size=200_000)).astype("<f4").tobytes())
    return root


@pytest.fixture
def pushed(hub, folder):
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    api.upload_folder(repo_id=REPO, repo_type="dataset", folder_path=folder)
    return hub


def _call(method: str, url: str, token: str | None, body: bytes | None = None, headers=None):
    """(status, body) of one plain HTTP request (no client library between us and the CAS)."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read()
    except HTTPError as e:
        return e.code, e.read()


def _xet_token(hub, scope: str = "write", hub_token: str = "hf_test_write") -> tuple[int, dict]:
    url = f"{hub.endpoint}/api/datasets/{REPO}/xet-{scope}-token/main"
    status, body = _call("GET", url, hub_token)
    return status, json.loads(body)


def _xorbs(hub) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in hub.cas.xorb_dir.iterdir() if "." not in p.name}


def test_real_uploads_agree_with_the_spec_hashes_and_formats(pushed, folder):
    """Xorb names = merkle hash of their chunks; xetHash = file hash of the terms' chunks;
    LFS sha256 = sha256 of the reconstructed bytes; all three compression schemes seen."""
    hub = pushed
    schemes = set()
    for name, body in _xorbs(hub).items():
        chunks = parse_xorb(body)  # no expected hash: recompute, then compare to the client's
        assert hash_hex(merkle_root([(c.hash, c.size) for c in chunks])) == name
        schemes |= {c.scheme for c in chunks}
    assert schemes == {0, 1, 2}, "raw, LZ4 and ByteGrouping4LZ4 chunks all exercised"
    files = hub.repo_files(REPO)
    for path in ("rand.bin", "text.bin", "floats.bin"):
        local = (folder / path).read_bytes()
        entry = files[path]
        assert entry["lfs"] and entry["sha256"] == hashlib.sha256(local).hexdigest()
        terms = hub.cas.files[hex_hash(entry["xet_hash"])].terms
        leaves = [(c.hash, c.size) for t in terms for c in hub.cas.xorbs[t.xorb][t.start : t.end]]
        assert hash_hex(file_hash(leaves)) == entry["xet_hash"]
        data = b"".join(b"".join(hub.cas.read_chunks(t.xorb, t.start, t.end)) for t in terms)
        assert data == local
    tree = HfApi().list_repo_tree(REPO, repo_type="dataset")
    assert {e.path: e.xet_hash for e in tree if e.path.endswith(".bin")} == {
        p: files[p]["xet_hash"] for p in ("rand.bin", "text.bin", "floats.bin")
    }


def _flip(body: bytes, at: int) -> bytes:
    return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]


def test_a_tampered_xorb_is_refused_with_400_and_not_stored(pushed):
    hub = pushed
    _, grant = _xet_token(hub)
    token, cas = grant["accessToken"], grant["casUrl"]
    stored = _xorbs(hub)
    name, body = max(stored.items(), key=lambda kv: len({c.scheme for c in parse_xorb(kv[1])}))
    chunks = parse_xorb(body)
    raw = next(c for c in chunks if c.scheme == 0)
    packed = next(c for c in chunks if c.scheme != 0)
    other = hash_hex(hashlib.sha256(b"another xorb").digest())
    cases = {
        "raw chunk byte": (name, _flip(body, raw.start + 8 + 100)),
        "compressed chunk byte": (name, _flip(body, packed.end - 5)),
        "chunk header size": (name, _flip(body, raw.start + 5)),
        "truncated": (name, body[: packed.start + 20]),
        "trailing bytes": (name, body + bytes(8)),
        "wrong name": (other, body),
    }
    for what, (key, data) in cases.items():
        status, answer = _call("POST", f"{cas}/v1/xorbs/default/{key}", token, data)
        assert status == 400, (what, status, answer)
    assert _xorbs(hub) == stored, "a refused xorb was stored"
    status, answer = _call("POST", f"{cas}/v1/xorbs/default/{name}", token, body)
    assert (status, json.loads(answer)) == (200, {"was_inserted": False})


def _first_file_offsets(shard: bytes) -> dict[str, int]:
    """Byte offsets of the first file's fields in a shard upload (shard.md layout)."""
    (n,) = struct.unpack_from("<I", shard, 48 + 36)
    entries = 48 + 48
    return {
        "file hash": 48,
        "term xorb": entries,
        "term size": entries + 36,
        "verification": entries + 48 * n,
        "sha256": entries + 96 * n,
    }


def test_a_tampered_shard_is_refused_with_400_and_registers_nothing(pushed):
    hub = pushed
    _, grant = _xet_token(hub)
    token, url = grant["accessToken"], grant["casUrl"] + "/v2/shards"
    shard = max(hub.cas.shards, key=len)
    at = _first_file_offsets(shard)
    known = dict(hub.cas.files)
    cases = {what: _flip(shard, off + 3) for what, off in at.items()}
    cases["header tag"] = _flip(shard, 0)
    cases["footer size"] = shard[:40] + struct.pack("<Q", 200) + shard[48:]
    cases["trailing bytes"] = shard + bytes(200)
    for what, data in cases.items():
        status, answer = _call("POST", url, token, data)
        assert status == 400, (what, status, answer)
        assert hub.cas.files == known, f"{what}: a refused shard registered a file"
    assert _call("POST", url, token, shard)[0] == 200


def test_reconstruction_ranges_follow_the_download_protocol(pushed, folder):
    """Plays download-protocol.md by hand: reconstruction with a Range, one ranged GET per
    signed URL, chunks decoded, ``offset_into_first_range`` skipped, the tail truncated."""
    hub = pushed
    _, grant = _xet_token(hub, "read")
    token, cas = grant["accessToken"], grant["casUrl"]
    data = (folder / "text.bin").read_bytes()
    file_id = hub.repo_files(REPO)["text.bin"]["xet_hash"]
    for first, last in [(70_001, 400_000), (5, 9), (0, len(data) - 1)]:
        rng = {"Range": f"bytes={first}-{last}"}
        status, body = _call("GET", f"{cas}/v2/reconstructions/{file_id}", token, None, rng)
        assert status == 200
        plan = json.loads(body)
        got = b"".join(_fetch_term(term, plan) for term in plan["terms"])
        skip = plan["offset_into_first_range"]
        assert got[skip : skip + last - first + 1] == data[first : last + 1]
        assert (skip == 0) == (first == 0) and skip < 128 * 1024
    status, _ = _call("GET", f"{cas}/v2/reconstructions/{file_id}", token, None,
                      {"Range": f"bytes={len(data)}-"})  # fmt: skip
    assert status == 416
    url = json.loads(_call("GET", f"{cas}/v2/reconstructions/{file_id}", token)[1])["xorbs"]
    first_url = next(iter(url.values()))[0]["url"]
    assert _call("GET", first_url, None, None, {"Range": "bytes=0-1"})[0] == 403  # not signed


def _fetch_term(term: dict, plan: dict) -> bytes:
    """The decoded bytes of one term, fetched from the URL that covers its chunks."""
    a, b = term["range"]["start"], term["range"]["end"]
    fetch = [(f["url"], r["bytes"], r["chunks"])
             for f in plan["xorbs"][term["hash"]] for r in f["ranges"]]  # fmt: skip
    url, span, chunks = next(f for f in fetch if f[2]["start"] <= a and b <= f[2]["end"])
    status, raw = _call("GET", url, None, None, {"Range": f"bytes={span['start']}-{span['end']}"})
    assert status == 206 and len(raw) == span["end"] - span["start"] + 1
    out, pos = [], 0
    for index in range(chunks["start"], chunks["end"]):
        csize = int.from_bytes(raw[pos + 1 : pos + 4], "little")
        if a <= index < b:
            out.append(decompress(raw[pos + 4], raw[pos + 8 : pos + 8 + csize]))
        pos += 8 + csize
    decoded = b"".join(out)
    assert len(decoded) == term["unpacked_length"]
    return decoded


def test_xet_tokens_are_scoped(pushed):
    hub = pushed
    hub.tokens["hf_test_read"] = "read"
    status, _ = _xet_token(hub, "write", hub_token="hf_test_read")
    assert status == 403
    status, grant = _xet_token(hub, "read", hub_token="hf_test_read")
    assert status == 200 and grant["casUrl"] == hub.cas.url
    name, body = next(iter(_xorbs(hub).items()))
    url = f"{grant['casUrl']}/v1/xorbs/default/{name}"
    assert _call("POST", url, grant["accessToken"], body)[0] == 403  # read scope cannot write
    assert _call("POST", url, None, body)[0] == 401
    assert _call("POST", url, "xet_bogus", body)[0] == 401


def test_a_client_with_an_empty_cache_dedups_through_the_global_dedup_api(pushed, folder, tmp_path):
    """Another machine uploading the same files (here: a fresh process and cache, to another
    repo) learns from ``/v1/chunks/…`` which xorbs exist and sends none of them again."""
    hub = pushed
    HfApi().create_repo("user/copy", repo_type="dataset")
    hub.reset_stats()
    code = (
        "from huggingface_hub import HfApi; HfApi().upload_folder("
        f"repo_id='user/copy', repo_type='dataset', folder_path={str(folder)!r})"
    )
    env = hub.client_env(tmp_path / "other_machine")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    answered = [e for e in hub.stats.log if "/v1/chunks/" in e[1] and e[2] == 200]
    assert answered, "the fresh client asked the global dedup API and got a shard"
    assert hub.stats.xorb_uploads == [] and hub.stats.bytes_uploaded_xorb == 0
    assert hub.stats.bytes_uploaded_shard > 0
    copy, original = hub.repo_files("user/copy"), hub.repo_files(REPO)
    assert {p: copy[p]["xet_hash"] for p in copy} == {p: original[p]["xet_hash"] for p in copy}


def test_hash_strings_follow_the_api_md_example():
    """api.md: each 8-byte group printed as a little-endian u64."""
    want = "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert hash_hex(bytes(range(32))) == want
    assert hex_hash(want) == bytes(range(32))
    with pytest.raises(XetFormatError):
        hex_hash(want.upper())


@pytest.mark.parametrize("n", [64, 65, 66, 67])
def test_byte_grouping_is_undone_as_xorb_md_defines_it(n):
    data = bytes(np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8))
    grouped = b"".join(data[k::4] for k in range(4))  # bytes 1..4 of every group; rest to 1-3
    assert bg4_ungroup(grouped) == data


def test_lz4_frames_with_overlapping_matches_decode():
    """'abc' then a 9-byte match at distance 3 (overlapping copy), then 5 literals."""
    block = b"\x35abc\x03\x00" + b"\x50tail!"
    frame = b"\x04\x22\x4d\x18\x60\x40\x82" + struct.pack("<I", len(block)) + block + bytes(4)
    assert decompress(1, frame) == b"abcabcabcabctail!"
    with pytest.raises(XetFormatError):
        decompress(1, frame[:-6])  # truncated block
    with pytest.raises(XetFormatError):
        decompress(1, frame.replace(b"\x03\x00", b"\x09\x00"))  # match before the output start
