"""The Hub side of the emulator: repo state (commits, refs, sha256-addressed blobs on disk), the
Hub API and legacy LFS routes, fault injection, and the ``emulated_hub`` fixture helper. What it
emulates, and the source of each rule, is listed in the package docstring (__init__.py)."""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import functools
import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .clients import UNSET_ENV, client_env_vars, guard_network, point_clients_at
from .hub_card_rules import card_errors, front_matter
from .hub_pulls import NO_DISCUSSIONS, conflicts, merge, pulls_refused
from .xet_cas import CasError, XetCas
from .xet_format import XetFormatError
from .xet_routes import XetRoutes

LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub refuses inline ("regular") files above 10 MB
_CHUNK = 1024 * 1024
_DATE = "%Y-%m-%dT%H:%M:%S.000Z"

_LFS_PATTERNS = (
    "*.7z *.arrow *.bin *.bz2 *.ckpt *.gz *.h5 *.joblib *.lz4 *.model *.msgpack *.npy *.npz "
    "*.onnx *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar *.safetensors *.tar.* *.tar "
    "*.tflite *.tgz *.wasm *.xz *.zip *.zst *tfevents* *.mds *.mp3 *.ogg *.wav *.flac "
    "*.jpg *.jpeg *.png *.webp *.gif *.mp4 *.webm"
)
# what the Hub puts in the initial commit of a new repo (a subset of its real default)
DEFAULT_GITATTRIBUTES = "".join(
    f"{p} filter=lfs diff=lfs merge=lfs -text\n"
    for p in _LFS_PATTERNS.split()  # noqa: SIM905
)


