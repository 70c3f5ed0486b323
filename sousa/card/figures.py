"""The card's figures, drawn from `LabelStats` as PNG: readable on the Hub's light and dark pages.

PNG, not SVG: a browser shows a PNG in an `<img>` whatever content type the server sends, and
renders text the same everywhere (matplotlib's own DejaVu Sans, rasterised here), where an
SVG needs `image/svg+xml` and the viewer's fonts. Transparent background, text and axes in a
mid grey, bars and lines in mid-luminance colours: legible on white and on near-black alike.

Deterministic: the same statistics give the same bytes (matplotlib's default style whatever
the user's matplotlibrc, a fixed font, no `Software` or date metadata; Agg draws
deterministically). matplotlib is imported only here, when a figure is drawn, with the Agg
canvas and without pyplot.
"""

from __future__ import annotations

import io

from ..layout import (
    RUDIMENT_COLUMN,
    RUDIMENT_FIGURE_PATH,
    SCORE_COLUMN,
    SCORE_FIGURE_PATH,
    TIER_COLUMN,
)
from .stats import LabelStats, tier_order

GREY = "#8c8c8c"  # text, axes, ticks: ≥ 3:1 contrast on white and on the Hub's dark page
TIER_COLOURS = ("#e4572e", "#f0a202", "#2e9e6a", "#3c7dd9", "#a05fd0", "#8c8c8c")
DPI = 120
CHAR_INCHES = 0.068  # about the widest average character of DejaVu Sans at 9 pt, in inches
_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "text.color": GREY,
    "axes.labelcolor": GREY,
    "axes.edgecolor": GREY,
    "xtick.color": GREY,
    "ytick.color": GREY,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "savefig.transparent": True,
}


def render_figures(stats: LabelStats) -> dict[str, tuple[bytes, str]]:
    """path → (PNG bytes, alt text) of each figure the statistics allow (maybe none)."""
    wanted = []
    if stats.score_hist:
        wanted.append((SCORE_FIGURE_PATH, _score_figure, _score_alt(stats)))
    if stats.rudiment_tiers and stats.has_rudiments:
        wanted.append((RUDIMENT_FIGURE_PATH, _rudiment_figure, _rudiment_alt(stats)))
    if not wanted:
        return {}
    import matplotlib.style
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figures = {}
    with matplotlib.style.context("default"), matplotlib.rc_context(_STYLE):
        for path, draw, alt in wanted:
            figure = Figure()  # margins set by hand: a layout engine draws everything twice
            draw(figure, stats)
            for ax in figure.axes:  # sample counts are whole numbers
                (ax.xaxis if draw is _rudiment_figure else ax.yaxis).set_major_locator(
                    MaxNLocator(integer=True)
                )
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
            figures[path] = (buffer.getvalue(), alt)
    return figures


def _score_alt(stats: LabelStats) -> str:
    by = f" per {TIER_COLUMN}" if stats.has_tiers else ""
    return f"Distribution of {SCORE_COLUMN}{by}, all splits"


def _rudiment_alt(stats: LabelStats) -> str:
    by = f" and {TIER_COLUMN}" if stats.has_tiers else ""
    return f"Samples per {RUDIMENT_COLUMN}{by}, all splits"


def _margins(figure, width: float, height: float, left: float, bottom: float, top: float):
    """Size the figure and place its axes with margins in inches (right: 0.2 in)."""
    figure.set_size_inches(width, height)
    figure.subplots_adjust(
        left=left / width, right=1 - 0.2 / width, bottom=bottom / height, top=1 - top / height
    )


def _label(value: object) -> str:
    return "(null)" if value is None else str(value)


def _score_figure(figure, stats: LabelStats) -> None:
    """One step histogram per tier over the same bins (all samples as one without tiers)."""
    _margins(figure, 7.0, 3.4, left=0.7, bottom=0.5, top=0.6)
    ax = figure.add_subplot()
    edges = stats.score_edges
    for i, (tier, counts) in enumerate(stats.score_hist.items()):
        label = _label(tier) if stats.has_tiers else "all samples"
        colour = TIER_COLOURS[min(i, len(TIER_COLOURS) - 1)]
        ax.stairs(counts, edges, color=colour, linewidth=1.8, label=label)
        ax.stairs(counts, edges, color=colour, alpha=0.18, fill=True)
    ax.set_xlabel(SCORE_COLUMN)
    ax.set_ylabel("samples")
    ax.set_xlim(edges[0], edges[-1])
    _legend(ax, stats, len(stats.score_hist))


def _rudiment_figure(figure, stats: LabelStats) -> None:
    """Horizontal bars, one per rudiment, stacked by tier (one colour without tiers)."""
    rudiments = sorted({r for r, _ in stats.rudiment_tiers}, key=lambda r: (r is None, str(r)))
    tiers = tier_order({t for _, t in stats.rudiment_tiers})
    longest = max(len(_label(r)) for r in rudiments)
    height = 1.1 + 0.2 * len(rudiments)
    _margins(figure, 7.0, height, left=0.25 + CHAR_INCHES * longest, bottom=0.5, top=0.6)
    ax = figure.add_subplot()
    positions = list(range(len(rudiments)))[::-1]  # the first rudiment on top
    left = [0] * len(rudiments)
    for i, tier in enumerate(tiers):
        counts = [stats.rudiment_tiers[(r, tier)] for r in rudiments]
        colour = TIER_COLOURS[min(i, len(TIER_COLOURS) - 1)]
        label = _label(tier) if stats.has_tiers else "all samples"
        ax.barh(positions, counts, left=left, color=colour, height=0.75, label=label)
        left = [a + b for a, b in zip(left, counts)]
    ax.set_yticks(positions, [_label(r) for r in rudiments])
    ax.set_ylim(-0.6, len(rudiments) - 0.4)
    ax.set_xlabel("samples")
    ax.tick_params(axis="y", length=0)
    _legend(ax, stats, len(tiers))


def _legend(ax, stats: LabelStats, entries: int) -> None:
    """The tiers in one row above the axes, clear of the data."""
    title = TIER_COLUMN if stats.has_tiers else None
    ax.legend(title=title, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=max(1, entries))
