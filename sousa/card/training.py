"""The card's "Training" section: how the shards are ordered and cut, and a recipe that runs.

The recipe is the card's one promise that is code: `tests/test_card_training.py` extracts the
fenced Python blocks of this section and runs them, as written, against a staging folder (the
repo id rewritten to the folder), so the card cannot drift from what `datasets` really does.
"""

from __future__ import annotations

from ..layout import MEDIA_KINDS, SPLITS

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
        "proportions), and a shuffle buffer of a thousand samples is enough to mix a stream."
    )


def _divisors(n: int) -> str:
    found = [str(d) for d in range(1, min(n, 64) + 1) if n % d == 0]
    return ", ".join(found)


LABELS = ("sample_id", "rudiment_slug", "skill_tier", "tempo_bpm")  # what the recipe keeps
CROP_SECONDS = 2.0  # the recipe's fixed crop length

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
    return {"audio": wave, "sample_rate": audio.sample_rate} | {
        name: example["json"][name] for name in LABELS
    }""",
    "midi": """def to_tensors(example):  # runs in the DataLoader workers
    return {"midi": example["mid"]} | {name: example["json"][name] for name in LABELS}""",
}


def training_section(
    files: dict[str, int], order: str, seed: int, repo_id: str | None = None
) -> str:
    """Markdown: order and seed, shard counts per split, and the streaming training recipe.

    The recipe reads the first config with data (`audio`, else `midi`) and its `train` split
    (else the first split it has), so the card never names what the repo lacks. It names the
    repo `repo_id`, or REPO_PLACEHOLDER when that is not known.
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

Streaming, in batches: every example is cut to the same length in the `DataLoader` workers
so the default collate stacks a batch ({decoded}). Each epoch reads the shards in its own
order, drawn from the seed and the epoch and given to `datasets` as the list of files: no
`.shuffle()`, so torchdata's `StatefulDataLoader` can save and restore the position mid-epoch
(with workers), and the next epoch still gets a new order. On several nodes `RANK` and
`WORLD_SIZE` are as `torchrun` sets them:

```python
import os
import random

import torch{_DECODER_IMPORT[config]}
from datasets import load_dataset, load_dataset_builder
from datasets.distributed import split_dataset_by_node
from torchdata.stateful_dataloader import StatefulDataLoader

REPO, CONFIG = "{repo_id or REPO_PLACEHOLDER}", "{config}"
SHARDS = [f"{config}/{split}-{{i:05d}}.tar" for i in range({shards})]
FEATURES = load_dataset_builder(REPO, CONFIG).info.features  # the card's declared features
LABELS = {LABELS!r}
CROP_SECONDS = {CROP_SECONDS}
rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


{_TO_TENSORS[config]}


def epoch_dataset(epoch, seed=0):
    shards = random.Random(seed * 1_000_003 + epoch).sample(SHARDS, len(SHARDS))
    ds = load_dataset(REPO, CONFIG, data_files={{"{split}": shards}}, features=FEATURES,
                      split="{split}", streaming=True)  # fmt: skip
    ds = split_dataset_by_node(ds, rank=rank, world_size=world_size)  # whole shards per rank
    return ds.map(to_tensors, remove_columns=ds.column_names)


for epoch in range(2):
    ds = epoch_dataset(epoch)
    loader = StatefulDataLoader(ds, batch_size=16, num_workers=2)
    for batch in loader:
        pass  # your training step: batch["{batched}"] is {batch_shape}
```

Resuming mid-epoch: save the loader's state and the epoch with your checkpoint; on restart,
rebuild that epoch's loader and load the state into it. The epoch carries on where it
stopped: no sample repeated or lost.

<!-- snippet: skip: continues the recipe above, whose names it uses -->
```python
loader = StatefulDataLoader(epoch_dataset(1), batch_size=16, num_workers=2)
for step, batch in enumerate(loader):
    if step == 0:  # a checkpoint step
        state = loader.state_dict()  # store it (and the epoch, 1) with your checkpoint
        break
loader = StatefulDataLoader(epoch_dataset(1), batch_size=16, num_workers=2)
loader.load_state_dict(state)
for batch in loader:
    pass  # the first batch is the one after the checkpoint
```

`sousa.load(..., streaming=True, seed=0, epoch=epoch)` returns a `datasets.IterableDataset`
over the same shards in the same kind of per-epoch order (audio decoded by soundfile).
"""