def git_blob_sha1(data: bytes) -> str:
    """Git object id of a blob (what the Hub reports as ``oid`` / ``blobId`` for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    text = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    return text.encode()


@dataclass
class FileEntry:
    sha256: str
    size: int
    lfs: bool
    git_oid: str  # git sha1 of the content (regular) or of the LFS pointer (lfs)
    last_commit: str  # sha of the commit that last changed this file
    xet_hash: str | None = None  # Xet file hash when it was uploaded through the Xet CAS


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, FileEntry]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    refs: dict[str, str] = field(default_factory=dict)  # branch or "refs/pr/N" -> commit sha
    tags: dict[str, str] = field(default_factory=dict)  # tag name -> commit sha (never moves)
    commits: dict[str, Commit] = field(default_factory=dict)
    lfs_oids: set[str] = field(default_factory=set)  # LFS objects uploaded + verified for it
    next_pr: int = 1
    discussions: dict[int, dict] = field(default_factory=dict)  # pull requests, by number
    discussions_disabled: bool = False  # the repo's setting (tests/hub_pulls.py)


@dataclass
class HubStats:
    """Instrumentation. ``requests`` is a Counter keyed by ``"METHOD kind"`` (e.g.
    ``"GET resolve"``, ``"POST commit"``, ``"PUT lfs-upload"``); ``total_requests`` is its sum."""

    requests: Counter = field(default_factory=Counter)
    bytes_served: int = 0  # response body bytes of resolve GETs (file contents)
    bytes_uploaded_lfs: int = 0  # LFS PUT request bodies
    bytes_uploaded_inline: int = 0  # decoded base64 contents of inline ("regular") commit files
    bytes_uploaded_xorb: int = 0  # Xet xorb POST bodies
    bytes_uploaded_shard: int = 0  # Xet shard POST bodies
    bytes_served_xet: int = 0  # xorb bytes sent to Xet downloads (reconstruction fetches)
    xorb_uploads: list[str] = field(default_factory=list)  # hash of each xorb POSTed
    commits: list[dict] = field(default_factory=list)  # successful commits with their operations
    lfs_uploads: list[str] = field(default_factory=list)  # sha256 of each LFS object PUT
    merges: list[dict] = field(default_factory=list)  # merged pull requests (merge commits)
    log: list[tuple] = field(default_factory=list)  # (method, path, status, Range, monotonic time)

    @property
    def bytes_uploaded(self) -> int:
        lfs, xet = self.bytes_uploaded_lfs, self.bytes_uploaded_xorb + self.bytes_uploaded_shard
        return lfs + xet + self.bytes_uploaded_inline

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@dataclass
class Fault:
    """An injected answer (see ``HubEmulator.fail``); ``hits`` counts the requests it answered."""

    method: str
    pattern: re.Pattern
    status: int
    times: int
    headers: dict
    hits: int = 0


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers=None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = dict(headers or {})


def _not_found(kind: str, message: str) -> HubError:
    return HubError(404, message, kind)


class HubEmulator:
    """Hub emulator on 127.0.0.1:<ephemeral port>, served by a background thread.

    ``errors`` lists unexpected emulator exceptions (answered as HTTP 500): should stay empty."""

    def __init__(
        self,
        tokens: dict[str, str] | None = None,
        user: str = "user",
        xet: bool = True,
        port: int = 0,
        orgs: tuple[str, ...] = (),
    ):
        self.tokens = dict(tokens) if tokens is not None else {"hf_test_write": "write"}
        self.user = user
        self.orgs = list(orgs)  # the token user's organisations: its other writable namespaces
        self.lfs_threshold = LFS_THRESHOLD
        self.stats = HubStats()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blocked_hosts: list[str] = []  # filled by the ``hub`` fixture's network guard
        self.errors: list[str] = []
        self.retry_waits: list[float] = []  # what the push's retries waited (emulated_hub)
        self._lock = threading.RLock()
        self._handling = 0  # requests being answered; see wait_idle
        self._idle = threading.Condition(self._lock)
        self._fail_in: int | None = None
        self._fail_commit: dict = {}
        self.faults: list[Fault] = []
        self._commit_counter = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="hub-emulator-")
        self.blob_dir = Path(self._tmp.name) / "blobs"
        self.blob_dir.mkdir()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(self))
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.xet = xet
        self.cas = XetCas(Path(self._tmp.name), self.blob_dir, self.endpoint) if xet else None
        # serve_forever checks for shutdown() every poll_interval: 0.5 s by default, paid by
        # every test on closing
        serve = functools.partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public helpers
    def __enter__(self) -> HubEmulator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._tmp.cleanup()

    def client_env(self, home: Path, token: str | None = "hf_test_write") -> dict[str, str]:
        """Environment for a *subprocess* client (``subprocess.run(..., env=emu.client_env(d))``):
        a fresh process reads these at import time, so no patching is needed there."""
        env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV and k != "HF_TOKEN"}
        env.update(client_env_vars(self.endpoint, Path(home), token, self.xet))
        return env

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every request has been answered and logged: a client may have read a
        whole response (and moved on) before the handler thread records it in ``stats``."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._handling == 0, timeout):
                raise TimeoutError(f"{self._handling} request(s) still being answered")

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = HubStats()

    def fail_commit(
        self,
        nth: int = 1,
        status: int = 500,
        headers: dict | None = None,
        touching: str = "",
        times: int = 1,
    ) -> None:
        """Make the ``nth`` commit request from now, and the ``times - 1`` after it, fail with
        ``status`` (nothing is applied); with ``touching``, count only commits that add or
        delete that path. The Xet upload pipeline retries a 5xx commit itself: a 4xx stops it."""
        with self._lock:
            self._fail_in = nth
            self._fail_commit = {"status": status, "headers": headers, "touching": touching}
            self._fail_commit["times"] = times

    # ------------------------------------------------------------------ fault injection
    def fail(
        self, method: str, path: str, status: int, times: int = 1, headers: dict | None = None
    ) -> Fault:
        """Answer the next ``times`` requests ``METHOD path`` (``path`` a regex searched in the
        URL path) with ``status`` and ``headers`` instead of handling them; ``status=0`` drops
        the connection without an answer (a network failure)."""
        fault = Fault(method, re.compile(path), status, times, dict(headers or {}))
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, method: str, path: str) -> bool:
        """Raise the first matching fault's answer; True if it is a dropped connection."""
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    fault.hits += 1
                    if fault.status == 0:
                        return True
                    message = f"Injected by HubEmulator.fail ({fault.status})"
                    raise HubError(fault.status, message, headers=fault.headers)
        return False

    def _commit_fault(self, paths: list) -> None:
        """The ``fail_commit`` countdown (caller holds the lock)."""
        touching = self._fail_commit.get("touching")
        if self._fail_in is None or (touching and touching not in paths):
            return
        self._fail_in -= 1
        if self._fail_in <= 0:
            self._fail_commit["times"] = self._fail_commit.get("times", 1) - 1
            self._fail_in = 1 if self._fail_commit["times"] > 0 else None
            status, headers = self._fail_commit.get("status", 500), self._fail_commit.get("headers")
            raise HubError(status, "Injected by HubEmulator.fail_commit", headers=headers)

    def repo_files(
        self, repo_id: str, revision: str = "main", repo_type: str = "dataset"
    ) -> dict[str, dict]:
        """``{path: {"size", "sha256", "lfs", "xet_hash", "blob_path"}}`` of the tree at
        ``revision`` (``xet_hash`` is None unless the file went up through the Xet CAS)."""
        with self._lock:
            commit = self._commit_at(self._repo(repo_type, repo_id), revision)
            return {
                p: {"size": e.size, "sha256": e.sha256, "lfs": e.lfs, "xet_hash": e.xet_hash,
                    "blob_path": self._blob(e)}
                for p, e in commit.files.items()
            }  # fmt: skip

    def read_file(self, repo_id: str, path: str, revision: str = "main", repo_type="dataset"):
        return self.repo_files(repo_id, revision, repo_type)[path]["blob_path"].read_bytes()

    def head(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> str:
        with self._lock:
            return self._commit_at(self._repo(repo_type, repo_id), revision).sha

    @staticmethod
    def _now() -> str:
        return time.strftime(_DATE, time.gmtime())

    # ------------------------------------------------------------------ storage
    def _blob(self, entry: FileEntry | str) -> Path:
        sha = entry if isinstance(entry, str) else entry.sha256
        return self.blob_dir / sha

    def _store_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self._blob(sha)
        if not path.exists():
            tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return sha

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise _not_found("RepoNotFound", f"Repository {repo_type}s/{repo_id} not found")
        return repo

    def _resolve_rev(self, repo: Repo, revision: str) -> str:
        """A branch, pull request ref, tag (``v1.0`` or ``refs/tags/v1.0``: a tag is a valid
        ``revision`` wherever the client takes one, ``file_download.py:hf_hub_url``,
        ``hf_api.py:list_repo_tree``) or commit sha (7+ hex digits) -> its commit sha."""
        rev = revision.removeprefix("refs/heads/")
        if rev in repo.refs:
            return repo.refs[rev]
        if (tag := rev.removeprefix("refs/tags/")) in repo.tags:
            return repo.tags[tag]
        if len(rev) >= 7 and re.fullmatch(r"[0-9a-f]+", rev):
            matches = [sha for sha in repo.commits if sha.startswith(rev)]
            if len(matches) == 1:
                return matches[0]
        raise _not_found("RevisionNotFound", f"Invalid rev id: {revision}")

    def _commit_at(self, repo: Repo, revision: str) -> Commit:
        return repo.commits[self._resolve_rev(repo, revision)]

    def _new_commit(self, repo: Repo, parent: str | None, title: str, message: str, files):
        self._commit_counter += 1
        seed = f"{repo.repo_id}|{parent}|{title}|{self._commit_counter}|{uuid.uuid4().hex}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        commit = Commit(sha, parent, title, message, time.strftime(_DATE, time.gmtime()), files)
        repo.commits[sha] = commit
        return commit

    def _entry_for(self, sha256: str, size: int, lfs: bool, commit_sha: str) -> FileEntry:
        if lfs:
            git_oid = git_blob_sha1(lfs_pointer(sha256, size))
        else:
            git_oid = git_blob_sha1(self._blob(sha256).read_bytes())
        xet_hash = self.cas.by_sha256.get(sha256) if (lfs and self.cas) else None
        return FileEntry(sha256, size, lfs, git_oid, commit_sha, xet_hash)

    def _is_lfs_path(self, files: dict[str, FileEntry], path: str) -> bool:
        attrs = files.get(".gitattributes")
        if attrs is None:
            return False
        for line in self._blob(attrs).read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) < 2 or "filter=lfs" not in parts[1:]:
                continue
            target = path if "/" in parts[0] else path.rsplit("/", 1)[-1]
            if fnmatch.fnmatchcase(target, parts[0].replace("**/", "*")):
                return True
        return False

    # ------------------------------------------------------------------ JSON views
    def _repo_url(self, repo: Repo) -> str:
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return f"{self.endpoint}/{prefix}{repo.repo_id}"

    def _file_json(self, path: str, entry: FileEntry) -> dict:
        out = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": path}
        if entry.lfs:
            ptr = len(lfs_pointer(entry.sha256, entry.size))
            out["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": ptr}
        if entry.xet_hash:
            out["xetHash"] = entry.xet_hash
        return out

    @staticmethod
    def _dir_json(commit: Commit, path: str) -> dict:
        oid = hashlib.sha1(f"{commit.sha}:{path}".encode()).hexdigest()
        return {"type": "directory", "oid": oid, "size": 0, "path": path}

    @staticmethod
    def _dirs(files: dict[str, FileEntry]) -> set[str]:
        dirs: set[str] = set()
        for p in files:
            parts = p.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return dirs

    def _info_json(self, repo: Repo, revision: str) -> dict:
        commit = self._commit_at(repo, revision)
        info = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.sha,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            "usedStorage": sum(e.size for e in commit.files.values()),
        }
        card = self._card_data(commit)
        if card is not None:
            info["cardData"] = card
        return info

    def _card_data(self, commit: Commit) -> dict | None:
        entry = commit.files.get("README.md")
        if entry is None:
            return None
        try:
            data = front_matter(self._blob(entry).read_text(errors="replace"))
        except Exception:
            return None
        return data if isinstance(data, dict) else None


