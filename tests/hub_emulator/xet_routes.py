"""HTTP handlers of the emulator's Xet endpoints: the Hub's ``xet-{read,write}-token`` (auth.md)
and the CAS API (api.md) on top of :class:`xet_cas.XetCas`. Mixed into the emulator's
request handler, so server.py only routes to them."""

from __future__ import annotations

import json
import re

from .xet_cas import CasError, XetCas


class XetRoutes:
    """Request handlers mixed into the emulator's HTTP handler (needs its ``emu``, ``headers``,
    ``query``, ``_read_body``, ``_json``, ``_send``, ``_drain`` and ``_readable_repo``)."""

    def route_xet(self, method: str, segs: list[str]):
        """``(kind, handler, args)`` for a path under ``/xet-cas/``, or ``None``."""
        table = {
            ("POST", "v1", "xorbs", "default"): ("xet-xorb", self.xet_post_xorb),
            ("GET", "v1", "chunks", "default"): ("xet-dedup", self.xet_dedup),  # what hf_xet asks
        }
        if len(segs) == 4 and (method, *segs[:3]) in table:
            kind, fn = table[(method, *segs[:3])]
            return kind, fn, (segs[3],)
        if method == "POST" and segs == ["v2", "shards"]:  # what hf_xet sends
            return "xet-shard", self.xet_post_shard, ()
        if method == "GET" and len(segs) == 3 and segs[:2] == ["v2", "reconstructions"]:
            return "xet-reconstruction", self.xet_reconstruction, (segs[2],)
        if method == "GET" and len(segs) == 2 and segs[0] == "xorb-data":
            return "xet-xorb-data", self.xet_xorb_data, (segs[1],)
        return None

    @property
    def cas(self) -> XetCas:
        return self.emu.cas

    def _auth(self, scope: str) -> None:
        if self.cas is None:
            raise CasError(404, "this emulator runs without Xet (--no-xet)")
        self.cas.check_token(self.headers.get("Authorization"), scope)

    # -------------------------------------------------------------- Hub side (auth.md)
    def xet_token(self, repo_type: str, repo_id: str, scope: str, revision: str) -> None:
        """``GET /api/{type}s/{id}/xet-{read,write}-token/{rev}``: the CAS URL and a token, in
        the JSON body (auth.md) and the ``X-Xet-*`` headers (what huggingface_hub reads)."""
        if self.emu.cas is None:
            raise CasError(404, "Xet is disabled on this emulator", "XetDisabled")
        with self.emu._lock:
            if scope == "write":
                self._writable_repo(repo_type, repo_id)
            else:
                repo = self._readable_repo(repo_type, repo_id)
                self.emu._resolve_rev(repo, revision)
        grant = self.emu.cas.issue_token(scope)
        headers = {
            "X-Xet-Cas-Url": grant["casUrl"],
            "X-Xet-Access-Token": grant["accessToken"],
            "X-Xet-Token-Expiration": str(grant["exp"]),
        }
        self._json(grant, 200, headers)

    # -------------------------------------------------------------- CAS API (api.md)
    def xet_post_xorb(self, name: str) -> None:
        self._auth("write")
        body = self._read_body()
        inserted = self.cas.put_xorb(name, body)
        with self.emu._lock:
            self.emu.stats.bytes_uploaded_xorb += len(body)
            self.emu.stats.xorb_uploads.append(name)
        self._json({"was_inserted": inserted})

    def xet_dedup(self, name: str) -> None:
        """Global dedup query: a shard naming the xorb that holds the chunk, or 404."""
        self._auth("read")
        answer = self.cas.dedup_answer(name)
        if answer is None:
            raise CasError(404, "chunk not tracked by global deduplication")
        self._send(200, answer, None, "application/octet-stream")

    def xet_post_shard(self) -> None:
        """``POST /v2/shards``: verified, then answered as NDJSON progress events."""
        self._auth("write")
        body = self._read_body()
        with self.emu._lock:
            self.emu.stats.bytes_uploaded_shard += len(body)
        self.cas.put_shard(body)  # XetFormatError -> 400 before any answer is sent
        events = [{"type": "validating", "verified": 1, "total": 1}]
        events.append({"type": "result", "result": 1})
        data = "".join(json.dumps(e) + "\n" for e in events).encode()
        self._send(200, data, {"Cache-Control": "no-cache"}, "application/x-ndjson")

    def xet_reconstruction(self, name: str) -> None:
        self._auth("read")
        self._json(self.cas.reconstruction(name, self.headers.get("Range")))

    def xet_xorb_data(self, name: str) -> None:
        """The "transfer service": xorb bytes for the ``Range`` the URL was signed for."""
        signed = self.query.get("X-Xet-Signed-Range", "")
        rng = self.headers.get("Range", "")
        if not signed or rng.replace(" ", "") != signed:
            raise CasError(403, f"Range {rng!r} is not the signed range {signed!r}")
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", signed)
        path = self.cas.xorb_dir / name
        if m is None or not path.exists():
            raise CasError(404, f"xorb {name} not found")
        lo, hi = int(m.group(1)), int(m.group(2))
        total = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(lo)
            data = fh.read(hi - lo + 1)
        with self.emu._lock:
            self.emu.stats.bytes_served_xet += len(data)
        headers = {"Content-Range": f"bytes {lo}-{lo + len(data) - 1}/{total}"}
        self._send(206, data, headers, "application/octet-stream")
