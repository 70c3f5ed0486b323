"""What each staged file was when this packager wrote it: the cheap check behind reuse.

`layout.STAMPS_PATH` (local state of the staging folder: in no manifest, never pushed) holds one
JSON line per written file: its path, the run's fingerprint, its size and sha256, and the
`st_mtime_ns`, `st_ctime_ns` and `st_ino` it had once complete. A file is trusted as written
only if its stat still says so (any change, even one that restores the mtime, moves the
ctime); lines are appended as files complete, so an interrupted run's finished shards are
trusted too. File times tick coarsely (a few ms), so, as git does with its index, a file
whose times are not older than the stamps file itself ("racily clean") is hashed again before
it is trusted. A torn line (a full disk, a kill) is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import disk_full
from ..layout import STAMPS_PATH
from ..staged import sha256_file
from .staging import FileDigest, write_bytes_atomic


@dataclass(frozen=True)
class Stamp:
    path: str
    fingerprint: str
    size: int
    sha256: str
    mtime_ns: int
    ctime_ns: int
    ino: int


class Stamps:
    """The stamps of one staging folder (use it holding `writer_lock`)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.file = out / STAMPS_PATH
        self._stamps: dict[str, Stamp] = {}
        self._written_ns = 0  # the stamps file's mtime when read
        self.recorded: set[str] = set()  # the paths `record` stamped (written by this run)
        try:
            lines = self.file.read_bytes().splitlines()
            self._written_ns = self.file.stat().st_mtime_ns
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                stamp = Stamp(**json.loads(line))
            except (ValueError, TypeError):
                continue  # torn or foreign: that file is simply not trusted
            self._stamps[stamp.path] = stamp

    def trusted(self, path: str, fingerprint: str) -> FileDigest | None:
        """The digest of `path` if this run's fingerprint wrote it and it is unchanged since."""
        stamp = self._stamps.get(path)
        if stamp is None or stamp.fingerprint != fingerprint:
            return None
        try:
            st = (self.out / path).stat()
        except OSError:
            return None
        now = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        if now != (stamp.size, stamp.mtime_ns, stamp.ctime_ns, stamp.ino):
            return None
        racy = max(st.st_mtime_ns, st.st_ctime_ns) >= self._written_ns
        if racy and sha256_file(self.out / path) != stamp.sha256:
            return None
        return FileDigest(stamp.size, stamp.sha256)

    def record(self, path: str, fingerprint: str, digest: FileDigest) -> None:
        """Append the stamp of `path`, just written and renamed into place."""
        stamp = self._stamp(path, fingerprint, digest)
        line = (json.dumps(asdict(stamp)) + "\n").encode()
        try:
            fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as e:
            raise (disk_full(e, self.file) or e) from None
        self._stamps[path] = stamp
        self.recorded.add(path)

    def rewrite(self, digests: dict[str, FileDigest], fingerprint: str) -> None:
        """Keep exactly the stamps of `digests` (the complete folder's files), as recorded
        when each was written (stat now only a file without one)."""
        self._stamps = {
            p: self._stamps[p] if self._has(p, fingerprint, d) else self._stamp(p, fingerprint, d)
            for p, d in sorted(digests.items())
        }
        data = "".join(json.dumps(asdict(s)) + "\n" for s in self._stamps.values())
        write_bytes_atomic(self.file, data.encode())

    def _has(self, path: str, fingerprint: str, digest: FileDigest) -> bool:
        stamp = self._stamps.get(path)
        return stamp is not None and (stamp.fingerprint, stamp.size, stamp.sha256) == (
            fingerprint,
            digest.size,
            digest.sha256,
        )

    def _stamp(self, path: str, fingerprint: str, digest: FileDigest) -> Stamp:
        st = (self.out / path).stat()
        return Stamp(
            path, fingerprint, digest.size, digest.sha256, st.st_mtime_ns, st.st_ctime_ns, st.st_ino
        )