# ====================================================================== HTTP layer
def _make_handler(hub: HubEmulator):
    class Handler(_HubHandler):
        emu = hub

    return Handler


_REV = r"(?P<revision>refs/pr/\d+|[^/]+)"  # ``refs/pr/1`` may arrive unquoted
_ID = r"(?P<repo_id>[^/]+/[^/]+)"
_REPO = r"/api/(?P<repo_type>datasets|models|spaces)/" + _ID
_GIT_REPO = r"/(?:(?P<repo_type>datasets|spaces)/)?" + _ID
# (methods, path regex, kind counted in ``stats.requests``, handler); named groups -> kwargs
_ROUTES = [
    ("GET", r"/api/whoami-v2", "whoami", "whoami"),
    ("POST", r"/api/repos/create", "create-repo", "create_repo"),
    ("POST", r"/api/validate-yaml", "validate-yaml", "validate_yaml"),
    ("GET", _REPO + rf"(?:/revision/{_REV})?", "repo-info", "repo_info"),
    ("GET", _REPO + rf"/tree/{_REV}(?:/(?P<path>.*))?", "tree", "tree"),
    ("POST", _REPO + rf"/preupload/{_REV}", "preupload", "preupload"),
    ("POST", _REPO + rf"/commit/{_REV}", "commit", "commit"),
    ("POST", _REPO + r"/branch/(?P<branch>.+)", "branch", "create_branch"),
    ("POST", _REPO + rf"/tag/{_REV}", "tag", "create_tag"),
    ("GET", _REPO + r"/refs", "refs", "list_refs"),
    ("GET", _REPO + rf"/xet-(?P<scope>read|write)-token/{_REV}", "xet-token", "xet_token"),
    ("GET", _REPO + rf"/commits/{_REV}", "commits", "list_commits"),
    ("GET POST", _REPO + r"/discussions(?P<rest>/.*)?", "discussions", "discussions"),
    ("POST", _GIT_REPO + r"\.git/info/lfs/objects/batch", "lfs-batch", "lfs_batch"),
    ("PUT", r"/__lfs/upload/(?P<oid>\w+)", "lfs-upload", "lfs_put"),
    ("POST", r"/__lfs/verify/(?P<repo_type>\w+)/" + _ID, "lfs-verify", "lfs_verify"),
    ("GET HEAD", _GIT_REPO + rf"/resolve/{_REV}/(?P<path>.+)", "resolve", "resolve"),
]
_ROUTES_RE = [(m.split(), re.compile(rx), kind, fn) for m, rx, kind, fn in _ROUTES]


