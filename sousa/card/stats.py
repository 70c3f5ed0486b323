"""The label statistics of a staging folder, over every sample, read from its split tables.

`label_stats(out)` reads `data/{split}-….parquet` (every split whole, labels-only samples
included) and only the columns it needs: the skill tier and rudiment columns one row group at
a time (sample counts); each numeric label column on its own (count, min, exact median, max);
the tier and `overall_score` columns one row group at a time again (the score histogram the
figure draws, in bins fixed by the score's range). Memory: one numeric column of one split.

Numeric labels: every integer or floating column but the packager's own (`audio_*`, `midi_*`:
the shard columns and media properties). A count leaves out nulls and NaN. Any table shape
works: a column that is absent is named in `LabelStats.missing`, and what it would have fed is
left out.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..layout import (
    EXPECTED_NUMERIC_LABELS,
    MEDIA_KINDS,
    RUDIMENT_COLUMN,
    RUDIMENT_FIGURE_PATH,
    SCORE_COLUMN,
    SCORE_FIGURE_PATH,
    SPLITS,
    TIER_COLUMN,
    TIER_ORDER,
    split_table_path,
)

SCORE_BINS = 30  # bins of the overall_score histogram, over the score's whole range


@dataclass(frozen=True)
class NumericSummary:
    """A numeric label over one split: values present (not null, not NaN) and their range."""

    count: int
    min: float | None
    median: float | None
    max: float | None


@dataclass
class LabelStats:
    """What the "Label statistics" section and its figures show (all plain data)."""

    splits: list[str]  # splits that have a table, in SPLITS order
    samples: dict[str, int]  # split → rows
    tiers: dict[str, Counter] = field(default_factory=dict)  # split → tier → samples
    rudiments: dict[str, Counter] = field(default_factory=dict)  # split → rudiment → samples
    rudiment_tiers: Counter = field(default_factory=Counter)  # (rudiment, tier) → samples, all
    numeric: dict[str, dict[str, NumericSummary]] = field(default_factory=dict)  # split → col →
    numeric_columns: list[str] = field(default_factory=list)  # in the tables' column order
    score_edges: list[float] = field(default_factory=list)  # histogram bin edges
    score_hist: dict[object, list[int]] = field(default_factory=dict)  # tier → counts per bin
    missing: list[str] = field(default_factory=list)  # expected columns the tables lack

    @property
    def has_tiers(self) -> bool:
        return TIER_COLUMN not in self.missing

    @property
    def has_rudiments(self) -> bool:
        return RUDIMENT_COLUMN not in self.missing


def label_stats(out: Path) -> LabelStats:
    """Read the split tables of the staging folder `out` (those that exist) into `LabelStats`."""
    paths = {s: Path(out) / split_table_path(s) for s in SPLITS}
    paths = {s: p for s, p in paths.items() if p.is_file()}
    schemas = {s: pq.read_schema(p) for s, p in paths.items()}
    names = _common_columns(list(schemas.values()))
    stats = LabelStats(
        splits=list(paths),
        samples={s: pq.ParquetFile(p).metadata.num_rows for s, p in paths.items()},
    )
    expected = (TIER_COLUMN, RUDIMENT_COLUMN, *EXPECTED_NUMERIC_LABELS)
    stats.missing = [c for c in dict.fromkeys(expected) if c not in names]
    if paths:
        first = next(iter(schemas.values()))
        stats.numeric_columns = [
            f.name for f in first if f.name in names and _is_numeric_label(f.name, f.type)
        ]
        stats.missing += [
            c for c in EXPECTED_NUMERIC_LABELS if c in names and c not in stats.numeric_columns
        ]
    for split, path in paths.items():
        _count_categories(stats, split, path)
        parquet = pq.ParquetFile(path)  # opened once: its footer parsed once
        stats.numeric[split] = {c: _summarize(parquet, c) for c in stats.numeric_columns}
    if SCORE_COLUMN in stats.numeric_columns:
        _score_histogram(stats, paths)
    return stats


def _common_columns(schemas: list[pa.Schema]) -> set[str]:
    """Columns every split table has (they share one schema; this guards a hand-made folder)."""
    sets = [set(s.names) for s in schemas]
    return set.intersection(*sets) if sets else set()


def _is_numeric_label(name: str, t: pa.DataType) -> bool:
    if any(name.startswith(f"{kind}_") for kind in MEDIA_KINDS):  # the packager's columns
        return False
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _plain(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A dictionary-encoded column as its values (pandas categories arrive that way)."""
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _count_categories(stats: LabelStats, split: str, path: Path) -> None:
    """Samples by tier, by rudiment, and by (rudiment, tier): one row group at a time."""
    columns = [c for c in (TIER_COLUMN, RUDIMENT_COLUMN) if c not in stats.missing]
    if not columns:
        return
    tiers, rudiments = Counter(), Counter()
    parquet = pq.ParquetFile(path)
    for index in range(parquet.num_row_groups):
        group = parquet.read_row_group(index, columns=columns)
        tier = _plain(group.column(TIER_COLUMN)).to_pylist() if stats.has_tiers else None
        rudiment = (
            _plain(group.column(RUDIMENT_COLUMN)).to_pylist() if stats.has_rudiments else None
        )
        if tier is not None:
            tiers.update(tier)
        if rudiment is not None:
            rudiments.update(rudiment)
            stats.rudiment_tiers.update(zip(rudiment, tier or [None] * len(rudiment)))
    if stats.has_tiers:
        stats.tiers[split] = tiers
    if stats.has_rudiments:
        stats.rudiments[split] = rudiments


def _present(parquet: pq.ParquetFile, column: str) -> np.ndarray:
    """One numeric column of one table as float64, nulls and NaN left out."""
    values = parquet.read(columns=[column]).column(column).drop_null()
    array = values.to_numpy().astype(np.float64, copy=False)
    return array[~np.isnan(array)]


