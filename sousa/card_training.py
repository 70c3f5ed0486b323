"""The card's "Training" section: how the shards are ordered and cut, and a recipe that runs.

The recipe is the card's one promise that is code: `tests/test_card_training.py` extracts the
fenced Python blocks of this section and runs them, as written, against a staging folder (the
repo id rewritten to the folder), so the card cannot drift from what `datasets` really does.
"""

from __future__ import annotations

from .layout import MEDIA_KINDS, SPLITS

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


_DECODE = {  # what the recipe's workers make of an example, per config
    "audio": """    audio = example["flac"].get_all_samples()  # torchcodec
    return {"audio": audio.data, "sample_rate": audio.sample_rate, "labels": example["json"]}""",
    "midi": """    return {"midi": example["mid"], "labels": example["json"]}""",
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
    decoded = "audio decodes in the workers" if config == "audio" else "MIDI bytes, no audio"
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

Streaming, with `DataLoader` workers, on one or several nodes (`RANK` and `WORLD_SIZE` as
`torchrun` sets them); {decoded}:

```python
import os

import torch
from datasets import load_dataset
from datasets.distributed import split_dataset_by_node


def to_tensors(example):
{_DECODE[config]}


ds = load_dataset("{repo_id or REPO_PLACEHOLDER}", "{config}", split="{split}", streaming=True)
ds = ds.shuffle(seed=0, buffer_size=1000)  # shuffles the shard order, then a buffer
rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
ds = split_dataset_by_node(ds, rank=rank, world_size=world_size)  # whole shards per rank
ds = ds.map(to_tensors, remove_columns=ds.column_names)
loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2, collate_fn=list)
for epoch in range(2):
    ds.set_epoch(epoch)  # another shard order and buffer draw every epoch
    for batch in loader:
        pass  # your training step: `batch` is a list of examples
```

Resuming mid-epoch: save the dataset's state with your checkpoint and load it into the same
pipeline when you restart (with `DataLoader` workers, torchdata's `StatefulDataLoader` does
this for you). As `datasets` documents, the examples held in the shuffle buffer at the
checkpoint are not replayed:

```python
for i, example in enumerate(ds):
    if i == 9:
        state = ds.state_dict()  # store it with your checkpoint
        break
ds.load_state_dict(state)  # the next iteration carries on from the checkpoint
```

`sousa.load(..., streaming=True)` returns a `datasets.IterableDataset` over the same shards.
"""
