"""The card's "Label statistics": its tables equal pandas' counts over the split tables, its
figures are real, referenced, listed and reproducible, and any table shape gets the section."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

import sousa.write.beside
from sousa.card.figures import render_figures
from sousa.card.stats import label_stats, statistics_section
from sousa.demo import write_demo
from sousa.layout import (
    RUDIMENT_COLUMN,
    RUDIMENT_FIGURE_PATH,
    SCORE_COLUMN,
    SCORE_FIGURE_PATH,
    SPLITS,
    TIER_COLUMN,
    split_table_path,
)
from sousa.write.beside import FigureProcess
from sousa.write.pipeline import PackageOptions, package_dataset
from sousa.write.staging import MANIFEST

FIGURES = (SCORE_FIGURE_PATH, RUDIMENT_FIGURE_PATH)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def statistics_text(staging: Path) -> str:
    text = DatasetCard.load(staging / "README.md").text
    return text.split("\n## Label statistics\n", 1)[1].split("\n## ", 1)[0]


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """Each table of `text` under the heading above it: heading → rows of cells, header first
    (the `---` row left out)."""
    tables: dict[str, list[list[str]]] = {}
    heading = None
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and heading is not None:
            cells = [c.strip().replace("\\|", "|") for c in line.strip()[1:-1].split(" | ")]
            if not set("".join(cells)) <= set("-: |"):
                tables.setdefault(heading, []).append(cells)
    return tables


def frames(staging: Path) -> dict[str, pd.DataFrame]:
    paths = {s: staging / split_table_path(s) for s in SPLITS}
    return {s: pd.read_parquet(p) for s, p in paths.items() if p.is_file()}


def check_count_table(rows: list[list[str]], column: str, tables: dict[str, pd.DataFrame]):
    """The card's counts of `column` (value x split, and the `all` column) equal pandas'."""
    header, body = rows[0], rows[1:]
    assert header == [column, *tables, "all"]
    card = {}
    for row in body:
        counts = [int(c) for c in row[1:]]
        assert counts[-1] == sum(counts[:-1]), row
        card |= {(row[0], split): n for split, n in zip(tables, counts[:-1]) if n}
    want = {}
    for split, df in tables.items():
        for value, n in df[column].value_counts(dropna=False).items():
            want[("(null)" if pd.isna(value) else str(value), split)] = int(n)
    assert card == want


def check_numeric_tables(tables_md: dict, tables: dict[str, pd.DataFrame]):
    """Count, min, median and max of every numeric label, per split, equal pandas'."""
    for split, df in tables.items():
        rows = tables_md[split]
        assert rows[0] == ["label", "count", "min", "median", "max"]
        numeric = df.select_dtypes("number")
        labels = [c for c in numeric.columns if not c.startswith(("audio_", "midi_"))]
        assert [r[0] for r in rows[1:]] == labels
        for label, count, low, mid, high in rows[1:]:
            values = numeric[label].astype("float64").dropna()
            assert int(count) == len(values), (split, label)
            for cell, want in zip((low, mid, high), (values.min(), values.median(), values.max())):
                if values.empty:
                    assert cell == "–"
                else:
                    assert float(cell) == pytest.approx(want, rel=1e-3, abs=1e-12), (label, cell)


def check_section(staging: Path) -> dict[str, list[list[str]]]:
    text = statistics_text(staging)
    tables = markdown_tables(text)
    data = frames(staging)
    check_count_table(tables[f"Samples by skill tier (`{TIER_COLUMN}`)"], TIER_COLUMN, data)
    check_count_table(tables[f"Samples by rudiment (`{RUDIMENT_COLUMN}`)"], RUDIMENT_COLUMN, data)
    check_numeric_tables(tables, data)
    return tables


def test_the_cards_tables_equal_pandas_counts_over_the_split_tables(staging):
    check_section(staging)
    text = statistics_text(staging)
    total = sum(len(df) for df in frames(staging).values())
    assert f"all {total} samples" in text


def test_statistics_read_every_row_group_of_the_split_tables(staging, tmp_path):
    """Split tables of many row groups (7 rows each) give the same tables and histograms."""
    for split in SPLITS:
        rel = split_table_path(split)
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        table = pq.read_table(staging / rel)
        pq.write_table(table, tmp_path / rel, row_group_size=7)
        assert pq.ParquetFile(tmp_path / rel).num_row_groups > 1
    stats = label_stats(tmp_path)
    (tmp_path / "README.md").write_text(f"---\n---\n\n{statistics_section(stats, {})}")
    check_section(tmp_path)
    scores = pd.concat(frames(tmp_path).values())
    want = scores.dropna(subset=[SCORE_COLUMN]).groupby(TIER_COLUMN).size().to_dict()
    assert {t: sum(c) for t, c in stats.score_hist.items()} == want
    assert stats.score_edges[0] <= scores[SCORE_COLUMN].min()
    assert stats.score_edges[-1] >= scores[SCORE_COLUMN].max()


def test_figures_are_png_files_the_card_embeds_and_the_manifest_lists(staging):
    card = (staging / "README.md").read_text()
    manifest = json.loads((staging / MANIFEST).read_text())["files"]
    for rel in FIGURES:
        data = (staging / rel).read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert f"]({rel})" in card
        assert manifest[rel]["size"] == len(data)
        image = matplotlib.image.imread(staging / rel)
        assert image.shape[2] == 4 and image[0, 0, 3] == 0, "transparent: light and dark pages"
    assert "| `figures/` | 2 |" in card


