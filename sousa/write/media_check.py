"""Media checked before they are packed: each file is what its extension says.

Every FLAC file: the `fLaC` marker and a STREAMINFO block that parses, read from the file's
first 42 bytes (FLAC format, https://xiph.org/flac/format.html, "METADATA_BLOCK_STREAMINFO";
RFC 9639 §8.2), and an end where STREAMINFO says, its last frame's CRC-16 checked
(`flac_tail`: a file cut short is refused). Every MIDI file: an `MThd` chunk of length 6 with
a valid format, track count and division, its first 14 bytes (Standard MIDI Files 1.0,
"Header Chunks", https://midi.org/standard-midi-files-specification). `HeadChecks` reads them
in the run's worker processes, in constant memory: a check is Python between short reads, so
threads of one process would queue on the GIL (slower than one thread when files are cached).
`verify_flac` decodes a whole file in blocks and compares the frames decoded with
STREAMINFO's total: that also catches corrupt bytes in the middle of a file.

A problem is a short phrase saying what is wrong with a file ("empty (0 bytes)",
"STREAMINFO sample rate is 0"); `source.py` turns them into bad input or labels-only samples.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from ..layout import AUDIO_PROPERTY_COLUMNS
from ..progress import byte_bar
from .flac_tail import check_flac_tail
from .forked import helper_of
from .media import MediaFile

FLAC_MARKER = b"fLaC"
FLAC_HEAD_BYTES = 42  # marker (4) + metadata block header (4) + STREAMINFO (34)
STREAMINFO_TYPE = 0
STREAMINFO_LENGTH = 34
MIDI_HEAD_BYTES = 14  # "MThd" (4) + length (4) + format, ntrks, division (2 each)
MIDI_SMPTE_FORMATS = (-24, -25, -29, -30)  # frames a second, when division's top bit is set
HEAD_CHUNK = 256  # files a worker checks between hand-offs
VERIFY_CHUNK = 8  # FLAC files a thread decodes between hand-offs
VERIFY_BLOCK_FRAMES = 1 << 16  # frames read at a time (4,096 decodes 1.4 x slower)
BAD_MEDIA_SHOWN = 20  # bad files an error or a summary names; then a count


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a FLAC file's STREAMINFO says about its audio."""

    sample_rate: int  # Hz
    channels: int  # 1-8
    bits_per_sample: int  # 4-32
    total_frames: int  # samples per channel (the format allows 0, unknown; we refuse it)


class MediaProblem(ValueError):
    """What is wrong with one media file, as a short phrase (no path: the caller adds it)."""


def parse_streaminfo(head: bytes) -> StreamInfo:
    """The STREAMINFO of a FLAC file from its first 42 bytes, or `MediaProblem`.

    Layout (big-endian bit fields): "fLaC"; block header: 1 bit last-block flag, 7 bits
    block type (0 = STREAMINFO, which must come first), 24 bits length (34); STREAMINFO:
    16 bits minimum and 16 maximum block size (samples, 16 or more), 24 bits minimum and 24
    maximum frame size (bytes, 0 = unknown), 20 bits sample rate (Hz; 0 is not audio), 3 bits
    channels - 1, 5 bits bits-per-sample - 1, 36 bits total samples (0 = unknown), 128 bits
    MD5 of the decoded audio.

    A total of 0 is refused too: the format allows it for a stream of unknown length, but
    libsndfile (which writes SOUSA's FLAC) leaves exactly that header when it is killed
    before closing the file, and a dataset's `audio_frames` must be known.
    """
    if not head:
        raise MediaProblem("empty (0 bytes)")
    if head[:4] != FLAC_MARKER:
        raise MediaProblem(f"not FLAC: does not start with 'fLaC' (starts with {head[:8]!r})")
    if len(head) < FLAC_HEAD_BYTES:
        raise MediaProblem(f"truncated: {len(head)} bytes, shorter than a FLAC header")
    block_type = head[4] & 0x7F
    length = int.from_bytes(head[5:8], "big")
    if block_type != STREAMINFO_TYPE or length != STREAMINFO_LENGTH:
        raise MediaProblem(
            f"first metadata block is type {block_type} of {length} bytes, not STREAMINFO "
            f"(type {STREAMINFO_TYPE}, {STREAMINFO_LENGTH} bytes)"
        )
    min_block = int.from_bytes(head[8:10], "big")
    max_block = int.from_bytes(head[10:12], "big")
    bits = int.from_bytes(head[18:26], "big")  # rate 20, channels 3, bps 5, total 36
    info = StreamInfo(
        sample_rate=bits >> 44,
        channels=((bits >> 41) & 0x7) + 1,
        bits_per_sample=((bits >> 36) & 0x1F) + 1,
        total_frames=bits & ((1 << 36) - 1),
    )
    if info.sample_rate == 0:
        raise MediaProblem("STREAMINFO sample rate is 0")
    if info.total_frames == 0:  # valid FLAC, but what libsndfile leaves when killed mid-write
        raise MediaProblem(
            "STREAMINFO total frames is 0 (unknown): the header of a file whose writer was "
            "stopped before it finished"
        )
    if info.bits_per_sample < 4:
        raise MediaProblem(f"STREAMINFO bits per sample is {info.bits_per_sample} (4-32)")
    if min_block < 16 or max_block < min_block:
        raise MediaProblem(
            f"STREAMINFO block sizes {min_block}-{max_block} (16 or more, min ≤ max)"
        )
    return info


