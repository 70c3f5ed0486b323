"""sousa: package the SOUSA drum-rudiment dataset for the Hugging Face Hub and load it back.

`python -m sousa.package DIR` writes a Hub-ready staging folder (WebDataset TAR shards,
parquet split tables, dataset card, manifest); `--push` uploads and verifies it;
`sousa.load` / `sousa.fetch` read it back, locally or from the Hub.

The public names are imported on first use, so `python -m sousa.package` and
`python -m sousa.demo` do not import each other's machinery.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "InputError": "errors",
    "SourceChangedError": "errors",
    "ShardInfo": "compat",
    "create_sharded_archives": "compat",
    "HubConfig": "compat",
    "DatasetUploader": "compat",
    "PackageOptions": "pipeline",
    "package_dataset": "pipeline",
    "load": "loading",
    "fetch": "loading",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sousa' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
