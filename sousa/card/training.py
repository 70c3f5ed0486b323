"""The card's "Training" section: how the shards are ordered and cut, and a recipe that runs.

The recipe is the card's one promise that is code: `tests/test_card_training.py` extracts the
fenced Python block of this section and runs it, as written, against a staging folder (the
repo id rewritten to the folder), so the card cannot drift from what `datasets` really does.
It orders each epoch with a verbatim copy of `sousa.epochs`' code (`epoch_code`), so it reads
the same order as `sousa.load(seed=, epoch=)`.
"""

from __future__ import annotations

from ..epochs import WINDOWS, epoch_code
from ..layout import MEDIA_KINDS, SPLITS
from .stats import LabelStats, tier_order

REPO_PLACEHOLDER = "<user>/sousa"  # the repo id in the card's code (the test rewrites it)


def shard_counts(files: dict[str, int]) -> dict[str, dict[str, int]]:
    """kind → split → number of TAR shards, from the staged file names."""
    counts: dict[str, dict[str, int]] = {}
    for path in files:
        kind, _, name = path.partition("/")
        if kind in MEDIA_KINDS and name.endswith(".tar"):
            split = name.rsplit("-", 1)[0]
            counts.setdefault(kind, {})[split] = counts.get(kind, {}).get(split, 0) + 1
    return counts


def _order_prose(order: str, seed: int) -> str:
    if order == "sorted":
        return (
            "Within each split, samples are written in key order (`--order sorted`). A key "
            "starts with the skill tier and the player, so each shard holds one or a few "
            "players, and a streaming shuffle buffer, which draws from the few shards it is "
            "reading, cannot mix them: this order is for inspection, not for training."
        )
    return (
        "Within each split, samples are written in a shuffled order (packaged with "
        f"`--order shuffled`, `--seed {seed}`): sorted by a BLAKE2b hash of their `sample_id` "
        "keyed by the seed, "
        "so the order is the same on every packaging of the same data. Every shard is thus a "
        "fair sample of its split (players and skill tiers in about their split's "
        "proportions), and so is every run of consecutive samples in a shard: the window "
        "that each epoch permutes below."
    )


def _divisors(n: int) -> str:
    found = [str(d) for d in range(1, min(n, 64) + 1) if n % d == 0]
    return ", ".join(found)


LABELS = ("sample_id", "rudiment_slug", "skill_tier", "tempo_bpm")  # what the recipe keeps
CROP_SECONDS = 2.0  # the recipe's fixed crop length
WINDOW_COST = {  # what a window of WINDOWS[config] samples costs a DataLoader worker
    "audio": "~90 MB of FLAC at the real SOUSA's ~0.7 MB a clip, ~150 MB of peak RSS (measured: "
    "1.7 × the window's FLAC bytes)",
    "midi": "a few MB",
}

# The Audio feature decodes with torchcodec, which `datasets` imports on the first decode: in
# every DataLoader worker, each epoch, unless the main process imported it before they fork.
_DECODER_IMPORT = {
    "audio": "\nimport torchcodec.decoders  # the audio decoder: imported once, not per worker",
    "midi": "",
}

_TO_TENSORS = {  # what the recipe's workers make of an example, per config
    "audio": """def to_tensors(example):  # runs in the DataLoader workers
    audio = example["flac"].get_all_samples()  # torchcodec: (channels, frames)
    wave, length = audio.data.mean(0), int(CROP_SECONDS * audio.sample_rate)
    start = random.randint(0, max(0, len(wave) - length))  # a random crop, zero-padded
    wave = torch.nn.functional.pad(wave[start : start + length], (0, max(0, length - len(wave))))
    labels = {name: example["json"][name] for name in LABELS}
    ids = {name: CLASSES[name].index(labels[name]) for name in CLASSES}
    return {"audio": wave, "sample_rate": audio.sample_rate} | labels | ids""",
    "midi": """def to_tensors(example):  # runs in the DataLoader workers
    labels = {name: example["json"][name] for name in LABELS}
    ids = {name: CLASSES[name].index(labels[name]) for name in CLASSES}
    return {"midi": example["mid"]} | labels | ids""",
}


