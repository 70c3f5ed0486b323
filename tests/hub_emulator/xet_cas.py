"""The Xet CAS server of the Hub emulator (hub-docs ``docs/xet/api.md``, ``auth.md``,
``download-protocol.md``), verifying uploads against the spec (xet_format.py, xet_shard.py).

The real ``hf_xet`` client gets a short-lived token from the Hub (``xet-{read,write}-token``),
POSTs xorbs (``/v1/xorbs/default/{hash}``: chunks recomputed, xorb hash checked) and a shard
(``/v2/shards``: every term, verification hash, file hash and
sha256 checked against the stored xorbs), then downloads through reconstructions
(``/v2/reconstructions/{file}``) and ranged GETs of xorb bytes on signed URLs.
Anything that disagrees is refused with HTTP 400 before it is stored.

A verified file is also written out whole into the emulator's sha256-addressed blob store, so the
Hub side (commits naming it by sha256, ``resolve`` with HTTP Range) needs nothing new. The HTTP
handlers are in xet_routes.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .xet_format import (
    XetFormatError,
    XorbChunk,
    decompress,
    file_hash,
    hash_hex,
    hex_hash,
    parse_xorb,
    verification_hash,
)
from .xet_shard import Shard, ShardFile, Term, dedup_shard, parse_shard_upload

TOKEN_TTL = 3600  # seconds


class CasError(Exception):
    """An HTTP error answer of the CAS (``status``, ``message``; ``code`` for the Hub's style)."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(frozen=True)
class XetFile:
    terms: tuple[Term, ...]
    size: int
    sha256: str


class XetCas:
    """Xorbs (on disk, with their parsed chunk index) and the files registered by shards."""

    def __init__(self, root: Path, blob_dir: Path, base_url: str):
        self.xorb_dir = root / "xorbs"
        self.xorb_dir.mkdir(parents=True, exist_ok=True)
        self.blob_dir = blob_dir
        self.url = f"{base_url}/xet-cas"
        self.xorbs: dict[bytes, list[XorbChunk]] = {}
        self.files: dict[bytes, XetFile] = {}
        self.by_sha256: dict[str, str] = {}  # sha256 hex -> file hash (api string form)
        self.tokens: dict[str, tuple[str, int]] = {}  # access token -> (scope, expiry)
        self.shards: list[bytes] = []  # accepted shard uploads, as sent (small: metadata only)
        self.dedup: dict[bytes, bytes] = {}  # global-dedup-eligible chunk hash -> its xorb
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ auth (auth.md)
    def issue_token(self, scope: str) -> dict:
        token, exp = f"xet_{uuid.uuid4().hex}", int(time.time()) + TOKEN_TTL
        with self._lock:
            self.tokens[token] = (scope, exp)
        return {"accessToken": token, "exp": exp, "casUrl": self.url}

    def check_token(self, authorization: str | None, scope: str) -> None:
        token = (authorization or "").removeprefix("Bearer ").strip()
        granted = self.tokens.get(token)
        if granted is None or granted[1] < time.time():
            raise CasError(401, "missing, unknown or expired Xet access token")
        if scope == "write" and granted[0] != "write":
            raise CasError(403, "this Xet token has read scope; the API needs write")

    # ------------------------------------------------------------------ uploads
    def put_xorb(self, name: str, body: bytes) -> bool:
        """Store a xorb after recomputing its chunks and hash; ``False`` if already stored."""
        want = hex_hash(name)
        chunks = parse_xorb(body, want)  # checked even when stored: a bad body is a 400
        with self._lock:
            if want in self.xorbs:
                return False
        path = self.xorb_dir / name
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        with self._lock:
            self.xorbs[want] = chunks
        return True

    def put_shard(self, body: bytes) -> list[str]:
        """Verify a shard against the stored xorbs, then register its files (written whole into
        the blob store by sha256). Returns the sha256 of each file. Nothing is registered unless
        everything checks out."""
        shard = parse_shard_upload(body)
        self._check_xorb_listing(shard)
        files = [(f, self._check_file(f)) for f in shard.files]
        out = []
        for f, size in files:
            sha = self._materialise(f)
            with self._lock:
                self.files[f.file_hash] = XetFile(tuple(f.terms), size, sha)
                self.by_sha256[sha] = hash_hex(f.file_hash)
                self._index_for_dedup(f)
            out.append(sha)
        with self._lock:
            self.shards.append(body)
        return out

    def _index_for_dedup(self, f: ShardFile) -> None:
        """Chunks the global dedup API answers for, as xet-core picks them: each file's first
        chunk and every chunk whose hash's last u64 is 0 mod 1024."""
        for k, term in enumerate(f.terms):
            for i, c in enumerate(self.xorbs[term.xorb][term.start : term.end]):
                if (k == 0 and i == 0) or int.from_bytes(c.hash[24:], "little") % 1024 == 0:
                    self.dedup[c.hash] = term.xorb

    def dedup_answer(self, name: str) -> bytes | None:
        """The shard describing the xorb that holds chunk ``name``, or None (api.md §2)."""
        xorb = self.dedup.get(hex_hash(name))
        if xorb is None:
            return None
        chunks = [(c.hash, c.size) for c in self.xorbs[xorb]]
        on_disk = (self.xorb_dir / hash_hex(xorb)).stat().st_size
        return dedup_shard(xorb, chunks, on_disk, int(time.time()) + 7 * 86400)

    def _chunks(self, xorb: bytes) -> list[XorbChunk]:
        chunks = self.xorbs.get(xorb)
        if chunks is None:
            raise XetFormatError(f"shard references xorb {hash_hex(xorb)}, never uploaded")
        return chunks

    def _check_xorb_listing(self, shard: Shard) -> None:
        for x in shard.xorbs:
            chunks = self._chunks(x.xorb)
            offsets = [sum(c.size for c in chunks[:k]) for k in range(len(chunks))]
            # chunk_byte_range_start is the chunk's offset in the *unpacked* xorb (xet-core);
            # hf_xet leaves num_bytes_on_disk at 0, so only a non-zero value is checked
            listed = [(c.hash, off, c.size) for c, off in zip(chunks, offsets)]
            on_disk = (self.xorb_dir / hash_hex(x.xorb)).stat().st_size
            sizes = sum(c.size for c in chunks)
            if x.chunks != listed or x.bytes_in_cas != sizes or x.bytes_on_disk not in (0, on_disk):
                raise XetFormatError(f"shard: CAS info of xorb {hash_hex(x.xorb)} disagrees")

    def _check_file(self, f: ShardFile) -> int:
        """Terms in range, term sizes, verification hashes, file hash; returns the file size."""
        name = hash_hex(f.file_hash)
        if f.verification is None or f.sha256 is None:
            raise XetFormatError(f"shard: file {name} lacks verification entries or sha256")
        leaves = []
        for term, range_hash in zip(f.terms, f.verification):
            chunks = self._chunks(term.xorb)
            if term.end > len(chunks):
                raise XetFormatError(f"shard: file {name}: chunk range past the xorb's end")
            used = chunks[term.start : term.end]
            if sum(c.size for c in used) != term.unpacked:
                raise XetFormatError(f"shard: file {name}: term size disagrees with its chunks")
            if verification_hash([c.hash for c in used]) != range_hash:
                raise XetFormatError(f"shard: file {name}: term verification hash mismatch")
            leaves += [(c.hash, c.size) for c in used]
        if file_hash(leaves) != f.file_hash:
            raise XetFormatError(f"shard: file hash {name} is not the hash of its chunks")
        return sum(size for _, size in leaves)

    def _materialise(self, f: ShardFile) -> str:
        tmp = self.blob_dir / f"xet.{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for term in f.terms:
                for data in self.read_chunks(term.xorb, term.start, term.end):
                    digest.update(data)
                    out.write(data)
        # the sha256 is stored like every Xet hash: 4 little-endian u64s (so hash_hex gives the
        # usual hex digest), not as the digest's raw bytes; that is what hf_xet writes
        if hash_hex(f.sha256) != digest.hexdigest():
            tmp.unlink()
            raise XetFormatError(f"shard: sha256 of file {hash_hex(f.file_hash)} disagrees")
        os.replace(tmp, self.blob_dir / digest.hexdigest())
        return digest.hexdigest()

    def read_chunks(self, xorb: bytes, start: int, end: int):
        """Yield the decoded chunks ``[start, end)`` of a stored xorb."""
        chunks = self.xorbs[xorb][start:end]
        with open(self.xorb_dir / hash_hex(xorb), "rb") as fh:
            fh.seek(chunks[0].start)
            for c in chunks:
                raw = fh.read(c.end - c.start)
                yield decompress(c.scheme, raw[8:])

    # ------------------------------------------------------------------ downloads
    def reconstruction(self, name: str, rng: str | None) -> dict:
        """``QueryReconstructionResponse`` v2 (``xorbs``; hf_xet asks v2 first) for the whole file
        or the chunks covering ``Range: bytes=a-b``; one signed URL per xorb byte range."""
        f = self.files.get(hex_hash(name))
        if f is None:
            raise CasError(404, f"file {name} not found")
        first, last = _parse_range(rng, f.size)
        terms, fetch, offset, pos = [], {}, None, 0
        for t in f.terms:
            chunks = self.xorbs[t.xorb]
            keep = []
            for k in range(t.start, t.end):
                size = chunks[k].size
                if pos + size > first and pos <= last:
                    keep.append(k)
                    offset = first - pos if offset is None else offset
                pos += size
            if keep:
                a, b = keep[0], keep[-1] + 1
                xname = hash_hex(t.xorb)
                unpacked = sum(c.size for c in chunks[a:b])
                terms.append({"hash": xname, "unpacked_length": unpacked,
                              "range": {"start": a, "end": b}})  # fmt: skip
                span = (a, b, chunks[a].start, chunks[b - 1].end - 1)
                if span not in fetch.setdefault(xname, []):
                    fetch[xname].append(span)
        out: dict = {"offset_into_first_range": offset or 0, "terms": terms}
        out["xorbs"] = {x: [self._fetch(x, *s) for s in spans] for x, spans in fetch.items()}
        return out

    def _url(self, xorb: str, lo: int, hi: int) -> str:
        return f"{self.url}/xorb-data/{xorb}?X-Xet-Signed-Range={quote(f'bytes={lo}-{hi}')}"

    def _fetch(self, xorb: str, a: int, b: int, lo: int, hi: int) -> dict:
        ranges = [{"chunks": {"start": a, "end": b}, "bytes": {"start": lo, "end": hi}}]
        return {"url": self._url(xorb, lo, hi), "ranges": ranges}


def _parse_range(rng: str | None, size: int) -> tuple[int, int]:
    """Inclusive ``(first, last)`` byte of a ``bytes=a-b`` header (whole file if absent)."""
    if not rng:
        return 0, size - 1
    m = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", rng)
    if not m:
        raise CasError(400, f"bad Range {rng!r}")
    first = int(m.group(1))
    if first >= size:
        raise CasError(416, f"range start {first} is past the file's end ({size} bytes)")
    return first, min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
