"""The fence around `sousa.load`'s streaming shortcut (`sousa.read.typed_stream`).

The shortcut subclasses and overrides `datasets` internals, which upstream renames between
releases. `typed(streamed)` checks them against the installed `datasets` the first time it is
called (`internals_problem`: the names exist, the signatures and attributes are the ones the
shortcut uses) and returns the stream as a `SousaStream`; when they are not what it expects,
it says so in one warning and returns the stream as is: the public path, the same examples,
slower. Setting `SOUSA_PUBLIC_STREAM=1` takes the public path without a warning.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings

import datasets

__all__ = ["ENV", "internals_problem", "typed"]

ENV = "SOUSA_PUBLIC_STREAM"  # "1": never take the shortcut

# (module, name, the leading parameters its signature must have, or None for a class whose
# methods are checked below)
_NAMES = (
    ("datasets.iterable_dataset", "FormattedExamplesIterable", None),
    ("datasets.iterable_dataset", "ExamplesIterable", None),
    ("datasets.features.features", "decode_nested_example", ("schema", "obj", "token_per_repo_id")),
    ("datasets.features.features", "require_decoding", ("feature",)),
)
# (class, method, leading parameters) the shortcut calls or overrides
_METHODS = (
    ("FormattedExamplesIterable", "__init__", ("self", "ex_iterable", "formatting", "features")),
    ("FormattedExamplesIterable", "shard_data_sources", ("self", "num_shards", "index")),
    ("FormattedExamplesIterable", "shuffle_data_sources", ("self", "generator")),
    ("FormattedExamplesIterable", "reshard_data_sources", ("self",)),
    (
        "ExamplesIterable",
        "__init__",
        (
            "self",
            "generate_examples_fn",
            "kwargs",
            "generate_more_kwargs_fn",
            "sleep_on_threads_shutdown",
        ),
    ),
    ("ExamplesIterable", "_init_state_dict", ("self",)),
    ("ExamplesIterable", "shard_data_sources", ("self", "num_shards", "index")),
    ("ExamplesIterable", "shuffle_data_sources", ("self", "generator")),
    ("ExamplesIterable", "reshard_data_sources", ("self",)),
    ("IterableDataset", "set_epoch", ("self", "epoch")),
    ("IterableDataset", "_prepare_ex_iterable_for_iteration", ("self", "batch_size")),
    ("IterableDataset", "__init__", ("self", "ex_iterable", "info", "split", "formatting")),
)
_STREAM_ATTRIBUTES = ("_ex_iterable", "_formatting", "_distributed", "_token_per_repo_id")
_INIT_KEYWORDS = ("distributed", "token_per_repo_id")  # IterableDataset.__init__, by keyword


@functools.cache
def internals_problem() -> str | None:
    """What in the installed `datasets` is not what the shortcut expects, or None."""
    import importlib

    found = {"IterableDataset": datasets.IterableDataset}
    for module, name, params in _NAMES:
        try:
            found[name] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return f"no {module}.{name}"
        if params and not _leads_with(found[name], params):
            return f"{module}.{name} has another signature"
    for cls, method, params in _METHODS:
        function = getattr(found[cls], method, None)
        if function is None or not _leads_with(function, params):
            return f"{cls}.{method} is missing or has another signature"
    init = inspect.signature(datasets.IterableDataset.__init__).parameters
    if not set(_INIT_KEYWORDS) <= set(init):
        return "IterableDataset.__init__ has another signature"
    return None


def _leads_with(function, params: tuple[str, ...]) -> bool:
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return False
    return names[: len(params)] == list(params)


def typed(streamed: datasets.IterableDataset) -> datasets.IterableDataset:
    """`streamed` as a `SousaStream` (the shortcut) when the internals check passes and the
    stream has the attributes it copies; else `streamed` itself, with a one-line warning."""
    if os.environ.get(ENV) == "1":
        return streamed
    problem = internals_problem()
    if problem is None:
        missing = [name for name in _STREAM_ATTRIBUTES if not hasattr(streamed, name)]
        problem = f"IterableDataset has no {', '.join(missing)}" if missing else None
    if problem is not None:
        warnings.warn(
            f"sousa.load streams without its shortcut: datasets {datasets.__version__} is not "
            f"what it was checked on ({problem}); the same examples, more slowly",
            RuntimeWarning,
            stacklevel=3,
        )
        return streamed
    from .typed_stream import SousaStream

    return SousaStream.of(streamed)
