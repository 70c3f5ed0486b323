"""`python -m sousa.package SOURCE --push` as the Hub tests run it, in this process.

A test about pushing needs a packaged folder, not a fresh packaging run each time: `stage`
packages each distinct (source files, packaging flags, repo id) once per process into a cache
and copies that complete folder into the source's default staging folder; `push_cli` does so
before the first push from a source. The CLI then runs as a user would: it reads and plans the
source, finds the staging folder complete and current (the reuse path that
`sousa.write.pipeline.packaged` takes on a re-run) and pushes it. A source changed after a push is
packaged again by the CLI itself, as are later pushes from the same source with other flags.
Packaging proper is tested in test_package.py.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from pathlib import Path

from sousa.package import main
from sousa.staged import read_manifest
from sousa.write.source import STAGING_DEFAULT_NAME
from sousa.write.staging import LOCAL_ROOT
from sousa.write.stamps import Stamps

REPO = "user/sousa"
PACKAGING_FLAGS = ("--shard-size",)  # the flags the Hub tests pass that change the staged bytes

_LOCAL = shutil.ignore_patterns(LOCAL_ROOT)  # the staging folder's local state
_cache: Path | None = None


def push_cli(source: Path, *args: str, repo_id: str = REPO) -> int:
    """`main([source, "--quiet", "--push", "--repo-id", repo_id, *args])`, its staging folder
    copied from the cache when it does not exist yet."""
    if not (source / STAGING_DEFAULT_NAME).exists():
        stage(source, *_packaging_args(args), repo_id=repo_id)
    return main([str(source), "--quiet", "--push", "--repo-id", repo_id, *args])


def stage(source: Path, *args: str, repo_id: str | None = REPO) -> Path:
    """Make the default staging folder of `source` (it must not exist) what
    `main([source, *args, "--repo-id", repo_id])` packages: a copy of the cached folder,
    stamped as written there (the stamps name each file's inode; a copy has new ones)."""
    flags = [*args, *(["--repo-id", repo_id] if repo_id else [])]
    cached = _cache_dir() / _key(source, flags)
    if not cached.exists():
        assert main([str(source), "--quiet", "--out", str(cached), *flags]) == 0
    out = Path(shutil.copytree(cached, source / STAGING_DEFAULT_NAME, ignore=_LOCAL))
    manifest = read_manifest(out)
    Stamps(out).rewrite(manifest.files, manifest.source_fingerprint)
    return out


def _packaging_args(args: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for i, arg in enumerate(args):
        if arg in PACKAGING_FLAGS:
            found += args[i : i + 2]
    return found


def _key(source: Path, args: list[str]) -> str:
    """What the packaging fingerprint reads of the source (each file's path, size and mtime),
    and the flags: equal keys package to equal folders."""
    h = hashlib.sha256("\0".join(args).encode())
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if rel.parts[0] != STAGING_DEFAULT_NAME and path.is_file():
            st = path.stat()
            h.update(f"{rel.as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _cache_dir() -> Path:
    global _cache
    if _cache is None:
        _cache = Path(tempfile.mkdtemp(prefix="sousa-staged-"))
        atexit.register(shutil.rmtree, _cache, True)
    return _cache
