"""sousa: package the SOUSA drum-rudiment dataset for the Hugging Face Hub and load it back.

The front door, what users call:
- `package_dataset(PackageOptions(source=...))`: a Hub-ready staging folder (WebDataset TAR
  shards, parquet split tables, dataset card, manifest); `python -m sousa.package DIR`.
- `push(staging, "user/name")`: upload, verify and publish it; returns a `PushResult`.
- `load(path_or_repo_id, ...)` / `fetch(path_or_repo_id, sample_ids)`: read it back, locally
  or from the Hub.
- Errors: `InputError` (bad input, nothing written; `LoadError` is one), `PushError` and
  `SourceChangedError` (a run stopped midway; a re-run finishes it).

The seed plan's names (`ShardInfo`, `create_sharded_archives`, `HubConfig`, `DatasetUploader`)
are in `sousa.seed_api`. The public names are imported on first use, so `python -m sousa.package`
and `python -m sousa.demo` do not import each other's machinery.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "PackageOptions": "write.pipeline",
    "package_dataset": "write.pipeline",
    "push": "hub.push",
    "PushResult": "hub.push",
    "load": "read.loading",
    "fetch": "read.loading",
    "InputError": "errors",
    "LoadError": "read.loading",
    "PushError": "errors",
    "SourceChangedError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sousa' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
