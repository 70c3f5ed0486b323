"""The card's "Training" section: its shard counts are the folder's, and its code runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard

from sousa.card_training import REPO_PLACEHOLDER
from sousa.layout import MEDIA_KINDS, SPLITS
from sousa.pipeline import PackageOptions, package_dataset


def training_section(staging: Path) -> str:
    text = DatasetCard.load(staging / "README.md").text
    return text.split("\n## Training\n", 1)[1].split("\n## ", 1)[0]


def test_training_section_gives_each_splits_shard_counts_and_the_order(staging):
    section = training_section(staging)
    for split in SPLITS:
        counts = [len(list((staging / kind).glob(f"{split}-*.tar"))) for kind in MEDIA_KINDS]
        assert f"| {split} | {counts[0]} | {counts[1]} |" in section
    assert "`--order shuffled`" in section and "`--seed 0`" in section
    for needle in ("StatefulDataLoader(", "num_workers=", "split_dataset_by_node(", "data_files="):
        assert needle in section
    assert "state_dict()" in section and "load_state_dict(" in section


@pytest.fixture(scope="module")
def midi_only(demo_template, tmp_path_factory) -> Path:
    """The demo packaged without audio: the card's recipe must read the `midi` config."""
    out = tmp_path_factory.mktemp("midi_only") / "hf_staging"
    package_dataset(PackageOptions(source=demo_template, out=out, include_audio=False))
    return out


def run_recipe(staging: Path, tmp_path: Path) -> dict:
    """The card's Python blocks, the repo id rewritten to the folder, in a fresh process."""
    blocks = re.findall(r"```python\n(.*?)```", training_section(staging), re.S)
    assert len(blocks) == 2
    code = "\n".join(blocks).replace(f'"{REPO_PLACEHOLDER}"', repr(str(staging)))
    code += (  # what the recipe left behind, for this test to check
        "\nimport json\n"
        "first = {k: getattr(v, 'shape', type(v).__name__) for k, v in batch.items()}\n"
        "print(json.dumps({'first': first, 'state': sorted(state), 'shards': ds.n_shards, "
        "'rate': int(batch.get('sample_rate', [0])[0]), 'crop': CROP_SECONDS}, default=list))\n"
    )
    script = tmp_path / "recipe.py"
    script.write_text(code)
    env = os.environ | {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_training_recipe_runs_as_written_against_the_folder(staging, native_audio, tmp_path):
    seen = run_recipe(staging, tmp_path)
    labels = ["rudiment_slug", "sample_id", "skill_tier", "tempo_bpm"]
    assert sorted(seen["first"]) == sorted(["audio", "sample_rate", *labels])
    batch, frames = seen["first"]["audio"]
    assert frames == int(seen["crop"] * seen["rate"]), "every clip cropped to the same length"
    assert batch >= 1 and seen["rate"] > 0 and seen["state"]
    assert seen["shards"] == len(list((staging / "audio").glob("train-*.tar")))


def test_without_audio_the_recipe_reads_the_midi_config_and_runs(
    midi_only, torch_dataloader, tmp_path
):
    section = training_section(midi_only)
    assert '"midi/train-' in section and '"audio"' not in section
    seen = run_recipe(midi_only, tmp_path)
    labels = ["rudiment_slug", "sample_id", "skill_tier", "tempo_bpm"]
    assert sorted(seen["first"]) == sorted(["midi", *labels]) and seen["first"]["midi"] == "list"
    assert seen["state"]
    assert seen["shards"] == len(list((midi_only / "midi").glob("train-*.tar")))
