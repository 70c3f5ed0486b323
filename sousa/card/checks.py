"""Does the text the card carries over from the source README still tell the truth?

The card keeps the source README's YAML keys and prose. The generator's own README describes a
different repo (configs `midi_only` and `labels_only`, a file `auxiliary/strokes.parquet`,
100K<n<1M samples): kept as is, the card would promise what the staging folder does not have.
`size_categories` is therefore computed from the sample count, and every config, split or file
that the kept text names and the folder lacks is reported as a warning naming it and its line
(packaging still succeeds: the text is the author's to fix, in the source README).

What counts as naming one (plain patterns, no guessing at free prose): the config and `split=`
arguments of `load_dataset(...)` calls; the first column of a markdown table headed "Config";
paths with a data file extension (`hf://datasets/{repo}/…` or relative with a folder).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection

from ..layout import MEDIA_KINDS, SPLITS, shard_path, split_table_path

SIZE_CATEGORIES = (  # the Hub's buckets, in its spelling
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
    (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
)
REPLACED_KEYS = ("configs", "dataset_info", "size_categories")  # the card writes its own

_DATA_EXTENSIONS = r"parquet|tar|arrow|jsonl|csv|flac|mid|midi|wav|mp3"
_HF_PATH = re.compile(
    rf"hf://datasets/[^/\s\"'`]+/[^/\s\"'`]+/([\w.*/-]+\.(?:{_DATA_EXTENSIONS}))\b"
)
_REL_PATH = re.compile(
    rf"(?<![\w./<>{{}}-])([\w*-][\w.*-]*(?:/[\w.*-]+)+\.(?:{_DATA_EXTENSIONS}))\b"
)
_LOAD_CALL = re.compile(r"load_dataset\(([^()]*)\)")
_STRING = re.compile(r"""^\s*(?:(\w+)\s*=\s*)?(["'])(.*)\2\s*$""")


def size_category(n: int) -> str:
    """The Hub's `size_categories` bucket for `n` samples."""
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>1T")


def card_warnings(readme: str | None, files: Collection[str], num_samples: int) -> list[str]:
    """What packaging should tell the author about the card's carried-over text."""
    from huggingface_hub import DatasetCard  # here, not on the way to the first shard

    warnings = stale_mentions(readme, files)
    said = DatasetCard(readme).data.get("size_categories") if readme else None
    computed = size_category(num_samples)
    if said and said != [computed]:
        warnings.insert(
            0,
            f"the card's size_categories is {computed} ({num_samples} samples); the source "
            f"README said {', '.join(map(str, said)) if isinstance(said, list) else said}",
        )
    return warnings


def stale_mentions(readme: str | None, files: Collection[str]) -> list[str]:
    """Warnings for configs, splits and files the kept README text names and `files` lacks.

    `files`: the staging folder's files (relative paths); they decide which configs (media
    kinds with a shard, else the split tables' `default`) and splits exist.
    """
    if not readme:
        return []
    from huggingface_hub import DatasetCard

    card = DatasetCard(readme)
    kept = {k: v for k, v in card.data.to_dict().items() if k not in REPLACED_KEYS}
    texts = [(str(kept), None), (card.text, max(readme.find(card.text), 0))]
    splits = [s for s in SPLITS if split_table_path(s) in files]
    configs = [k for k in MEDIA_KINDS if any(shard_path(k, s, 0) in files for s in splits)]
    configs = configs or ["default"]
    found: dict[tuple[str, str], str] = {}
    for text, offset in texts:
        for kind, name, at in _mentions(text):
            where = (
                "its YAML"
                if offset is None
                else f"line {readme.count(chr(10), 0, offset + at) + 1}"
            )
            found.setdefault((kind, name), where)
    warnings = []
    for (kind, name), where in found.items():
        if kind == "file":
            if name in files or fnmatch.filter(files, name):
                continue
            have = ""
        else:
            names = configs if kind == "config" else splits
            if name in names:
                continue
            have = f" (its {kind}s: {', '.join(names)})"
        warnings.append(
            f"source README.md ({where}) names {kind} {name!r}, which this repo does not have"
            f"{have}; the card keeps that text (fix it in the source README.md)"
        )
    return warnings


def _mentions(text: str):
    """(kind, name, offset) of each config, split and file named in `text`."""
    for match in _LOAD_CALL.finditer(text):
        positional = 0
        for part in match.group(1).split(","):
            string = _STRING.match(part)
            keyword = (
                string.group(1) if string else part.split("=")[0].strip() if "=" in part else None
            )
            if string and keyword in ("name", None) and (keyword or positional == 1):
                yield "config", string.group(3), match.start()
            if string and keyword == "split":
                yield "split", string.group(3).split("[")[0].split("+")[0], match.start()
            positional += keyword is None
    yield from _config_table_names(text)
    for pattern in (_HF_PATH, _REL_PATH):
        for match in pattern.finditer(text):
            yield "file", match.group(1), match.start()


def _config_table_names(text: str):
    """Backticked names in the first column of markdown tables whose header starts "Config"."""
    in_table = False
    offset = 0
    for line in text.splitlines(keepends=True):
        cells = (
            [c.strip() for c in line.strip().strip("|").split("|")]
            if line.lstrip().startswith("|")
            else []
        )
        if not cells:
            in_table = False
        elif cells[0].lower().startswith("config"):
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            name = re.match(r"`([^`]+)`", cells[0])
            if name:
                yield "config", name.group(1), offset
        offset += len(line)