def check_midi_header(head: bytes) -> None:
    """Raise `MediaProblem` unless `head` (a file's first 14 bytes) is a Standard MIDI File's
    header chunk: "MThd", length 6, format 0/1/2, at least one track (exactly one for
    format 0), a division that is ticks per quarter note (> 0) or SMPTE (-24/-25/-29/-30)."""
    if not head:
        raise MediaProblem("empty (0 bytes)")
    if head[:4] != b"MThd":
        raise MediaProblem(f"not MIDI: does not start with 'MThd' (starts with {head[:8]!r})")
    if len(head) < MIDI_HEAD_BYTES:
        raise MediaProblem(f"truncated: {len(head)} bytes, shorter than a MIDI header")
    length = int.from_bytes(head[4:8], "big")
    fmt = int.from_bytes(head[8:10], "big")
    tracks = int.from_bytes(head[10:12], "big")
    division = int.from_bytes(head[12:14], "big")
    if length != 6:
        raise MediaProblem(f"MThd chunk length is {length}, not 6")
    if fmt not in (0, 1, 2):
        raise MediaProblem(f"MIDI format {fmt} (0, 1 or 2)")
    if tracks == 0 or (fmt == 0 and tracks != 1):
        raise MediaProblem(f"MIDI format {fmt} with {tracks} tracks")
    smpte = (division >> 8) - 256 in MIDI_SMPTE_FORMATS  # top bit set: a negative byte
    if division == 0 or (division >> 15 and not smpte):
        raise MediaProblem(f"MIDI division 0x{division:04x} is neither ticks nor SMPTE")


def read_head(path: str, size: int) -> bytes:
    """The first `size` bytes of a file (fewer if it is shorter)."""
    with open(path, "rb", buffering=0) as f:
        return f.read(size)


@dataclass(frozen=True, slots=True)
class BadMedia:
    """A media file that is not what its extension says, and the sample it belongs to."""

    row: int  # of labels/samples.parquet
    sample_id: str
    relpath: str
    problem: str

    def __str__(self) -> str:
        return f"{self.relpath}: {self.problem}"


def check_media(
    root: Path,
    audio: list[MediaFile | None],
    midi: list[MediaFile | None],
    sample_ids: list[str],
    *,
    verify_audio: bool = False,
    workers: int = 1,
    progress: bool = False,
    bar: tqdm | None = None,
    heads: HeadChecks | None = None,
) -> tuple[list[StreamInfo | None], list[BadMedia]]:
    """Check every file's head (and with `verify_audio` decode every FLAC whole), the heads
    with `heads` (else in this process).

    Returns each row's StreamInfo (None without audio, or when the audio is bad) and the bad
    files, in row order (audio before MIDI within a row). Reads 14 bytes of a MIDI file, a FLAC
    file's head and last frame (decoded). The bytes `verify_audio` decodes are shown on `bar`
    (its total grown by them) if given, else on a bar of its own.
    """
    files = [
        (row, media, kind)
        for row, pair in enumerate(zip(audio, midi))
        for kind, media in zip(("audio", "midi"), pair)
        if media is not None
    ]
    paths = [(os.path.join(root, media.relpath), kind) for _, media, kind in files]
    infos: list[StreamInfo | None] = [None] * len(audio)
    bad: list[BadMedia] = []
    results = (heads or HeadChecks(1))(paths)
    for (row, media, _), (info, problem) in zip(files, results, strict=True):  # a result a file
        if problem is not None:
            bad.append(BadMedia(row, sample_ids[row], media.relpath, problem))
        if info is not None:
            infos[row] = info
    if verify_audio:
        rows = [row for row, info in enumerate(infos) if info is not None]
        todo = [(os.path.join(root, audio[row].relpath), infos[row]) for row in rows]
        total = sum(audio[row].size for row in rows)
        with nullcontext(bar) if bar is not None else verify_bar(progress) as shown:
            shown.total = (shown.total or 0) + total
            shown.refresh()
            for row, problem in zip(rows, verify_flacs(todo, max(1, workers)), strict=True):
                shown.update(audio[row].size)
                if problem is not None:
                    bad.append(BadMedia(row, sample_ids[row], audio[row].relpath, problem))
    bad.sort(key=lambda b: (b.row, b.relpath != getattr(audio[b.row], "relpath", None)))
    for b in bad:
        infos[b.row] = None
    return infos, bad


