"""`python -m sousa.package SOURCE --push` as the Hub tests run it, in this process.

A test about pushing needs a packaged folder, not a fresh packaging run each time: `push_cli`
packages each distinct (source files, packaging flags, repo id) once per process into a cache,
and copies that complete folder into the source's default staging folder before the first push
from it. The CLI then runs as a user would: it reads and plans the source, finds the staging
folder complete and current (the reuse path `sousa.pipeline.packaged` takes on a re-run) and
pushes it. A source changed after a push is packaged again by the CLI itself, as are later
pushes from the same source with other flags. Packaging proper is tested in test_package.py.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from pathlib import Path

from sousa.package import main
from sousa.source import STAGING_DEFAULT_NAME
from sousa.staging import LOCAL_FILES, read_manifest
from sousa.stamps import Stamps

REPO = "user/sousa"
PACKAGING_FLAGS = ("--shard-size",)  # the flags the Hub tests pass that change the staged bytes

_cache: Path | None = None


def push_cli(source: Path, *args: str, repo_id: str = REPO) -> int:
    """`main([source, "--quiet", "--push", "--repo-id", repo_id, *args])`, its staging folder
    copied from the cache when it does not exist yet."""
    out = source / STAGING_DEFAULT_NAME
    if not out.exists():
        _seed(source, out, [*_packaging_args(args), "--repo-id", repo_id])
    return main([str(source), "--quiet", "--push", "--repo-id", repo_id, *args])


def _packaging_args(args: tuple[str, ...]) -> list[str]:
    found = []
    for i, arg in enumerate(args):
        if arg in PACKAGING_FLAGS:
            found += args[i : i + 2]
    return found


def _seed(source: Path, out: Path, args: list[str]) -> None:
    """Copy the packaged folder of `source` + `args` into `out`, stamped as written there (the
    stamps name each file's inode; a copy gets new ones)."""
    cached = _cache_dir() / _key(source, args)
    if not cached.exists():
        assert main([str(source), "--quiet", "--out", str(cached), *args]) == 0
    shutil.copytree(cached, out, ignore=shutil.ignore_patterns(*LOCAL_FILES))
    manifest = read_manifest(out)
    Stamps(out).rewrite(manifest.files, manifest.source_fingerprint)


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
