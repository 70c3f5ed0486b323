"""splits.json: which player profile belongs to which split, and so which split each sample
is in. A profile in two splits would leak a player across them: an input error."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Literal

from ..errors import InputError, first_values

SPLITS_JSON_KEYS = {
    "train": "train_profile_ids",
    "validation": "val_profile_ids",
    "test": "test_profile_ids",
}
Unassigned = Literal["error", "train", "drop"]


def read_splits(path: Path) -> dict[str, str]:
    """profile_id → split name; a profile in two splits is leakage and an error."""
    if not path.exists():
        raise InputError(f"{path}: required file is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise InputError(f"{path}: must be a JSON object with {list(SPLITS_JSON_KEYS.values())}")
    split_of: dict[str, str] = {}
    for split, key in SPLITS_JSON_KEYS.items():
        profiles = data.get(key)
        if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
            raise InputError(f"{path}: '{key}' must be a list of profile id strings")
        for profile in profiles:
            earlier = split_of.setdefault(profile, split)
            if earlier != split:
                raise InputError(
                    f"{path}: profile {profile!r} is in both '{SPLITS_JSON_KEYS[earlier]}' and "
                    f"'{key}' (that leaks a player across splits)"
                )
    return split_of


def assign_splits(
    sample_ids: list[str],
    profile_ids: list[str],
    split_of_profile: dict[str, str],
    unassigned: Unassigned,
) -> tuple[list[str | None], list[str]]:
    split_of_row: list[str | None] = []
    orphans: dict[str, int] = defaultdict(int)
    dropped: list[str] = []
    for sample_id, profile in zip(sample_ids, profile_ids):
        split = split_of_profile.get(profile)
        if split is None:
            orphans[profile] += 1
            if unassigned == "train":
                split = "train"
            elif unassigned == "drop":
                dropped.append(sample_id)
        split_of_row.append(split)
    if orphans and unassigned == "error":
        raise InputError(
            f"splits.json: {len(orphans)} profile(s) of labels/samples.parquet are in no split: "
            f"{first_values(sorted(orphans))} (choose with --unassigned train or --unassigned drop)"
        )
    return split_of_row, dropped
