"""The classes of `sousa.load`'s streaming shortcut, built on `datasets` internals.

Import this module only through `sousa.read.shortcut`, which first checks that the internals
it names are what it expects (`internals_problem`): `FormattedExamplesIterable`,
`ExamplesIterable`, `decode_nested_example`, `require_decoding` and the override of
`IterableDataset._prepare_ex_iterable_for_iteration`.
"""

from __future__ import annotations

import datasets
from datasets.features.features import decode_nested_example, require_decoding
from datasets.iterable_dataset import ExamplesIterable, FormattedExamplesIterable

from .builder import Sousa

__all__ = ["ResumeError", "ShardJobExamples", "SousaStream", "TypedExamples"]


class ResumeError(ValueError):
    """A state dict that does not fit the stream it is loaded into (the message says why)."""


class ShardJobExamples(ExamplesIterable):
    """The builder's streamed examples, whose state dict also names the shards it reads, and
    whose shards keep an epoch's order (`sousa.epochs`) when they have one.

    `datasets` resumes a reader by its shard index and the samples it yielded in that shard;
    a state saved by a reader of other shards (another `num_workers` or world size, another
    epoch's order) would resume the wrong shards, repeating and losing samples silently.
    Iterating after loading such a state raises `ResumeError`, naming both readers' shards.
    (The names are one string: `datasets` loads a state into the unsplit stream first, where
    a list of another length would not fit.)"""

    def _init_state_dict(self) -> dict:
        super()._init_state_dict()
        self._state_dict["shards"] = self.shard_names()
        return self._state_dict

    def shard_names(self) -> str:
        return " ".join(job.name for job in self.kwargs["jobs"])

    def __iter__(self):
        saved = (self._state_dict or {}).get("shards")
        if saved is not None and saved != self.shard_names():
            raise ResumeError(
                f"this state dict was saved by a reader of shards {saved.split()}, but this "
                f"reader reads {self.shard_names().split()}: resume with the num_workers, "
                "world size, seed and epoch the state was saved with"
            )
        yield from super().__iter__()

    def shuffle_data_sources(self, generator) -> ShardJobExamples:
        """As `datasets` shuffles the shards for an epoch > 0, unless they are in an epoch's
        order already (a seed): that order is the epoch's, whoever iterates it."""
        if self._ordered():
            return self
        return self._like(super().shuffle_data_sources(generator).kwargs)

    def shard_data_sources(self, num_shards: int, index: int, contiguous=True):
        return self._like(super().shard_data_sources(num_shards, index, contiguous).kwargs)

    def reshard_data_sources(self) -> ShardJobExamples:
        return self._like(super().reshard_data_sources().kwargs)

    def in_epoch(self, epoch: int) -> ShardJobExamples:
        """These jobs in `epoch`'s order (`PackageSousa.epoch_jobs`); self if they are."""
        jobs = self.kwargs["jobs"]
        if not self._ordered() or jobs[0].order[1] == epoch:
            return self
        builder = self.generate_examples_fn.__self__
        return self._like(self.kwargs | {"jobs": builder.epoch_jobs(jobs, epoch)})

    def _ordered(self) -> bool:
        jobs = self.kwargs["jobs"]
        return bool(jobs and getattr(jobs[0], "order", ()))

    def _like(self, kwargs: dict) -> ShardJobExamples:
        return ShardJobExamples(
            self.generate_examples_fn, kwargs, self.generate_more_kwargs_fn,
            self.sleep_on_threads_shutdown,
        )  # fmt: skip

    @classmethod
    def of(cls, source):
        """`source` (the builder's `ExamplesIterable` of shard jobs) as one of these."""
        if type(source) is not ExamplesIterable or source.kwargs.get("jobs") is None:
            return source
        return cls(
            source.generate_examples_fn, source.kwargs, source.generate_more_kwargs_fn,
            source.sleep_on_threads_shutdown,
        )  # fmt: skip