def test_two_packagings_give_byte_identical_figures_and_card(demo_template, tmp_path):
    """One worker draws in the packager's thread, two in a `FigureProcess`: the same bytes,
    and no process left behind."""
    outs = [tmp_path / "one", tmp_path / "two"]
    for workers, out in enumerate(outs, 1):
        options = PackageOptions(demo_template, out, repo_id="zkeown/sousa", workers=workers)
        package_dataset(options)
    for rel in (*FIGURES, "README.md"):
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    assert multiprocessing.active_children() == []


def test_a_figure_process_ends_when_closed_drawn_or_not(staging):
    """Closed unused (the folder was current, or the run failed first), it is ended at once;
    after drawing, it has exited by itself."""
    unused = FigureProcess()
    unused.close()
    assert unused._process.exitcode is not None
    drawn = FigureProcess()
    figures = drawn.draw(label_stats(staging))()
    drawn.close()
    assert drawn._process.exitcode == 0 and set(figures) == set(FIGURES)


def test_an_error_drawing_in_the_figure_process_fails_the_run_and_leaves_no_card(
    demo_template, tmp_path, monkeypatch
):
    def no_ink(stats):
        raise ValueError("no ink")

    monkeypatch.setattr(sousa.write.beside, "render_figures", no_ink)  # inherited by the fork
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="no ink"):
        package_dataset(PackageOptions(demo_template, out, workers=2))
    assert not (out / "README.md").exists() and not list(out.glob("figures/*"))
    assert multiprocessing.active_children() == []


def test_figures_ignore_the_users_matplotlib_settings(staging):
    stats = label_stats(staging)
    plain = render_figures(stats)
    user = {"font.size": 20, "axes.facecolor": "red", "savefig.dpi": 40, "lines.linewidth": 9}
    with matplotlib.rc_context(user):
        styled = render_figures(stats)
    assert plain == styled and set(plain) == set(FIGURES)


def test_a_labels_only_dataset_gets_the_same_section(tmp_path):
    """The generator's default mode: no audio, 5 augmentations, MIDI for the first only."""
    src = write_demo(tmp_path / "src", n_samples=40, with_audio=False, augmentations=5)
    out = tmp_path / "out"
    package_dataset(PackageOptions(source=src, out=out))
    tables = check_section(out)
    assert len(tables[f"Samples by skill tier (`{TIER_COLUMN}`)"]) > 2
    assert all((out / rel).is_file() for rel in FIGURES)
    assert "labels-only samples included" in statistics_text(out)


def drop_columns(source: Path, names: set[str]) -> None:
    for table in ("samples", "exercises"):
        path = source / "labels" / f"{table}.parquet"
        data = pq.read_table(path)
        pq.write_table(data.drop_columns([c for c in names if c in data.column_names]), path)


@pytest.mark.parametrize(
    "dropped",
    [
        {TIER_COLUMN, SCORE_COLUMN},
        {RUDIMENT_COLUMN, "tempo_bpm"},
        {TIER_COLUMN, RUDIMENT_COLUMN, SCORE_COLUMN, "tempo_bpm", "duration_sec"},
    ],
)
def test_absent_columns_are_named_and_the_rest_shown(source, dropped, tmp_path):
    out = tmp_path / "out"
    package_dataset(PackageOptions(source=source, out=out))
    assert all((out / rel).is_file() for rel in FIGURES)
    drop_columns(source, dropped)
    package_dataset(PackageOptions(source=source, out=out))  # the same folder, packaged again
    text = statistics_text(out)
    tables = markdown_tables(text)
    for column in dropped:
        assert f"- `{column}`: " in text
    assert (f"Samples by skill tier (`{TIER_COLUMN}`)" in tables) == (TIER_COLUMN not in dropped)
    rudiments = f"Samples by rudiment (`{RUDIMENT_COLUMN}`)"
    assert (rudiments in tables) == (RUDIMENT_COLUMN not in dropped)
    check_numeric_tables(tables, frames(out))
    manifest = json.loads((out / MANIFEST).read_text())["files"]
    shown = {SCORE_FIGURE_PATH: SCORE_COLUMN, RUDIMENT_FIGURE_PATH: RUDIMENT_COLUMN}
    for rel, column in shown.items():
        kept = column not in dropped
        assert (out / rel).is_file() == kept == (rel in manifest) == (f"]({rel})" in text), rel
    if TIER_COLUMN in dropped and SCORE_COLUMN not in dropped:
        assert "all samples as one" in text


def test_a_score_column_of_nulls_and_nan_counts_zero_and_draws_no_score_figure(tmp_path):
    rel = split_table_path("train")
    (tmp_path / rel).parent.mkdir(parents=True)
    df = pd.DataFrame(
        {TIER_COLUMN: ["beginner", None, "expert"], SCORE_COLUMN: [np.nan, None, np.nan]}
    )
    df.to_parquet(tmp_path / rel)
    stats = label_stats(tmp_path)
    assert stats.numeric["train"][SCORE_COLUMN].count == 0
    assert stats.tiers["train"] == {"beginner": 1, None: 1, "expert": 1}
    assert set(render_figures(stats)) == set(), "no rudiments, no scores: nothing to draw"
    text = statistics_section(stats, {})
    assert "| (null) | 1 | 1 |" in text and "| expert | 1 | 1 |" in text
    assert f"- `{RUDIMENT_COLUMN}`: " in text and "- `tempo_bpm`: " in text


def test_the_figures_folder_is_managed_stale_figures_go(source, tmp_path):
    """A figure file the run did not make (an older run's) is removed, like a stale shard."""
    out = tmp_path / "out"
    package_dataset(PackageOptions(source=source, out=out))
    (out / "figures" / "old.png").write_bytes(PNG_MAGIC)
    shutil.rmtree(out / "data")  # so the folder is packaged again
    package_dataset(PackageOptions(source=source, out=out))
    assert not (out / "figures" / "old.png").exists()
