"""The streaming shortcut (`SousaStream` / `TypedExamples`, sousa/read/typed_stream.py) changes
no example: it skips `datasets`' per-example encoding pass only where that pass changes nothing,
and every dataset derived from the stream (`cast_column`, `decode`, `select_columns`, `map`)
still applies its features in full."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

import sousa
from sousa.read.builder import FlacAudio, Sousa
from sousa.read.typed_stream import SousaStream, TypedExamples

from .helpers import split_rows
from .test_types import write_typed_source


def full_pass(stream: datasets.IterableDataset) -> datasets.IterableDataset:
    """The same examples as a plain `IterableDataset`: features applied per example."""
    return datasets.IterableDataset(stream._ex_iterable, info=stream.info, split=stream.split)


def assert_same_examples(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        assert list(a) == list(b)
        for column in a:
            if isinstance(b[column], dict) and "array" in b[column]:
                np.testing.assert_array_equal(a[column]["array"], b[column]["array"])
                assert a[column]["array"].dtype == b[column]["array"].dtype
                assert {**a[column], "array": 0} == {**b[column], "array": 0}
            else:
                assert a[column] == b[column], column
                assert type(a[column]) is type(b[column]), column


@pytest.mark.parametrize("config", ["audio", "midi", "labels"])
def test_the_stream_gives_what_the_full_feature_pass_gives(staging, config):
    stream = sousa.load(staging, config=config, split="validation", streaming=True)
    assert isinstance(stream, SousaStream)
    assert isinstance(stream._prepare_ex_iterable_for_iteration(), TypedExamples)
    assert_same_examples(list(stream), list(full_pass(stream)))


def test_examples_of_every_label_type_encode_to_themselves(tmp_path):
    """The contract the shortcut relies on: `features.encode_example(example) == example`
    for what `_generate_examples` yields, label columns of every Arrow type included."""
    from sousa.write.pipeline import PackageOptions, package_dataset

    out = tmp_path / "hf_staging"
    package_dataset(PackageOptions(source=write_typed_source(tmp_path / "src"), out=out))
    for config in ("midi", "labels"):
        builder = Sousa(base_path=str(out), config_name=config, cache_dir=str(tmp_path / "c"))
        stream = builder.as_streaming_dataset(split="train")
        features = builder.info.features
        examples = list(stream)
        assert len(examples) == 3
        for example in examples:
            encoded = features.encode_example(example)
            assert encoded == example
            assert all(type(encoded[c]) is type(example[c]) for c in example), config
        assert_same_examples(examples, list(full_pass(stream)))


def test_derived_streams_apply_their_features(staging):
    stream = sousa.load(staging, split="train", streaming=True)
    first = split_rows(staging, "train")[0]

    raw = next(iter(stream.decode(False)))["audio"]
    assert set(raw) == {"bytes", "path"} and raw["bytes"][:4] == b"fLaC"
    assert len(raw["bytes"]) == first["audio_size"]
    cast = next(iter(stream.cast_column("audio", FlacAudio(decode=False))))["audio"]
    assert cast == raw
    again = next(iter(stream.decode(False).cast_column("audio", FlacAudio())))["audio"]
    assert again["array"].dtype == np.float32 and again["sampling_rate"] > 0

    as_float = next(iter(stream.cast_column("tempo_bpm", datasets.Value("float32"))))
    assert as_float["tempo_bpm"] == float(first["tempo_bpm"])
    assert type(as_float["tempo_bpm"]) is float and type(first["tempo_bpm"]) is int

    picked = next(iter(stream.select_columns(["sample_id", "audio"])))
    assert list(picked) == ["sample_id", "audio"] and "array" in picked["audio"]
    mapped = next(iter(stream.map(lambda e: {"frames": len(e["audio"]["array"])})))
    assert mapped["frames"] == first["audio_frames"]


def test_the_shortcut_keeps_its_place_in_the_stream_across_a_state_dict(staging):
    stream = sousa.load(staging, split="train", streaming=True)
    ids = [e["sample_id"] for e in stream]
    it = iter(stream)
    head = [next(it)["sample_id"] for _ in range(3)]
    state = stream.state_dict()
    resumed = sousa.load(staging, split="train", streaming=True)
    resumed.load_state_dict(state)
    assert head + [e["sample_id"] for e in resumed] == ids


def test_map_on_the_stream_feeds_its_function_the_same_examples(staging):
    stream = sousa.load(staging, split="validation", streaming=True)

    def summary(example: dict) -> dict:
        audio = example["audio"]
        return {"frames": len(audio["array"]), "peak": float(abs(audio["array"]).max())}

    mapped = stream.map(summary, remove_columns=["audio"])
    assert isinstance(mapped._ex_iterable.ex_iterable, TypedExamples)
    want = list(full_pass(stream).map(summary, remove_columns=["audio"]))
    assert list(mapped) == want and len(want) == len(split_rows(staging, "validation"))