def bad_media_lines(
    bad: list[BadMedia], limit: int = BAD_MEDIA_SHOWN, with_sample: bool = False
) -> list[str]:
    """`  path: problem` (after `sample_id: `) for the first `limit` bad files, then a count."""
    lines = [f"  {b.sample_id}: {b}" if with_sample else f"  {b}" for b in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  … and {len(bad) - limit} more")
    return lines


def audio_property_columns(infos: list[StreamInfo | None]) -> dict[str, pa.Array]:
    """The split tables' `AUDIO_PROPERTY_COLUMNS` from each row's StreamInfo (null: none)."""
    values = {
        "sample_rate": [i.sample_rate if i else None for i in infos],
        "channels": [i.channels if i else None for i in infos],
        "frames": [i.total_frames if i else None for i in infos],
    }
    types = {"sample_rate": pa.int32(), "channels": pa.int32(), "frames": pa.int64()}
    return {
        column: pa.array(values[name], type=types[name])
        for column, name in zip(AUDIO_PROPERTY_COLUMNS, ("sample_rate", "channels", "frames"))
    }


class HeadChecks:
    """`check_heads` of many lists of files in `workers` forked processes (in this one when
    1, or while every list fits in one hand-off), started once, when first needed; a context
    manager (leaving it ends them). Workers die with their parent."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = None

    def __enter__(self) -> HeadChecks:
        return self

    def __exit__(self, error_type, *exc) -> None:
        if self._pool is not None:
            if error_type is None:
                self._pool.close()  # the workers end when the queue is drained
            else:
                self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __call__(
        self, paths: list[tuple[str, str]]
    ) -> Iterator[tuple[StreamInfo | None, str | None]]:
        """`check_heads(paths)`, in order."""
        chunks = [paths[i : i + HEAD_CHUNK] for i in range(0, len(paths), HEAD_CHUNK)]
        if self.workers <= 1 or len(chunks) <= 1:
            return (result for chunk in chunks for result in check_heads(chunk))
        if self._pool is None:
            context = multiprocessing.get_context("fork")
            self._pool = context.Pool(self.workers, helper_of, (os.getpid(),))
        return (result for results in self._pool.imap(check_heads, chunks) for result in results)


def check_heads(paths: list[tuple[str, str]]) -> list[tuple[StreamInfo | None, str | None]]:
    """For each `(path, kind)` ("audio" or "midi"), in order: (StreamInfo for audio, problem).

    The problem is None for a good file; a file that cannot be read is a problem too.
    """
    return [_check_head(path, kind) for path, kind in paths]


def _check_head(path: str, kind: str) -> tuple[StreamInfo | None, str | None]:
    try:
        if kind == "audio":
            with open(path, "rb", buffering=0) as f:
                head = f.read(FLAC_HEAD_BYTES)
                info = parse_streaminfo(head)
                size = os.fstat(f.fileno()).st_size
                problem = check_flac_tail(f, head, size, info.total_frames)
            return (None, problem) if problem else (info, None)
        check_midi_header(read_head(path, MIDI_HEAD_BYTES))
        return None, None
    except MediaProblem as e:
        return None, str(e)
    except OSError as e:
        return None, f"cannot be read ({e.strerror or e})"


def verify_flac(path: str | os.PathLike, info: StreamInfo) -> str | None:
    """Decode the whole file in blocks (constant memory): the problem, or None when it
    decodes to exactly the frames `info` (its STREAMINFO) promises."""
    import numpy as np
    import soundfile as sf

    decoded = 0
    try:
        with sf.SoundFile(path) as f:
            out = np.empty((VERIFY_BLOCK_FRAMES, f.channels), dtype=np.int32)
            while n := len(f.read(VERIFY_BLOCK_FRAMES, dtype="int32", out=out)):
                decoded += n
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        end = min(decoded + VERIFY_BLOCK_FRAMES, info.total_frames)
        return (
            f"truncated or corrupt: decoding fails within frames {decoded:,}-{end:,} of "
            f"{info.total_frames:,} ({str(e).strip()})"
        )
    if decoded != info.total_frames:
        return f"decodes to {decoded:,} frames, STREAMINFO says {info.total_frames:,}"
    return None


def verify_flacs(files: list[tuple[str, StreamInfo]], workers: int) -> Iterator[str | None]:
    """`verify_flac` of each `(path, info)`, in order, in `workers` threads (libsndfile
    decodes outside the GIL)."""

    def chunk(start: int) -> list[str | None]:
        return [verify_flac(path, info) for path, info in files[start : start + VERIFY_CHUNK]]

    yield from _in_threads(chunk, range(0, len(files), VERIFY_CHUNK), workers)


def _in_threads(work: Callable[[int], list], starts: range, workers: int) -> Iterator:
    """`work(start)` for each start, flattened in order; in `workers` threads when > 1."""
    if workers <= 1 or len(starts) <= 1:
        for start in starts:
            yield from work(start)
        return
    with ThreadPoolExecutor(workers) as pool:
        for results in pool.map(work, starts):
            yield from results


def verify_bar(progress: bool) -> tqdm:
    """The "verifying audio" bar (bytes; `check_media` grows its total), hidden unless
    `progress`."""
    return byte_bar("verifying audio", 0, progress)
