"""The card tells the truth: size_categories from the sample count; stale kept text named."""

from __future__ import annotations

import pytest
from huggingface_hub import DatasetCard

from sousa.card.checks import size_category, stale_mentions
from sousa.package import main

# Like the SOUSA generator's own README (zakkeown/SOUSA output/dataset/README.md), shortened.
GENERATOR_README = """---
license: mit
size_categories:
  - 100K<n<1M
pretty_name: SOUSA - Synthetic Open Unified Snare Assessment
configs:
  - config_name: audio
    data_files:
      - split: train
        path: audio/train-*.parquet
    default: true
  - config_name: midi_only
    data_files:
      - split: train
        path: midi_only/train-*.parquet
---

# SOUSA: Synthetic Open Unified Snare Assessment

## Usage

```python
from datasets import load_dataset

ds = load_dataset("zkeown/sousa")
ds = load_dataset("zkeown/sousa", "midi_only")
ds = load_dataset("zkeown/sousa", "labels_only", split="train")
```

### File Organization

| Config | Contents | Size |
|--------|----------|------|
| `audio` (default) | FLAC audio + MIDI bytes + metadata + scores | ~96GB |
| `midi_only` | MIDI bytes + metadata + scores | ~2.5GB |
| `labels_only` | Metadata + scores only | ~50MB |

```python
import pandas as pd
strokes = pd.read_parquet("hf://datasets/zkeown/sousa/auxiliary/strokes.parquet")
```
"""


def test_the_generators_readme_packages_with_warnings_naming_what_the_repo_lacks(source, capsys):
    (source / "README.md").write_text(GENERATOR_README)
    assert main([str(source), "--quiet", "--shard-size", "400KB"]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 4, warnings
    assert "size_categories is n<1K (40 samples); the source README said 100K<n<1M" in warnings[0]
    assert "(line 26) names config 'midi_only'" in warnings[1]
    assert "(its configs: audio, midi)" in warnings[1]
    assert "config 'labels_only'" in warnings[2]
    assert "(line 40) names file 'auxiliary/strokes.parquet'" in warnings[3]
    card = DatasetCard.load(source / "hf_staging" / "README.md")
    assert card.data["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in card.data["configs"]] == ["audio", "midi"]
    assert (source / "hf_staging" / "manifest.json").exists()


def test_text_naming_what_the_repo_has_gives_no_warning():
    files = [
        "data/train-00000-of-00001.parquet",
        "data/validation-00000-of-00001.parquet",
        "audio/train-00000.tar",
        "midi/validation-00000.tar",
        "auxiliary/strokes/train-00000-of-00001.parquet",
    ]
    readme = """---
license: mit
---
```python
load_dataset("u/sousa", "midi", split="validation")
load_dataset(repo, name="audio", split="train[:10%]")
pd.read_parquet("hf://datasets/u/sousa/data/train-00000-of-00001.parquet")
```
Shards: `audio/train-*.tar`; strokes in auxiliary/strokes/train-00000-of-00001.parquet.
Generated from `audio/<rudiment>/<sample_id>.flac` files.
"""
    assert stale_mentions(readme, files) == []
    assert stale_mentions(readme.replace('split="validation"', 'split="dev"'), files) == [
        "source README.md (line 5) names split 'dev', which this repo does not have "
        "(its splits: train, validation); the card keeps that text (fix it in the source "
        "README.md)"
    ]
    assert "config 'audio'" in stale_mentions(readme, files[:2] + files[3:])[0]
    kept_yaml = readme.replace("license: mit", "license: mit\nnote: see midi_only/train.parquet")
    assert stale_mentions(kept_yaml, files) == [
        "source README.md (its YAML) names file 'midi_only/train.parquet', which this repo does "
        "not have; the card keeps that text (fix it in the source README.md)"
    ]


@pytest.mark.parametrize(
    ("n", "bucket"),
    [(0, "n<1K"), (400, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (100_000, "100K<n<1M"),
     (99_999_999, "10M<n<100M"), (10**12, "n>1T")],
)  # fmt: skip
def test_size_categories_are_the_hubs_buckets(n, bucket):
    assert size_category(n) == bucket
