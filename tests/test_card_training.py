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

from sousa.card.training import REPO_PLACEHOLDER
from sousa.layout import MEDIA_KINDS, SPLITS
from sousa.write.pipeline import PackageOptions, package_dataset


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


def recipe_script(staging: Path, out: Path) -> str:
    """The card's Python blocks, the repo id rewritten to the folder, then code that writes
    what the recipe left behind to `out` as JSON, for the test to check."""
    blocks = re.findall(r"```python\n(.*?)```", training_section(staging), re.S)
    assert len(blocks) == 2
    code = "\n".join(blocks).replace(f'"{REPO_PLACEHOLDER}"', repr(str(staging)))
    return code + (
        "\nimport json\n"
        "first = {k: getattr(v, 'shape', type(v).__name__) for k, v in batch.items()}\n"
        f"open({str(out)!r}, 'w').write(json.dumps({{'first': first, 'state': sorted(state), "
        "'shards': ds.n_shards, 'rate': int(batch.get('sample_rate', [0])[0]), "
        "'crop': CROP_SECONDS}, default=list))\n"
    )


# Each recipe runs as a script of its own (`runpy`: its own globals, as `python recipe.py`),
# one after the other in one fresh process: a process costs the imports of torch and datasets.
RUN_EACH = """
import runpy, sys, traceback
for script in sys.argv[1:]:
    try:
        runpy.run_path(script, run_name="__main__")
    except BaseException:
        with open(script + ".err", "w") as f:
            f.write(traceback.format_exc())
"""


@pytest.fixture(scope="module")
def recipes(staging, midi_only, torch_dataloader, tmp_path_factory) -> dict[str, Path]:
    """Run the recipe of each card ("audio": the demo's, "midi": without audio) in one fresh
    process; name → folder holding `seen.json`, or `recipe.py.err` if the script failed. The
    audio recipe needs the native decoder: without it (skipped, or failed in CI by the
    native_audio fixture) only the midi one runs."""
    from .test_training import native_audio_works

    cards = {"midi": midi_only} | ({"audio": staging} if native_audio_works() else {})
    folders, scripts = {}, []
    for name, card in cards.items():
        folders[name] = tmp_path_factory.mktemp(f"recipe_{name}")
        script = folders[name] / "recipe.py"
        script.write_text(recipe_script(card, folders[name] / "seen.json"))
        scripts.append(str(script))
    root = tmp_path_factory.mktemp("recipes")
    env = os.environ | {"HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    done = subprocess.run(
        [sys.executable, "-c", RUN_EACH, *scripts], capture_output=True, text=True, env=env,
        cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return folders


def recipe_result(recipes: dict[str, Path], name: str) -> dict:
    error = recipes[name] / "recipe.py.err"
    assert not error.exists(), error.read_text()[-3000:]
    return json.loads((recipes[name] / "seen.json").read_text())


def test_the_training_recipe_runs_as_written_against_the_folder(staging, native_audio, recipes):
    seen = recipe_result(recipes, "audio")
    labels = ["rudiment_slug", "sample_id", "skill_tier", "tempo_bpm"]
    assert sorted(seen["first"]) == sorted(["audio", "sample_rate", *labels])
    batch, frames = seen["first"]["audio"]
    assert frames == int(seen["crop"] * seen["rate"]), "every clip cropped to the same length"
    assert batch >= 1 and seen["rate"] > 0 and seen["state"]
    assert seen["shards"] == len(list((staging / "audio").glob("train-*.tar")))


def test_without_audio_the_recipe_reads_the_midi_config_and_runs(midi_only, recipes):
    section = training_section(midi_only)
    assert '"midi/train-' in section and '"audio"' not in section
    seen = recipe_result(recipes, "midi")
    labels = ["rudiment_slug", "sample_id", "skill_tier", "tempo_bpm"]
    assert sorted(seen["first"]) == sorted(["midi", *labels]) and seen["first"]["midi"] == "list"
    assert seen["state"]
    assert seen["shards"] == len(list((midi_only / "midi").glob("train-*.tar")))
