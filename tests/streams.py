"""The two ways users stream the published dataset, behind one small interface for the tests.

`native`: `datasets.load_dataset(where, "audio", streaming=True)` (the card's WebDataset
config; the FLAC is left undecoded: sharding does not depend on it, and it keeps torchcodec
out of the loop where a test only counts sample ids). `sousa`: `sousa.load(where,
streaming=True)` (the reference builder; FLAC decoded by soundfile). Also run as a module in
child processes (`python -m tests.streams …`): resuming from a state dict in a NEW process (a
dataset's, or a `StatefulDataLoader`'s with workers), and `torch.distributed` ranks.
"""

from __future__ import annotations

import json
import sys

LOADERS = ("native", "sousa")


def open_stream(loader: str, where: str, split: str = "train", shuffle: dict | None = None):
    """A streaming `IterableDataset` of one split; `shuffle` = kwargs of `.shuffle()`."""
    if loader == "native":
        from datasets import Audio, load_dataset

        ds = load_dataset(str(where), "audio", split=split, streaming=True)
        ds = ds.cast_column("flac", Audio(decode=False))
    elif loader == "sousa":
        import sousa

        ds = sousa.load(str(where), split=split, streaming=True)
    else:
        raise ValueError(f"unknown loader {loader!r}")
    return ds.shuffle(**shuffle) if shuffle else ds


def sample_id(example: dict) -> str:
    """The sample id of a native (`json` labels member) or a sousa.load example."""
    return example["json"]["sample_id"] if "json" in example else example["sample_id"]


def worker_and_id(example: dict) -> tuple[int, str]:
    """DataLoader `collate_fn` (batch_size=None: one example): which worker produced it."""
    import torch.utils.data

    info = torch.utils.data.get_worker_info()
    return (info.id if info else -1), sample_id(example)


def resume(case: dict) -> list[str]:
    """Open the case's stream anew, load its state dict, and read the rest of the epoch."""
    ds = open_stream(case["loader"], case["where"], shuffle=case.get("shuffle"))
    ds.set_epoch(case.get("epoch", 0))
    ds.load_state_dict(case["state"])
    return [sample_id(example) for example in ds]


def batch_ids(batch: list[dict]) -> list[str]:
    """DataLoader `collate_fn`: a batch's sample ids."""
    return [sample_id(example) for example in batch]


def stateful_loader(case: dict):
    """torchdata's `StatefulDataLoader` (2 workers) over `sousa.load(seed=, epoch=)` of train."""
    from torchdata.stateful_dataloader import StatefulDataLoader

    import sousa

    ds = sousa.load(
        case["where"], split="train", streaming=True, seed=case["seed"], epoch=case["epoch"]
    )
    return StatefulDataLoader(
        ds, num_workers=2, batch_size=case["batch_size"], collate_fn=batch_ids
    )


def stateful_resume(case_file: str, out: str) -> None:
    """Load the pickled state into a new loader made as the case says; write the rest's ids."""
    import pickle

    with open(case_file, "rb") as f:
        case = pickle.load(f)
    loader = stateful_loader(case)
    loader.load_state_dict(case["state"])
    with open(out, "w") as f:
        json.dump([sid for batch in loader for sid in batch], f)


def distributed_rank(where: str, out: str) -> None:
    """One `torch.distributed` rank (env: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): read
    this rank's part of train through a 2-worker DataLoader per loader; rank 0 writes every
    rank's sample ids to `out` as JSON."""
    import torch.distributed as dist
    import torchcodec.decoders  # noqa: F401  # datasets' Audio imports it: here, not per worker
    from datasets.distributed import split_dataset_by_node
    from torch.utils.data import DataLoader

    dist.init_process_group("gloo")
    try:
        rank, world_size = dist.get_rank(), dist.get_world_size()
        mine = {}
        for loader in LOADERS:
            part = split_dataset_by_node(open_stream(loader, where), rank, world_size)
            batches = DataLoader(part, num_workers=2, batch_size=None, collate_fn=worker_and_id)
            mine[loader] = [[worker, sid] for worker, sid in batches]
        everyone = [None] * world_size
        dist.all_gather_object(everyone, mine)
        if rank == 0:
            with open(out, "w") as f:
                json.dump(everyone, f)
    finally:
        dist.destroy_process_group()


def epoch_cases(path: str) -> None:
    """For each case (tests/test_epochs.py): its epoch read whole again ("again"), and the
    rest of it after loading its state dict ("rest"), in this (new) process."""
    import sousa

    with open(path) as f:
        cases = json.load(f)
    kwargs = {"split": "train", "streaming": True, "seed": 0, "epoch": 1, "window": 4}
    for case in cases:
        again = sousa.load(case["where"], case["config"], **kwargs)
        case["again"] = [example["sample_id"] for example in again]
        ds = sousa.load(case["where"], case["config"], **kwargs)
        ds.load_state_dict(case["state"])
        case["rest"] = [example["sample_id"] for example in ds]
    with open(path + ".out", "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    if sys.argv[1] == "resume":  # resume CASES.json OUT.json [CASE.pkl REST.json]
        with open(sys.argv[2]) as f:  # the resumed ids of each case
            cases = json.load(f)
        with open(sys.argv[3], "w") as f:
            json.dump([resume(case) for case in cases], f)
        if len(sys.argv) > 4:  # and the rest of a StatefulDataLoader's epoch
            stateful_resume(sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "epochs":  # epochs CASES.json: CASES.json.out gets each case's reads
        epoch_cases(sys.argv[2])
    elif sys.argv[1] == "distributed":
        distributed_rank(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown command {sys.argv[1]!r}")