class TypedExamples(FormattedExamplesIterable):
    """The builder's examples with only their decodable columns decoded: what
    `FormattedExamplesIterable` gives for them, without its per-example encoding pass.

    Valid because `Sousa._generate_examples` yields every column already in the python value
    its feature encodes to (`features.encode_example(example) == example`, tested), so that
    pass would change nothing but the decoding. Derived iterables (`shard_data_sources`, …)
    stay of this type; the rest (state dict, shard count) is `FormattedExamplesIterable`'s.
    """

    def __init__(self, ex_iterable, formatting, features, token_per_repo_id, **kwargs):
        super().__init__(ex_iterable, formatting, features, token_per_repo_id, **kwargs)
        self._decoded = [name for name, feature in features.items() if require_decoding(feature)]

    def __iter__(self):
        tokens = self.token_per_repo_id
        for key, example in self.ex_iterable:
            for name in self._decoded:
                value = example.get(name)
                if value is not None:
                    example[name] = decode_nested_example(
                        self.features[name], value, token_per_repo_id=tokens
                    )
            yield key, example

    def shuffle_data_sources(self, generator) -> TypedExamples:
        return self._like(self.ex_iterable.shuffle_data_sources(generator))

    def shard_data_sources(self, num_shards: int, index: int, contiguous=True) -> TypedExamples:
        return self._like(self.ex_iterable.shard_data_sources(num_shards, index, contiguous))

    def reshard_data_sources(self) -> TypedExamples:
        return self._like(self.ex_iterable.reshard_data_sources())

    def _like(self, ex_iterable) -> TypedExamples:
        return TypedExamples(ex_iterable, self.formatting, self.features, self.token_per_repo_id)


class SousaStream(datasets.IterableDataset):
    """A split streamed by the builder, as `datasets.IterableDataset` streams it, with one
    shortcut: while its features are the builder's and it has no format, its examples skip
    the per-example encoding pass (`TypedExamples`); they are the same examples. Every
    method deriving a dataset (`cast_column`, `decode`, `map`, `select_columns`, `shuffle`, …)
    returns a plain `IterableDataset`, which applies its features in full, as usual; `map`'s
    function alone is fed by `TypedExamples` (its input features are the stream's)."""

    @classmethod
    def of(cls, streamed: datasets.IterableDataset) -> SousaStream:
        """The same stream as a `SousaStream`."""
        return cls(
            ex_iterable=ShardJobExamples.of(streamed._ex_iterable),
            info=streamed.info,
            split=streamed.split,
            formatting=streamed._formatting,
            distributed=streamed._distributed,
            token_per_repo_id=streamed._token_per_repo_id,
        )

    def map(self, *args, **kwargs) -> datasets.IterableDataset:
        """`IterableDataset.map`, its function fed by `TypedExamples` (the same examples)."""
        mapped = super().map(*args, **kwargs)
        source = getattr(mapped, "_ex_iterable", None)
        if builder_typed(getattr(source, "ex_iterable", None)):
            inner = source.ex_iterable
            source.ex_iterable = TypedExamples(
                inner.ex_iterable, None, inner.features, inner.token_per_repo_id
            )
        return mapped

    def set_epoch(self, epoch: int) -> None:
        """`IterableDataset.set_epoch`; a stream with a seed (`sousa.load(seed=)`) also takes
        that epoch's order: `set_epoch(e)` gives the order of `load(seed=s, epoch=e)`, here
        and in the datasets derived from this one afterwards (`map`, `split_dataset_by_node`).
        A derived dataset's own `set_epoch` cannot reach the builder: it keeps the order of
        the epoch this stream had when it was derived."""
        super().set_epoch(epoch)
        self._ex_iterable = _in_epoch(self._ex_iterable, self.epoch)

    def _prepare_ex_iterable_for_iteration(self, batch_size: int = 1, drop_last_batch=False):
        # the epoch again: persistent DataLoader workers see set_epoch only through `epoch`
        self._ex_iterable = _in_epoch(self._ex_iterable, self.epoch)
        prepared = super()._prepare_ex_iterable_for_iteration(batch_size, drop_last_batch)
        if not builder_typed(prepared):
            return prepared
        features, tokens = prepared.features, prepared.token_per_repo_id
        return TypedExamples(prepared.ex_iterable, None, features, tokens)


def builder_typed(prepared) -> bool:
    """Whether `prepared` only applies a `Sousa` builder's own features, unformatted, to the
    examples of its `_generate_examples` (the one case `TypedExamples` stands in for). Anything
    unexpected (another type, an attribute missing) is a no: the public path then runs."""
    if type(prepared) is not FormattedExamplesIterable:
        return False
    if getattr(prepared, "formatting", 0) is not None:
        return False
    source = getattr(prepared, "ex_iterable", None)
    if type(source) not in (ExamplesIterable, ShardJobExamples):
        return False
    builder = getattr(getattr(source, "generate_examples_fn", None), "__self__", None)
    return isinstance(builder, Sousa) and prepared.features == builder.info.features


def _in_epoch(ex_iterable, epoch: int):
    return ex_iterable.in_epoch(epoch) if isinstance(ex_iterable, ShardJobExamples) else ex_iterable
