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

__all__ = ["SousaStream", "TypedExamples"]


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
            ex_iterable=streamed._ex_iterable,
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

    def _prepare_ex_iterable_for_iteration(self, batch_size: int = 1, drop_last_batch=False):
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
    if type(source) is not ExamplesIterable:
        return False
    builder = getattr(getattr(source, "generate_examples_fn", None), "__self__", None)
    return isinstance(builder, Sousa) and prepared.features == builder.info.features
