"""Range reads of a shard: the byte spans holding selected samples, read one request each.

`plan_spans` coalesces the selected members of one shard into spans (a member and its header;
an audio sample with MIDI runs on to the next sample), `use_ranges` says whether reading them
costs less than streaming the shard, `open_ranged` / `read_exactly` read them, and
`span_examples` parses the TAR headers of a span (`sousa.tar_format`) into the builder's
examples (`sample_example`). Used by `sousa.fetch` and, for filtered selections, by `sousa.load`
(`sousa.read.package_builder`). Public `fsspec` / `huggingface_hub` only; not staged.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import datasets
import fsspec

from ..layout import Manifest, member_key, shard_column
from ..tar_format import (
    BLOCK,
    END_OF_ARCHIVE,
    ZERO_BLOCK,
    TarHeaderError,
    member_span,
    parse_tar_header,
)
from .builder import SousaDataError, fs_options, is_url, sample_example

__all__ = [
    "MAX_GAP",
    "REQUEST_COST",
    "Span",
    "open_ranged",
    "plan_spans",
    "read_exactly",
    "shard_archive_end",
    "span_examples",
    "use_ranges",
]

# What a request costs beyond its body, in bytes of shard streamed in the same time, for
# choosing between range reads of a shard's selected members and streaming it whole
# (`use_ranges`). Measured with benchmarks/selective.py (BENCHMARKS.md, "Selective reads"):
# 0.5-1.1 MB over the loopback Hub emulator, 23-56 KB on a local disk with a warm page cache.
# The real Hub's requests cost more (TLS, redirects): 1 MiB errs towards streaming there.
REQUEST_COST = {"remote": 1024 * 1024, "local": 64 * 1024}
MAX_GAP = 8 * 1024  # read across a gap this small rather than issue one more request


@dataclass(frozen=True)
class Span:
    """Bytes `[start, end)` of a shard: whole members (headers included) of the selected
    rows `first:stop` (rows in offset order), and whatever lies between them."""

    start: int
    end: int
    first: int
    stop: int


def plan_spans(
    offsets: list[int],
    whole: list[bool],
    sizes: list[int],
    shard_offsets: list[int],
    archive_end: int,
    max_gap: int = MAX_GAP,
) -> list[Span]:
    """Coalesced byte ranges holding selected members of one shard.

    `offsets`/`sizes`: the selected rows' members (ascending offsets). A row with `whole`
    needs its whole sample (an audio member and the MIDI member after it): its span runs to
    the next sample's first header, found among `shard_offsets` (every table member of the
    shard, ascending), or to `archive_end`. Otherwise the span is the member and its header.
    Spans closer than `max_gap` merge: one request instead of two.
    """
    spans: list[Span] = []
    for i, (offset, size, to_next) in enumerate(zip(offsets, sizes, whole)):
        start, end = offset - BLOCK, offset + size
        if to_next:
            j = bisect.bisect_right(shard_offsets, offset)
            end = shard_offsets[j] - BLOCK if j < len(shard_offsets) else archive_end
        if spans and start - spans[-1].end <= max_gap:
            spans[-1] = Span(spans[-1].start, max(end, spans[-1].end), spans[-1].first, i + 1)
        else:
            spans.append(Span(start, end, i, i + 1))
    return spans


def shard_archive_end(manifest: Manifest, shard: str) -> int:
    """Where the last member of `shard` (e.g. `audio/train-00000.tar`) ends: its size in the
    manifest less the end-of-archive blocks."""
    entry = manifest.files.get(shard)
    if entry is None:
        raise SousaDataError(f"the manifest does not list {shard}, which the split table names")
    return entry.size - END_OF_ARCHIVE


def use_ranges(spans: list[Span], shard_size: int, where: str) -> bool:
    """Range-read the spans (rather than stream the whole shard) when their bytes plus a
    request's cost each (`where`: "remote" or "local") come to less than the shard."""
    cost = sum(s.end - s.start for s in spans) + len(spans) * REQUEST_COST[where]
    return cost < shard_size


def open_ranged(path: str, size: int | None, download_config: datasets.DownloadConfig) -> BinaryIO:
    """A file where every `read(n)` after `seek(o)` fetches exactly bytes `o..o+n`: one HTTP
    range request for a URL (fsspec `cache_type="none"`: no read-ahead), a plain unbuffered
    file locally. `size` (from the manifest) spares a metadata request."""
    if not is_url(path):
        return open(path, "rb", buffering=0)
    fs, inner = fsspec.core.url_to_fs(path, **fs_options(path, download_config))
    return fs.open(inner, "rb", cache_type="none", size=size)


def read_exactly(f: BinaryIO, start: int, length: int, where: str) -> bytes:
    """`length` bytes at `start` of the open file `f` (a short read is a truncated shard)."""
    f.seek(start)
    chunks, remaining = [], length
    while remaining > 0:
        chunk = f.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    if len(data) != length:
        raise SousaDataError(
            f"{where}: expected {length} bytes at offset {start}, got {len(data)} "
            "(truncated shard?)"
        )
    return data


def member_header(header: bytes, shard: str, offset: int) -> tuple[str, int]:
    """(name, size) of the member header at `offset` of a shard (`parse_tar_header`); a block
    that is not one is a `SousaDataError` naming the shard and offset."""
    try:
        return parse_tar_header(header)
    except TarHeaderError as err:
        if str(err) == "no TAR header":
            raise SousaDataError(
                f"shard {shard}: no TAR header at offset {offset}: the split table's offsets do "
                "not match the shard, or the shard is damaged"
            ) from None
        raise SousaDataError(f"shard {shard}: {err}") from None


def span_members(data: bytes, start: int, shard: str) -> dict[str, bytes]:
    """The TAR members (name → bytes) in a span read at `start` of a shard: each header's
    checksum, name and size are parsed, so offsets that miss a header are caught here."""
    members, pos = {}, 0
    while pos + BLOCK <= len(data):
        header = data[pos : pos + BLOCK]
        if header == ZERO_BLOCK:
            break  # the end-of-archive blocks
        name, size = member_header(header, shard, start + pos)
        body = data[pos + BLOCK : pos + BLOCK + size]
        if len(body) != size:
            raise SousaDataError(f"shard {shard}: member {name!r} runs past its span")
        members[name] = body
        pos += member_span(size)
    return members


def span_examples(data: bytes, span: Span, rows: list[dict], kind: str, labels, shard: str,
                  stems: frozenset) -> Iterator[tuple[str, dict]]:  # fmt: skip
    """(key, example) of each selected row in a span read from a shard (`rows`: the span's
    rows); a member whose sample is not in the split table (`stems`) is a mismatch."""
    members = span_members(data, span.start, shard)
    strangers = sorted(name for name in members if member_key(name) not in stems)
    if strangers:
        raise SousaDataError(
            f"member {strangers[0]!r} of shard {shard} belongs to no sample of the split table "
            "(mismatched ids: shard and table disagree)"
        )
    for row in rows:
        example = sample_example(row, labels, kind, members, shard)
        yield example.get("sample_id", member_key(row[shard_column(kind, "filename")])), example
