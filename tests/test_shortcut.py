"""The fence around `sousa.load`'s streaming shortcut (sousa/read/shortcut.py): checked against
the installed `datasets` on first use; when its internals are not what it expects (an upstream
rename or a new signature), `sousa.load` streams through the public path, with one warning,
and gives every example the same."""

from __future__ import annotations

import warnings

import datasets
import datasets.iterable_dataset as iterable_dataset
import pytest

import sousa
from sousa.read import shortcut
from sousa.read.typed_stream import SousaStream

from .test_typed_stream import assert_same_examples


@pytest.fixture
def fresh_check():
    """The check runs again (it is cached once per process)."""
    shortcut.internals_problem.cache_clear()
    yield
    shortcut.internals_problem.cache_clear()


def stream_all(staging, config: str) -> dict[str, list[dict]]:
    streams = sousa.load(staging, config=config, streaming=True)
    return {split: (type(stream), list(stream)) for split, stream in streams.items()}


def forwarding(function):
    """`function` behind another signature (`*args, **kwargs`): what `datasets` itself calls
    still works, but the signature is not the one the shortcut was checked on."""

    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


CHANGES = {  # what an upstream release might change, each breaking one thing the check checks
    "prepare": (datasets.IterableDataset, "_prepare_ex_iterable_for_iteration"),
    "init": (iterable_dataset.FormattedExamplesIterable, "__init__"),
    "shard": (iterable_dataset.FormattedExamplesIterable, "shard_data_sources"),
}


def test_the_installed_datasets_passes_the_check(fresh_check):
    assert shortcut.internals_problem() is None


@pytest.mark.parametrize(  # every change, every config: four runs (each streams every split twice)
    "config, change",
    [("audio", "prepare"), ("audio", "init"), ("midi", "shard"), ("labels", "init")],
)
def test_changed_internals_fall_back_to_the_public_path_with_every_example_the_same(
    staging, config, change, monkeypatch, fresh_check
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shortcut takes no warning
        fast = stream_all(staging, config)
    assert {kind for kind, _ in fast.values()} == {SousaStream}

    owner, name = CHANGES[change]
    monkeypatch.setattr(owner, name, forwarding(getattr(owner, name)))
    shortcut.internals_problem.cache_clear()
    with pytest.warns(RuntimeWarning) as caught:
        slow = stream_all(staging, config)
    messages = {str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)}
    assert len(messages) == 1
    (message,) = messages
    assert "without its shortcut" in message and name in message and "\n" not in message
    assert {kind for kind, _ in slow.values()} == {datasets.IterableDataset}
    assert sorted(slow) == sorted(fast)
    for split in fast:
        assert_same_examples(slow[split][1], fast[split][1])


def test_a_renamed_internal_is_named_by_the_check(monkeypatch, fresh_check):
    """As `TypedExamplesIterable` became `FormattedExamplesIterable` (datasets #7207)."""
    renamed = iterable_dataset.FormattedExamplesIterable
    monkeypatch.delattr(iterable_dataset, "FormattedExamplesIterable")
    monkeypatch.setattr(iterable_dataset, "RenamedExamplesIterable", renamed, raising=False)
    assert shortcut.internals_problem() == (
        "no datasets.iterable_dataset.FormattedExamplesIterable"
    )


def test_the_public_path_can_be_chosen_without_a_warning(staging, monkeypatch):
    monkeypatch.setenv(shortcut.ENV, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stream = sousa.load(staging, split="validation", streaming=True)
    assert type(stream) is datasets.IterableDataset
    assert len(list(stream)) > 0