class _HubHandler(XetRoutes, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    emu: HubEmulator

    def log_message(self, format, *args):  # noqa: A002 - silence stderr logging
        pass

    # ------------------------------------------------------------------ plumbing
    def do_GET(self):
        self._dispatch("GET")

    do_HEAD = do_POST = do_PUT = do_GET

    def _dispatch(self, _: str) -> None:
        method, url = self.command, urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._status = 0
        self._body_consumed = False
        with self.emu._lock:
            self.emu._handling += 1
        kind = "unknown"
        try:
            kind, handler, args = self._route(method, unquote(url.path))
            if self.emu._take_fault(method, url.path):
                return self._drop_connection()
            handler(*args)
        except (HubError, CasError) as e:
            self._error(e.status, e.message, e.code, getattr(e, "headers", None))
        except XetFormatError as e:  # an upload that breaks the Xet spec
            self._error(400, str(e), "XetFormatError")
        except Exception as e:  # pragma: no cover - emulator bug: report it as a 500
            self.emu.errors.append(f"{method} {self.path}: {type(e).__name__}: {e}")
            self._error(500, f"Emulator error: {type(e).__name__}: {e}")
        finally:
            with self.emu._lock:
                self.emu.stats.requests[f"{method} {kind}"] += 1
                rng = self.headers.get("Range")
                self.emu.stats.log.append((method, self.path, self._status, rng, time.monotonic()))
                self.emu._handling -= 1
                self.emu._idle.notify_all()

    def _route(self, method: str, path: str):
        """``(kind, handler, args)`` of the first route matching ``method path``, else 404."""
        if path.startswith("/xet-cas/") and (xet := self.route_xet(method, path.split("/")[2:])):
            return xet
        for methods, rx, kind, name in _ROUTES_RE:
            if method in methods and (m := rx.fullmatch(path)):
                kw = m.groupdict()
                if "repo_type" in kw:  # URL plural -> repo type
                    kw["repo_type"] = (kw["repo_type"] or "models").removesuffix("s")
                if kind == "discussions":
                    return _route_discussions(self, method, **kw)
                if kind == "xet-token":
                    kind = f"xet-{kw['scope']}-token"
                return kind, functools.partial(getattr(self, name), **kw), ()
        raise HubError(404, f"Not found: {method} {self.path}")

    def _drop_connection(self) -> None:
        """Close the socket without an answer: the client sees a dropped connection."""
        self._status = 0
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_body(self) -> bytes:
        self._body_consumed = True
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _iter_body(self):
        """Yield the request body in pieces (Content-Length or chunked), without buffering it."""
        self._body_consumed = True
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            piece = self.rfile.read(min(_CHUNK, remaining))
            if not piece:
                break
            remaining -= len(piece)
            yield piece

    def _json_body(self):
        raw = self._read_body()
        return json.loads(raw) if raw else {}

    def _drain(self) -> None:
        if not self._body_consumed:
            for _ in self._iter_body():
                pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype=None):
        self._drain()
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, message: str, code=None, extra: dict | None = None) -> None:
        headers = {"X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        with contextlib.suppress(OSError):  # client went away
            self._json({"error": message}, status, headers)

    # ------------------------------------------------------------------ auth
    def _token_role(self) -> str | None:
        """``None`` if anonymous; raises 401 for an unknown token (like the Hub does)."""
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        token = auth.split(" ", 1)[-1].strip()
        role = self.emu.tokens.get(token)
        if role is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return role

    def _require(self, level: str) -> str:
        role = self._token_role()
        if role is None:
            raise HubError(401, "Invalid username or password.")
        if level == "write" and role not in ("write", NO_DISCUSSIONS):
            raise HubError(403, "You don't have the rights to write to this repository.")
        return role

    def _readable_repo(self, repo_type: str, repo_id: str) -> Repo:
        role = self._token_role()
        repo = self.emu.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and role is None):
            status = 401 if role is None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def _writable_repo(self, repo_type: str, repo_id: str) -> Repo:
        self._require("write")
        repo = self._readable_repo(repo_type, repo_id)
        self._require_namespace(repo_type, repo_id.split("/")[0], "write")
        return repo

    def _require_namespace(self, repo_type: str, namespace: str, verb: str) -> None:
        """A token writes only under its user's and its organisations' namespaces
        (``docs/hub/security-tokens.md``: a token acts as its user;
        ``docs/hub/organizations.md``: members write to their organisation's repos); 403
        otherwise (``hf_api.py:HfApi.create_repo``: "403 -> if no write permission on the
        namespace"), with the Hub's wording for a repo created there ("You don't have the
        rights to create a dataset under the namespace "X".", as users report it) and this
        emulator's for a write to an existing repo there."""
        if namespace == self.emu.user or namespace in self.emu.orgs:
            return
        if verb != "create":
            raise HubError(403, "You don't have the rights to write to this repository.")
        kind = repo_type.removesuffix("s")
        raise HubError(
            403, f'You don\'t have the rights to create a {kind} under the namespace "{namespace}".'
        )

    def whoami(self):
        """``HfApi.whoami()`` -> ``GET /api/whoami-v2``."""
        role, name = self._require("read"), self.emu.user
        token = {"type": "access_token", "accessToken": {"displayName": "t", "role": role}}
        orgs = [{"type": "org", "name": org} for org in self.emu.orgs]
        self._json({"type": "user", "name": name, "fullname": name, "orgs": orgs, "auth": token})

    def create_repo(self):
        """``HfApi.create_repo()`` -> ``POST /api/repos/create`` (409 if it exists)."""
        self._require("write")
        body = self._json_body()
        repo_type = body.get("type") or "model"
        repo_id = f"{body.get('organization') or self.emu.user}/{body['name']}"
        self._require_namespace(f"{repo_type}s", repo_id.split("/")[0], "create")
        private = body.get("visibility", "private" if body.get("private") else "public") != "public"
        emu = self.emu
        with emu._lock:
            if (repo_type, repo_id) in emu.repos:
                url = emu._repo_url(emu.repos[(repo_type, repo_id)])
                msg = f"You already created this {repo_type} repo"
                return self._json({"error": msg, "url": url}, 409, {"X-Error-Message": msg})
            repo = Repo(repo_type, repo_id, private, time.strftime(_DATE, time.gmtime()))
            files = {}
            sha = emu._store_bytes(DEFAULT_GITATTRIBUTES.encode())
            commit = emu._new_commit(repo, None, "initial commit", "", files)
            size = len(DEFAULT_GITATTRIBUTES)
            files[".gitattributes"] = emu._entry_for(sha, size, False, commit.sha)
            repo.refs["main"] = commit.sha
            emu.repos[(repo_type, repo_id)] = repo
        self._json({"url": emu._repo_url(repo), "name": repo_id, "id": repo_id})

    def validate_yaml(self):
        """README.md metadata check (``create_commit``, ``DatasetCard.validate``) ->
        ``POST /api/validate-yaml``: 400 with the Hub's documented rules (``hub_card_rules``)."""
        body = self._json_body()
        errors = card_errors(body.get("content", ""))
        if errors and "text/plain" in self.headers.get("Accept", ""):
            text = "\n".join(f"- {e}" for e in errors)
            return self._send(400, text.encode(), ctype="text/plain")
        self._json(
            {"errors": [{"message": e} for e in errors], "warnings": []}, 400 if errors else 200
        )

    def repo_info(self, repo_type, repo_id, revision):
        """``repo_info``/``dataset_info`` -> ``GET /api/{type}s/{id}[/revision/{rev}]``."""
        with self.emu._lock:
            repo = self._readable_repo(repo_type, repo_id)
            info = self.emu._info_json(repo, revision or "main")
        self._json(info)

    def tree(self, repo_type, repo_id, revision, path):
        """``list_repo_tree`` / ``list_repo_files`` / ``HfFileSystem.ls|glob|find`` ->
        ``GET /api/{type}s/{id}/tree/{rev}[/{path}]?recursive=`` (single page)."""
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        emu = self.emu
        with emu._lock:
            repo = self._readable_repo(repo_type, repo_id)
            commit = emu._commit_at(repo, revision)
            path = (path or "").strip("/")
            dirs = emu._dirs(commit.files)
            if path and path not in dirs:
                if path in commit.files:  # the Hub answers a file path with its own entry
                    return self._json([emu._file_json(path, commit.files[path])])
                raise _not_found("EntryNotFound", f"{path} does not exist on {revision}")
            prefix = f"{path}/" if path else ""

            def wanted(p: str) -> bool:
                return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

            out = [emu._dir_json(commit, d) for d in sorted(dirs) if wanted(d)]
            out += [emu._file_json(p, e) for p, e in sorted(commit.files.items()) if wanted(p)]
        self._json(out)

    def preupload(self, repo_type, repo_id, revision):
        """``preupload_lfs_files`` (called by ``create_commit``/``upload_folder``) ->
        ``POST /api/{type}s/{id}/preupload/{rev}``: decides ``uploadMode`` (lfs if >= 10 MB, binary
        sample, or matched by ``.gitattributes``). No remote ``oid`` is returned, so the client
        sends every file of a commit."""
        body = self._json_body()
        emu = self.emu
        with emu._lock:
            repo = self._writable_repo(repo_type, repo_id)
            files = emu._commit_at(repo, revision).files
            ignore = [
                ln.strip()
                for ln in (body.get("gitIgnore") or "").splitlines()
                if ln.strip() and not ln.startswith("#")
            ]
            out = []
            for f in body.get("files", []):
                path, size = f["path"], int(f["size"])
                sample = base64.b64decode(f.get("sample") or "")
                lfs = size >= emu.lfs_threshold or b"\0" in sample or emu._is_lfs_path(files, path)
                item = {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": any(
                        fnmatch.fnmatchcase(path, pat) or fnmatch.fnmatchcase(path, pat + "/*")
                        for pat in ignore
                    ),
                }
                out.append(item)
            head = emu._resolve_rev(repo, revision)
        self._json({"files": out, "commitOid": head})

    def lfs_batch(self, repo_type, repo_id):
        """LFS batch API used by the legacy (non-xet) upload path ->
        ``POST /{type}s/{id}.git/info/lfs/objects/batch``. Objects already stored for the repo get
        no ``actions`` (client skips them); others get a basic-transfer PUT href + a verify href."""
        body = self._json_body()
        emu = self.emu
        with emu._lock:
            repo = self._writable_repo(repo_type, repo_id)
            objects = []
            for obj in body.get("objects", []):
                oid, size = obj["oid"], int(obj["size"])
                item: dict = {"oid": oid, "size": size, "authenticated": True}
                verify = f"{emu.endpoint}/__lfs/verify/{repo_type}/{repo_id}"
                if oid not in repo.lfs_oids:
                    upload = {"href": f"{emu.endpoint}/__lfs/upload/{oid}?size={size}"}
                    item["actions"] = {"upload": upload, "verify": {"href": verify, "header": {}}}
                objects.append(item)
        self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_put(self, oid):
        """Basic LFS transfer: ``PUT`` of the raw object (the "S3" upload). Streamed to disk and
        checked against its sha256; counted in ``bytes_uploaded_lfs``."""
        emu = self.emu
        tmp = emu.blob_dir / f"{oid}.{uuid.uuid4().hex}.part"
        digest, n = hashlib.sha256(), 0
        with open(tmp, "wb") as fh:
            for piece in self._iter_body():
                digest.update(piece)
                fh.write(piece)
                n += len(piece)
        with emu._lock:
            emu.stats.bytes_uploaded_lfs += n
            emu.stats.lfs_uploads.append(oid)
        if digest.hexdigest() != oid:
            tmp.unlink()
            raise HubError(400, f"sha256 mismatch for LFS object {oid}")
        os.replace(tmp, emu._blob(oid))
        self._send(200, b"", {"ETag": f'"{oid}"'}, "text/plain")

    def lfs_verify(self, repo_type, repo_id):
        """LFS verify action -> ``POST /__lfs/verify/{type}/{id}`` with ``{oid, size}``: registers
        the object as present in the repo (future batch calls report it as already uploaded)."""
        body = self._json_body()
        emu = self.emu
        with emu._lock:
            repo = self._writable_repo(repo_type, repo_id)
            blob = emu._blob(body["oid"])
            if not blob.exists() or blob.stat().st_size != int(body["size"]):
                raise HubError(404, f"LFS object {body['oid']} not found")
            repo.lfs_oids.add(body["oid"])
        self._json({"success": True})

    def commit(self, repo_type, repo_id, revision):
        """``create_commit`` / ``upload_folder`` / ``upload_file`` / ``delete_file`` ->
        ``POST /api/{type}s/{id}/commit/{rev}[?create_pr=1]`` with an NDJSON body (header, file,
        lfsFile, deletedFile). Atomic: everything is validated before applying."""
        lines = [json.loads(ln) for ln in self._read_body().splitlines() if ln.strip()]
        emu = self.emu
        with emu._lock:
            repo = self._writable_repo(repo_type, repo_id)
            emu._commit_fault([ln.get("value", {}).get("path") for ln in lines])
            _check_committed_card(emu, lines)
            create_pr = self.query.get("create_pr", "") in ("1", "true", "True")
            if create_pr and (refused := pulls_refused(self, "POST", repo_type, repo_id)):
                raise HubError(403, refused)
            header = next((ln["value"] for ln in lines if ln["key"] == "header"), {})
            parent = header.get("parentCommit")
            if revision not in repo.refs and not revision.startswith("refs/heads/"):
                raise _not_found("RevisionNotFound", f"Invalid rev id: {revision} (not a branch)")
            head = emu._resolve_rev(repo, revision)
            if parent and not create_pr and not head.startswith(parent):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            base = emu._resolve_rev(repo, parent) if (parent and create_pr) else head
            files = dict(repo.commits[base].files)
            ops, pending = [], []
            for ln in lines:
                key, val = ln["key"], ln.get("value", {})
                if key == "file":
                    data = base64.b64decode(val["content"])
                    pending.append(("inline", val["path"], data))
                elif key == "lfsFile":
                    in_cas = emu.cas is not None and val["oid"] in emu.cas.by_sha256
                    if val["oid"] not in repo.lfs_oids and not in_cas:
                        raise HubError(422, f"LFS object {val['oid']} not uploaded")
                    pending.append(("lfs", val["path"], val["oid"]))
                elif key == "deletedFile":
                    if val["path"] not in files:
                        raise _not_found("EntryNotFound", "A file with this name doesn't exist")
                    pending.append(("delete", val["path"], None))
            # everything validated: apply
            title = header.get("summary") or "Commit"
            commit = emu._new_commit(repo, base, title, header.get("description", ""), files)
            for kind, path, payload in pending:
                if kind == "inline":
                    sha = emu._store_bytes(payload)
                    files[path] = emu._entry_for(sha, len(payload), False, commit.sha)
                    emu.stats.bytes_uploaded_inline += len(payload)
                    ops.append({"op": "add", "path": path, "lfs": False, "size": len(payload)})
                elif kind == "lfs":
                    size = emu._blob(payload).stat().st_size
                    files[path] = emu._entry_for(payload, size, True, commit.sha)
                    ops.append({"op": "add", "path": path, "lfs": True, "size": size})
                else:
                    files.pop(path, None)
                    ops.append({"op": "delete", "path": path})
            pr_url = None
            if create_pr:
                ref = f"refs/pr/{repo.next_pr}"
                pr_url = f"{emu._repo_url(repo)}/discussions/{repo.next_pr}"
                target = revision.removeprefix("refs/heads/")  # tests/hub_pulls.py
                _new_pull_request(emu, repo, title, base, target)["status"] = "open"
            else:
                ref = revision.removeprefix("refs/heads/")
            repo.refs[ref] = commit.sha
            emu.stats.commits.append(
                {"repo_id": repo_id, "repo_type": repo_type, "revision": ref, "oid": commit.sha,
                 "title": title, "operations": ops}
            )  # fmt: skip
            url = f"{emu._repo_url(repo)}/commit/{commit.sha}"
            body = {"success": True, "commitOid": commit.sha, "commitUrl": url, "hookOutput": ""}
            if pr_url:
                body["pullRequestUrl"] = pr_url
        self._json(body)

    def create_branch(self, repo_type, repo_id, branch):
        """``create_branch`` -> ``POST /api/{type}s/{id}/branch/{b}``."""
        body = self._json_body()
        with self.emu._lock:
            repo = self._writable_repo(repo_type, repo_id)
            if branch in repo.refs:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            start = body.get("startingPoint") or "main"
            repo.refs[branch] = self.emu._resolve_rev(repo, start)
        self._send(200, b"")

    def create_tag(self, repo_type, repo_id, revision):
        """``create_tag`` -> ``POST /api/{type}s/{id}/tag/{rev}`` with ``{"tag", "message"}``:
        409 if the tag exists (``hf_api.py:HfApi.create_tag``, whose ``exist_ok`` swallows only
        that 409), 404 for an unknown revision."""
        body = self._json_body()
        with self.emu._lock:
            repo = self._writable_repo(repo_type, repo_id)
            tag = body["tag"]
            if tag in repo.tags:
                raise HubError(409, f"Tag {tag} already exists")
            repo.tags[tag] = self.emu._resolve_rev(repo, revision)
        self._send(200, b"")

    def list_refs(self, repo_type, repo_id):
        """``list_repo_refs`` -> ``GET /api/{type}s/{id}/refs[?include_prs=1]``: ``branches``,
        ``converts``, ``tags`` (and ``pullRequests``), each ``{name, ref, targetCommit}``
        (``hf_api.py:HfApi.list_repo_refs``)."""
        with self.emu._lock:
            repo = self._readable_repo(repo_type, repo_id)
            branches = {n: s for n, s in repo.refs.items() if not n.startswith("refs/")}
            prs = {n: s for n, s in repo.refs.items() if n.startswith("refs/pr/")}

        def refs(names: dict[str, str], prefix: str) -> list[dict]:
            return [
                {"name": n.removeprefix("refs/pr/"), "ref": prefix + n, "targetCommit": s}
                for n, s in sorted(names.items())
            ]

        out = {"branches": refs(branches, "refs/heads/"), "converts": [],
               "tags": refs(repo.tags, "refs/tags/")}  # fmt: skip
        if self.query.get("include_prs"):
            out["pullRequests"] = refs(prs, "")
        self._json(out)

    def list_commits(self, repo_type, repo_id, revision):
        """``list_repo_commits`` -> ``GET /api/{type}s/{id}/commits/{rev}`` (single page)."""
        with self.emu._lock:
            repo = self._readable_repo(repo_type, repo_id)
            sha, out = self.emu._resolve_rev(repo, revision), []
            while sha:
                c = repo.commits[sha]
                out.append(
                    {"id": c.sha, "title": c.title, "message": c.message, "date": c.date,
                     "authors": [{"user": self.emu.user}]}
                )  # fmt: skip
                sha = c.parent
        self._json(out)

    def resolve(self, repo_type, repo_id, revision, path):
        """File download (``hf_hub_download``, ``HfFileSystem`` reads, ``datasets`` streaming) ->
        ``GET|HEAD /[{type}s/]{id}/resolve/{rev}/{path}``. Sends ETag / X-Repo-Commit /
        X-Linked-Etag / X-Linked-Size like the Hub, and honours ``Range: bytes=a-b`` with 206."""
        emu = self.emu
        with emu._lock:
            repo = self._readable_repo(repo_type, repo_id)
            commit = emu._commit_at(repo, revision)
            entry = commit.files.get(path)
            if entry is None:
                raise _not_found("EntryNotFound", f"{path} not found at {revision}")
        blob = emu._blob(entry)
        total = entry.size
        start, end = 0, total - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:  # the clients send ``bytes=a-b`` or ``bytes=a-`` (RFC 9110 14.1.2)
            m = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", rng)
            if not m or int(m.group(1)) >= max(total, 1):
                return self._send(416, b"", {"Content-Range": f"bytes */{total}"})
            start, end = int(m.group(1)), min(int(m.group(2) or total - 1), total - 1)
            status = 206
        length = max(end - start + 1, 0)
        headers = {
            "ETag": f'"{entry.sha256 if entry.lfs else entry.git_oid}"',
            "X-Repo-Commit": commit.sha,
            "Accept-Ranges": "bytes",
            "Content-Length": str(length),
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(total)
        if entry.xet_hash:  # what sends hf_hub_download down the Xet reconstruction path
            token_url = f"{emu.endpoint}/api/{repo_type}s/{repo_id}/xet-read-token/{commit.sha}"
            headers["X-Xet-Hash"] = entry.xet_hash
            headers["Link"] = f'<{token_url}>; rel="xet-auth"'
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        self._drain()
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(blob, "rb") as fh:
            fh.seek(start)
            remaining = length
            while remaining > 0:
                piece = fh.read(min(_CHUNK, remaining))
                if not piece:
                    break
                try:
                    self.wfile.write(piece)
                except OSError:  # client closed the connection early (e.g. partial read)
                    break
                remaining -= len(piece)
                with emu._lock:
                    emu.stats.bytes_served += len(piece)


# ====================================================================== pull requests
# Discussions that are pull requests, as `create_pull_request`, `get_repo_discussions`,
# `get_discussion_details`, `change_discussion_status` and `merge_pull_request` use them. A pull
# request is a ref `refs/pr/N` started at its target's head. Created through the API (always
# against main) it is a "draft"
# (huggingface_hub's docs say so) and stays one, commits or not, until its status is changed
# to "open"; only an open one merges (the strict reading: what the Hub does with a draft that
# has commits is not documented). One opened by a commit with `?create_pr=1` is open, against
# the branch committed to. Merging, conflicts, disabled pull requests and tokens without
# discussion rights: tests/hub_pulls.py, which cites the source of each rule.


def _route_discussions(h: _HubHandler, method: str, repo_type: str, repo_id: str, rest):
    rest = (rest or "").strip("/").split("/") if rest else []
    if refused := pulls_refused(h, method, repo_type, repo_id):
        raise HubError(403, refused)
    if not rest and method == "POST":
        return "create-discussion", _create_discussion, (h, repo_type, repo_id)
    if not rest and method == "GET":
        return "list-discussions", _list_discussions, (h, repo_type, repo_id)
    if len(rest) == 1 and method == "GET":
        return "discussion", _discussion_details, (h, repo_type, repo_id, int(rest[0]))
    if len(rest) == 2 and rest[1] == "merge" and method == "POST":
        return "merge", _merge_pull_request, (h, repo_type, repo_id, int(rest[0]))
    if len(rest) == 2 and rest[1] == "status" and method == "POST":
        return "discussion-status", _change_status, (h, repo_type, repo_id, int(rest[0]))
    raise HubError(404, f"Not found: {method} discussions/{'/'.join(rest)}")


def _new_pull_request(emu: HubEmulator, repo: Repo, title: str, base: str, target="main") -> dict:
    num = repo.next_pr
    repo.next_pr += 1
    pr = {"num": num, "title": title, "author": emu.user, "status": "draft", "base": base,
          "ref": f"refs/pr/{num}", "createdAt": time.strftime(_DATE, time.gmtime()),
          "target": target}  # fmt: skip
    repo.discussions[num] = pr
    repo.refs[pr["ref"]] = base
    return pr


def _check_committed_card(emu: HubEmulator, lines: list[dict]) -> None:
    """The Hub refuses a commit whose README.md metadata it would refuse at validate-yaml."""
    for ln in lines:
        value = ln.get("value", {})
        if ln["key"] == "file" and value.get("path") == "README.md":
            errors = card_errors(base64.b64decode(value["content"]).decode(errors="replace"))
            if errors:
                raise HubError(400, "Invalid metadata in README.md: " + "; ".join(errors))


def _discussion_json(emu: HubEmulator, repo: Repo, pr: dict) -> dict:
    return {"num": pr["num"], "title": pr["title"], "author": {"name": pr["author"]},
            "createdAt": pr["createdAt"], "status": pr["status"], "isPullRequest": True,
            "repo": {"name": repo.repo_id, "type": repo.repo_type}, "pinned": False,
            "numComments": 0, "url": f"{emu._repo_url(repo)}/discussions/{pr['num']}"}  # fmt: skip


def _create_discussion(h: _HubHandler, repo_type: str, repo_id: str) -> None:
    """``create_pull_request`` -> ``POST /api/{type}s/{id}/discussions`` (pullRequest: true)."""
    body = h._json_body()
    with h.emu._lock:
        repo = h._writable_repo(repo_type, repo_id)
        if not body.get("pullRequest"):
            raise HubError(400, "HubEmulator: only pull requests are emulated")
        pr = _new_pull_request(h.emu, repo, body.get("title", "").strip(), repo.refs["main"])
        h._json({"num": pr["num"], "url": _discussion_json(h.emu, repo, pr)["url"]})


def _list_discussions(h: _HubHandler, repo_type: str, repo_id: str) -> None:
    """``get_repo_discussions`` -> ``GET /api/{type}s/{id}/discussions?type=&status=&author=``
    (one page)."""
    q = h.query
    with h.emu._lock:
        repo = h._readable_repo(repo_type, repo_id)
        prs = [
            _discussion_json(h.emu, repo, pr)
            for pr in sorted(repo.discussions.values(), key=lambda p: -p["num"])
            if q.get("status", "all") in ("all", pr["status"])
            and q.get("author", pr["author"]) == pr["author"]
            and q.get("type", "all") in ("all", "pull_request")
        ]
        closed = sum(pr["status"] != "open" for pr in repo.discussions.values())
    h._json({"discussions": prs, "count": len(prs), "start": 0, "numClosedDiscussions": closed})


def _discussion_details(h: _HubHandler, repo_type: str, repo_id: str, num: int) -> None:
    """``get_discussion_details`` -> ``GET /api/{type}s/{id}/discussions/{num}``."""
    with h.emu._lock:
        repo = h._readable_repo(repo_type, repo_id)
        pr = _pull_request(repo, num)
        out = _discussion_json(h.emu, repo, pr)
        changes = {"base": f"refs/heads/{pr['target']}"}
        if pr.get("merge_commit"):
            changes["mergeCommitId"] = pr["merge_commit"]
        clashes = conflicts(h.emu, repo, pr) if pr["status"] in ("open", "draft") else []
        out |= {"events": [], "changes": changes, "filesWithConflicts": clashes, "diff": ""}
    h._json(out)


def _change_status(h: _HubHandler, repo_type: str, repo_id: str, num: int) -> None:
    """``change_discussion_status`` -> ``POST /api/{type}s/{id}/discussions/{num}/status``."""
    body = h._json_body()
    with h.emu._lock:
        repo = h._writable_repo(repo_type, repo_id)
        pr = _pull_request(repo, num)
        if body.get("status") not in ("open", "closed") or pr["status"] == "merged":
            raise HubError(400, f"Cannot change the status of #{num} to {body.get('status')!r}")
        pr["status"] = body["status"]
        if body.get("comment"):
            pr.setdefault("comments", []).append(body["comment"])
        event = {"id": uuid.uuid4().hex[:24], "type": "status-change",
                 "createdAt": time.strftime(_DATE, time.gmtime()), "author": {"name": h.emu.user},
                 "data": {"status": pr["status"]}}  # fmt: skip
    h._json({"newStatus": event})


def _pull_request(repo: Repo, num: int) -> dict:
    if num not in repo.discussions:
        raise HubError(404, f"Discussion {num} not found", "EntryNotFound")
    return repo.discussions[num]


def _merge_pull_request(h: _HubHandler, repo_type: str, repo_id: str, num: int) -> None:
    """``merge_pull_request`` -> ``POST /api/{type}s/{id}/discussions/{num}/merge``."""
    h._read_body()
    emu = h.emu
    with emu._lock:
        repo = h._writable_repo(repo_type, repo_id)
        pr = _pull_request(repo, num)
        if pr["status"] != "open":
            raise HubError(400, f"Pull request #{num} is {pr['status']}: only open ones merge")
        if clashes := conflicts(emu, repo, pr):
            raise HubError(409, f"Merge conflict in {', '.join(clashes[:5])}")
        sha = merge(emu, repo, pr)
        pr["status"], pr["merge_commit"] = "merged", sha
        emu.stats.merges.append({"repo_id": repo_id, "num": num, "oid": sha})
    h._json({})


@contextlib.contextmanager
def emulated_hub(
    monkeypatch, home: Path, token: str | None = "hf_test_write", tokens=None, xet: bool = True
):
    """Start a :class:`HubEmulator`, point the clients at it (token ``token`` in ``HF_TOKEN``,
    caches under ``home``, Xet on or off) and refuse non-loopback DNS. The push's retry waits
    are recorded in ``emu.retry_waits``, not slept. Fails on exit if the emulator crashed."""
    from huggingface_hub import HfFileSystem

    with HubEmulator(tokens, xet=xet) as emu:
        point_clients_at(emu.endpoint, Path(home), token, monkeypatch, xet)
        monkeypatch.setattr("sousa.hub.calls.RETRY", _recorded_retries(emu.retry_waits))
        guard_network(monkeypatch, emu.blocked_hosts)
        try:
            yield emu
        finally:
            HfFileSystem.clear_instance_cache()
        assert not emu.errors, f"HubEmulator internal errors: {emu.errors}"


def _recorded_retries(waits: list[float]):
    """The push's retry policy, its waits recorded in ``waits`` instead of slept."""
    from sousa.hub.calls import RetryPolicy

    return RetryPolicy(sleep=waits.append)
