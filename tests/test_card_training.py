"""The card's "Training" section: its shard counts are the folder's, and its code runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from huggingface_hub import DatasetCard

from sousa.card_training import REPO_PLACEHOLDER
from sousa.layout import MEDIA_KINDS, SPLITS


def training_section(staging: Path) -> str:
    text = DatasetCard.load(staging / "README.md").text
    return text.split("\n## Training\n", 1)[1].split("\n## ", 1)[0]


def test_training_section_gives_each_splits_shard_counts_and_the_order(staging):
    section = training_section(staging)
    for split in SPLITS:
        counts = [len(list((staging / kind).glob(f"{split}-*.tar"))) for kind in MEDIA_KINDS]
        assert f"| {split} | {counts[0]} | {counts[1]} |" in section
    assert "`--order shuffled`" in section and "`--seed 0`" in section
    for needle in ("shuffle(seed=", "set_epoch(", "num_workers=", "split_dataset_by_node("):
        assert needle in section
    assert "state_dict()" in section and "load_state_dict(" in section


def test_the_training_recipe_runs_as_written_against_the_folder(staging, native_audio, tmp_path):
    """The card's Python blocks, the repo id rewritten to the folder, in a fresh process."""
    blocks = re.findall(r"```python\n(.*?)```", training_section(staging), re.S)
    assert len(blocks) == 2
    code = "\n".join(blocks).replace(f'"{REPO_PLACEHOLDER}"', repr(str(staging)))
    code += (  # what the recipe left behind, for this test to check
        "\nimport json\n"
        "print(json.dumps({'batch': len(batch), 'audio': list(batch[0]['audio'].shape), "
        "'keys': sorted(batch[0]), 'state': sorted(state), 'shards': ds.n_shards}))\n"
    )
    script = tmp_path / "recipe.py"
    script.write_text(code)
    env = os.environ | {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["keys"] == ["audio", "sample_rate", "skill_tier"]
    assert seen["audio"][0] in (1, 2) and seen["audio"][1] > 0, "decoded (channels, samples)"
    assert seen["batch"] >= 1 and seen["state"], "a batch went through, a state was saved"
    assert seen["shards"] == len(list((staging / "audio").glob("train-*.tar")))