def recipe_classes(stats: LabelStats) -> dict[str, list[str]]:
    """The class names the recipe maps `skill_tier` and `rudiment_slug` to ids with: every
    value over all splits (tiers in the generator's order, rudiments sorted; nulls left out)."""
    classes = {}
    if stats.has_rudiments:
        names = {name for counts in stats.rudiments.values() for name in counts}
        classes["rudiment_slug"] = sorted(name for name in names if name is not None)
    if stats.has_tiers:
        names = {name for counts in stats.tiers.values() for name in counts}
        classes["skill_tier"] = [name for name in tier_order(names) if name is not None]
    return {name: values for name, values in classes.items() if values}


def training_section(
    files: dict[str, int],
    order: str,
    seed: int,
    repo_id: str | None = None,
    classes: dict[str, list[str]] | None = None,
) -> str:
    """Markdown: order and seed, shard counts per split, and the streaming training recipe.

    The recipe reads the first config with data (`audio`, else `midi`) and its `train` split
    (else the first split it has), so the card never names what the repo lacks. It names the
    repo `repo_id`, or REPO_PLACEHOLDER when that is not known, and maps the `classes`
    (column → names, `recipe_classes`) to class ids.
    """
    counts = shard_counts(files)
    kinds = [k for k in MEDIA_KINDS if k in counts]
    splits = [s for s in SPLITS if any(s in counts[k] for k in kinds)]
    header = " | ".join(f"`{k}` shards" for k in kinds)
    rows = "\n".join(
        f"| {s} | " + " | ".join(str(counts[k].get(s, 0)) for k in kinds) + " |" for s in splits
    )
    config = kinds[0]
    split = next(s for s in SPLITS if s in counts[config])
    shards = counts[config][split]
    decoded = "audio decoded and cropped" if config == "audio" else "MIDI bytes, no audio"
    batched = "audio" if config == "audio" else "midi"
    batch_shape = (
        "a (16, frames) float tensor" if config == "audio" else "a list of 16 MIDI files (bytes)"
    )
    classes = classes or {}
    class_lines = "".join(f"\n    {name!r}: {values!r}," for name, values in classes.items())
    class_ids = ", ".join(f'`batch["{name}"]`' for name in classes) or "none"
    window = WINDOWS[config]
    return f"""
## Training

{_order_prose(order, seed)}

| split | {header} |
|---|{"---|" * len(kinds)}
{rows}

The shards of a split weigh the same to within one sample. `datasets` hands whole shards to
`DataLoader` workers and to `split_dataset_by_node` ranks: choose `world_size × num_workers`
so that it divides the shard count of the split you read (here, for `{split}` and its {shards}
`{config}` shards: {_divisors(shards)}). Otherwise some workers idle, and with a world size
that does not divide the shard count every rank reads every shard and keeps one example in
`world_size`.

Every epoch has its own order, drawn from a seed and the epoch: the shards in a permuted
order, and in each shard every run of {window} consecutive samples permuted (the runs start at
an offset drawn from the epoch). Each `DataLoader` worker holds one such window of samples
as read, undecoded: {WINDOW_COST[config]}. The order depends only on the seed, the epoch and
the shard, so it is the same for any number of workers, and a state saved mid-epoch by
torchdata's `StatefulDataLoader` resumes it exactly in a new process (`datasets` skips what
each worker had read): no `.shuffle()`, whose buffer a resume loses. The recipe below is a
whole program: it trains (your step goes in `train_step`), saves a checkpoint every 50 steps,
and run again after a stop it carries on from the checkpoint, sample for sample. The same
`BATCH_SIZE`, `NUM_WORKERS`, `WORLD_SIZE`, seed and shards are needed to resume; it refuses
others. Each worker's last partial batch of an epoch is dropped (`drop_last=True`: with 2
workers up to 2 × 15 samples an epoch, others in every epoch); a batch is {batch_shape}
({decoded}), the class ids of {class_ids} index `CLASSES`. On several nodes `RANK` and
`WORLD_SIZE` are as `torchrun` sets them.

```python
import os
import random

import torch{_DECODER_IMPORT[config]}
from datasets import IterableDataset, load_dataset, load_dataset_builder
from datasets.distributed import split_dataset_by_node
from torchdata.stateful_dataloader import StatefulDataLoader

REPO, CONFIG = "{repo_id or REPO_PLACEHOLDER}", "{config}"
SPLIT = "{split}"
BUILDER = load_dataset_builder(REPO, CONFIG)
FEATURES = BUILDER.info.features  # the card's declared features
SHARDS = sorted(BUILDER.config.data_files[SPLIT])  # the split's TAR files, from the card's configs
LABELS = {LABELS!r}
CLASSES = {{{class_lines}
}}  # class ids: a label's index in its list
CROP_SECONDS = {CROP_SECONDS}
WINDOW = {window}  # samples permuted together, held (undecoded) by each DataLoader worker
BATCH_SIZE, NUM_WORKERS = 16, 2
rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
CHECKPOINT = f"sousa-loader-rank{{rank}}.pt"


# The order of an epoch: a copy of sousa.epochs (sousa.load(seed=, epoch=) reads the same order).
import hashlib  # noqa: E402


{epoch_code()}


def shard_examples(shards, seed, epoch):  # runs in the DataLoader workers, on their shards
    for shard in shards:
        name = shard.rsplit("/", 1)[-1]
        ds = load_dataset(REPO, CONFIG, data_files={{SPLIT: f"{{CONFIG}}/{{name}}"}}, split=SPLIT,
                          features=FEATURES, streaming=True).decode(False)  # fmt: skip
        # .iter(): the whole shard (a dataset iterated in a worker would share it out)
        examples = ({{k: v[0] for k, v in one.items()}} for one in ds.iter(batch_size=1))
        yield from windowed(examples, seed, epoch, name, WINDOW)


{_TO_TENSORS[config]}


def epoch_dataset(epoch, seed=0):  # one epoch of SPLIT, in its order
    by_name = {{shard.rsplit("/", 1)[-1]: shard for shard in SHARDS}}
    shards = [by_name[name] for name in shard_order(seed, epoch, list(by_name))]
    kwargs = {{"shards": shards, "seed": seed, "epoch": epoch}}
    ds = IterableDataset.from_generator(shard_examples, features=FEATURES, gen_kwargs=kwargs)
    ds = split_dataset_by_node(ds, rank=rank, world_size=world_size)  # whole shards per rank
    return ds.map(to_tensors, remove_columns=ds.column_names)


def train_step(batch):
    pass  # your model: batch["{batched}"] is {batch_shape}


def train(epochs=2, seed=0, stop_after=None):  # from CHECKPOINT if there is one
    names = [shard.rsplit("/", 1)[-1] for shard in SHARDS]
    settings = {{"seed": seed, "batch_size": BATCH_SIZE, "num_workers": NUM_WORKERS,
                "world_size": world_size, "shards": names}}  # what a resume must match
    first, state = 0, None
    if os.path.exists(CHECKPOINT):
        saved = torch.load(CHECKPOINT)
        if saved["settings"] != settings:
            raise SystemExit(f"{{CHECKPOINT}} was saved with {{saved['settings']}}: use those")
        first, state = saved["epoch"], saved["loader"]
    for epoch in range(first, epochs):
        loader = StatefulDataLoader(epoch_dataset(epoch, seed), batch_size=BATCH_SIZE,
                                    num_workers=NUM_WORKERS, drop_last=True)  # fmt: skip
        if state is not None:
            loader.load_state_dict(state)  # the epoch carries on after the checkpoint
            state = None
        for step, batch in enumerate(loader, 1):
            train_step(batch)
            if step % 50 == 0 or step == stop_after:  # save your model's state here too
                checkpoint = {{"epoch": epoch, "loader": loader.state_dict(), "settings": settings}}
                torch.save(checkpoint, CHECKPOINT)
            if step == stop_after:
                return


if __name__ == "__main__":
    train()
```

`sousa.load(..., streaming=True, seed=0, epoch=epoch)` returns a `datasets.IterableDataset`
in the same order (audio decoded by soundfile), and `ds.set_epoch(epoch)` on it gives that
epoch's order.
"""