def _summarize(parquet: pq.ParquetFile, column: str) -> NumericSummary:
    values = _present(parquet, column)
    if not len(values):
        return NumericSummary(0, None, None, None)
    low, mid, high = (float(v) for v in (values.min(), np.median(values), values.max()))
    return NumericSummary(len(values), low, mid, high)


def _score_histogram(stats: LabelStats, paths: dict[str, Path]) -> None:
    """`overall_score` counted in SCORE_BINS equal bins over its range, per tier, all splits."""
    lows = [s[SCORE_COLUMN].min for s in stats.numeric.values() if s[SCORE_COLUMN].count]
    highs = [s[SCORE_COLUMN].max for s in stats.numeric.values() if s[SCORE_COLUMN].count]
    if not lows:
        return
    low, high = math.floor(min(lows)), math.ceil(max(highs))
    high = high if high > low else low + 1
    edges = np.linspace(low, high, SCORE_BINS + 1)
    stats.score_edges = [float(e) for e in edges]
    columns = [SCORE_COLUMN] + ([TIER_COLUMN] if stats.has_tiers else [])
    hist: dict[object, np.ndarray] = {}
    for path in paths.values():
        parquet = pq.ParquetFile(path)
        for index in range(parquet.num_row_groups):
            group = parquet.read_row_group(index, columns=columns)
            scores = group.column(SCORE_COLUMN).to_numpy().astype(np.float64)  # null → NaN
            tier = _plain(group.column(TIER_COLUMN)) if stats.has_tiers else None
            names = tier.to_pylist() if tier is not None else [None] * len(scores)
            tiers = np.array(names, dtype=object)
            for name in dict.fromkeys(tiers.tolist()):
                picked = scores[(tiers == name) & ~np.isnan(scores)]
                counts = np.histogram(picked, bins=edges)[0]
                hist[name] = hist.get(name, np.zeros(SCORE_BINS, dtype=np.int64)) + counts
    stats.score_hist = {t: hist[t].tolist() for t in tier_order(hist)}


def tier_order(values) -> list:
    """The generator's tiers in their order, then any other values sorted, null last."""
    rank = {t: i for i, t in enumerate(TIER_ORDER)}
    return sorted(values, key=lambda t: (t is None, rank.get(t, len(rank)), str(t)))


_MISSING_NOTES = {
    TIER_COLUMN: "no counts by skill tier; the score figure shows all samples as one",
    RUDIMENT_COLUMN: "no counts by rudiment, and no rudiment figure",
    SCORE_COLUMN: "no score figure",
}


def statistics_section(stats: LabelStats, figures: dict[str, str]) -> str:
    """Markdown: "Label statistics", its tables and the `figures` (path → alt text) it embeds.

    `figures` holds only the figures that were written; each appears under its table."""
    all_samples = sum(stats.samples.values())
    parts = [
        "\n## Label statistics",
        f"Computed when packaging, from the split tables (`data/*.parquet`): all {all_samples} "
        "samples, every split whole, labels-only samples included.",
    ]
    if stats.missing:
        parts.append(
            "The split tables lack these columns, so this section leaves out what they feed:\n\n"
            + "\n".join(
                f"- `{c}`: {_MISSING_NOTES.get(c, 'not among the numeric labels')}"
                for c in stats.missing
            )
        )
    if stats.has_tiers:
        parts.append(f"### Samples by skill tier (`{TIER_COLUMN}`)")
        parts.append(_count_table(TIER_COLUMN, stats.tiers, stats.splits, tier_order))
    parts += [f"![{figures[p]}]({p})" for p in (SCORE_FIGURE_PATH,) if p in figures]
    if stats.has_rudiments:
        parts.append(f"### Samples by rudiment (`{RUDIMENT_COLUMN}`)")
        parts.append(_count_table(RUDIMENT_COLUMN, stats.rudiments, stats.splits, _by_name))
    parts += [f"![{figures[p]}]({p})" for p in (RUDIMENT_FIGURE_PATH,) if p in figures]
    if stats.numeric_columns:
        parts.append(
            "### Numeric labels\n\nPer split: how many samples have a value (null and NaN left "
            "out), the smallest, the median and the largest."
        )
        for split in stats.splits:
            parts.append(f"#### {split}\n\n" + _numeric_table(stats.numeric[split]))
    return "\n\n".join(parts) + "\n"


def _by_name(values) -> list:
    return sorted(values, key=lambda v: (v is None, str(v)))


def _cell(value) -> str:
    return "(null)" if value is None else str(value).replace("|", "\\|")


def _count_table(column: str, counts: dict[str, Counter], splits: list[str], order) -> str:
    values = order(set().union(*(c.keys() for c in counts.values())))
    head = f"| {column} | " + " | ".join(splits) + " | all |\n|---|" + "---:|" * (len(splits) + 1)
    rows = [
        f"| {_cell(v)} | "
        + " | ".join(str(counts[s][v]) for s in splits)
        + f" | {sum(counts[s][v] for s in splits)} |"
        for v in values
    ]
    return "\n".join([head, *rows])


def _numeric_table(summaries: dict[str, NumericSummary]) -> str:
    rows = [
        f"| {name} | {s.count} | {format_number(s.min)} | {format_number(s.median)} | "
        f"{format_number(s.max)} |"
        for name, s in summaries.items()
    ]
    return "\n".join(["| label | count | min | median | max |", "|---|---:|---:|---:|---:|", *rows])


def format_number(value: float | None) -> str:
    """A table cell: integers whole, others to 4 significant digits (1 decimal from 1000)."""
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.1f}" if abs(value) >= 1000 else f"{value:.4g}"
