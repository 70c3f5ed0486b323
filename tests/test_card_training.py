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

from .helpers import split_rows


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


RECIPE_BATCH = 2  # the recipe's BATCH_SIZE here: the fixtures' shards hold a few samples
STOP_AFTER = 3  # steps of epoch 0 before the first run stops (a checkpoint, as the recipe saves)

# One fresh process per phase; each runs every card's recipe, as a script of its own (its own
# globals, as `python recipe.py` would, but not as __main__: the driver calls `train` with a
# step that records what it was given). "first": the uninterrupted run, the run that stops
# after STOP_AFTER steps (its checkpoint saved), each epoch's order read without the
# DataLoader, and sousa.load's order for the same seed and epoch. "rest": in a NEW process,
# the run again, which resumes from the checkpoint.
DRIVER = """
import json, sys, traceback
from pathlib import Path
PHASE, BATCH, STOP = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def run(folder):
    code = (folder / "recipe.py").read_text()
    g = {"__name__": "recipe"}
    exec(compile(code, str(folder / "recipe.py"), "exec"), g)
    g["BATCH_SIZE"] = BATCH
    seen = []
    def step(batch):
        data, rate = batch[g["CONFIG"]], batch.get("sample_rate", [0])
        seen.append({"ids": list(batch["sample_id"]), "tiers": batch["skill_tier"].tolist(),
                     "keys": sorted(batch), "shape": list(getattr(data, "shape", [])),
                     "rate": int(rate[0])})
    g["train_step"] = step
    out = {}
    if PHASE == "first":
        g["CHECKPOINT"] = str(folder / "full.pt")
        g["train"]()
        out["full"], seen[:] = list(seen), []
        g["CHECKPOINT"] = str(folder / "stopped.pt")
        g["train"](stop_after=STOP)
        out["first"] = list(seen)
        out["epochs"] = [[e["sample_id"] for e in g["epoch_dataset"](n)] for n in (0, 1)]
        out["classes"], out["crop"] = g["CLASSES"], g["CROP_SECONDS"]
        import sousa
        where = g["REPO"]
        out["sousa"] = [[e["sample_id"] for e in sousa.load(where, g["CONFIG"], split=g["SPLIT"],
                         streaming=True, seed=0, epoch=n)] for n in (0, 1)]
    else:
        g["CHECKPOINT"] = str(folder / "stopped.pt")
        g["train"]()
        out["rest"] = list(seen)
    (folder / f"{PHASE}.json").write_text(json.dumps(out))

for folder in sys.argv[4:]:
    try:
        run(Path(folder))
    except BaseException:
        (Path(folder) / f"{PHASE}.err").write_text(traceback.format_exc())
"""


def recipe_code(staging: Path) -> str:
    """The card's Python block, the repo id rewritten to the folder."""
    blocks = re.findall(r"```python\n(.*?)```", training_section(staging), re.S)
    assert len(blocks) == 1
    return blocks[0].replace(f'"{REPO_PLACEHOLDER}"', repr(str(staging)))


@pytest.fixture(scope="module")
def recipes(staging, midi_only, torch_dataloader, tmp_path_factory) -> dict[str, dict]:
    """Run the recipe of each card ("audio": the demo's, "midi": without audio) in the two
    phases of DRIVER; name → what each phase wrote (or its traceback under "error"). The
    audio recipe needs the native decoder: without it (skipped, or failed in CI by the
    native_audio fixture) only the midi one runs."""
    from .test_training import native_audio_works

    cards = {"midi": midi_only} | ({"audio": staging} if native_audio_works() else {})
    folders = {}
    for name, card in cards.items():
        folders[name] = tmp_path_factory.mktemp(f"recipe_{name}")
        (folders[name] / "recipe.py").write_text(recipe_code(card))
    root = tmp_path_factory.mktemp("recipes")
    env = os.environ | {"HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    for phase in ("first", "rest"):
        args = [phase, str(RECIPE_BATCH), str(STOP_AFTER), *map(str, folders.values())]
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, *args], capture_output=True, text=True, env=env,
            cwd=root,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    results = {}
    for name, folder in folders.items():
        results[name] = {}
        for phase in ("first", "rest"):
            error = folder / f"{phase}.err"
            assert not error.exists(), error.read_text()[-3000:]
            results[name] |= json.loads((folder / f"{phase}.json").read_text())
    return results


def check_recipe(seen: dict, staging: Path, kind: str) -> None:
    """What every recipe must do: each epoch the whole split once in sousa.load's order, a
    new order each epoch, drop_last batches of class ids, and exact resume."""
    rows = {row["sample_id"]: row for row in split_rows(staging, "train")}
    in_config = sorted(sid for sid, row in rows.items() if row[f"{kind}_shard"] is not None)
    for epoch, order in enumerate(seen["epochs"]):
        assert sorted(order) == in_config, f"epoch {epoch} is not the split once"
        assert order == seen["sousa"][epoch], "the recipe and sousa.load orders differ"
    assert seen["epochs"][0] != seen["epochs"][1]
    batches = seen["full"]
    assert batches and all(len(b["ids"]) == RECIPE_BATCH for b in batches), "drop_last"
    for batch in batches:
        names = [rows[sid]["skill_tier"] for sid in batch["ids"]]
        assert [seen["classes"]["skill_tier"][i] for i in batch["tiers"]] == names
    assert len(seen["first"]) == STOP_AFTER
    assert seen["first"] + seen["rest"] == batches, "the resumed run differs, sample for sample"


LABELS = ["rudiment_slug", "sample_id", "skill_tier", "tempo_bpm"]


def test_the_training_recipe_trains_resumes_and_orders_as_sousa_load(
    staging, native_audio, recipes
):
    seen = recipes["audio"]
    check_recipe(seen, staging, "audio")
    first = seen["full"][0]
    assert first["keys"] == sorted(["audio", "sample_rate", *LABELS])
    assert first["rate"] > 0
    assert first["shape"] == [RECIPE_BATCH, int(seen["crop"] * first["rate"])], "cropped"


def test_without_audio_the_recipe_reads_the_midi_config_trains_and_resumes(midi_only, recipes):
    section = training_section(midi_only)
    assert '"midi"' in section and '"audio"' not in section
    seen = recipes["midi"]
    check_recipe(seen, midi_only, "midi")
    assert seen["full"][0]["keys"] == sorted(["midi", *LABELS])
