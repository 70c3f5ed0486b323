"""Every Arrow type a label column can have: source, native `load_dataset` and `sousa.load` agree.

One source folder holds a label column of each type (MIDI only, so the `midi` config loads
without audio decoding). Each column's values are read back by every path: native WebDataset
loading streaming and prepared (the `.json` member decoded with the card's declared features),
`sousa.load` (the builder reading the split tables) streaming and prepared, in the `midi` and
`labels` configs, and `sousa.fetch`. Each must equal the value this file writes by hand:
the source value where JSON can hold it exactly, else the README's documented rule.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Features, load_dataset
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard

import sousa
from sousa.demo import midi_file_bytes
from sousa.package import main
from sousa.read.builder import json_labels
from sousa.read.labels import label_converter
from sousa.write.pipeline import PackageOptions, package_dataset
from sousa.write.source_checks import PYARROW_READS_NULL_FIXED_LISTS

UTC = datetime.timezone.utc
PARIS = datetime.timezone(datetime.timedelta(hours=1))
NAN = float("nan")

# column: (Arrow type, source values of samples s0, s1, s2, what every loader must return)
TYPES = {
    "int8": (pa.int8(), [-128, None, 127], [-128, None, 127]),
    "int64": (pa.int64(), [2**62, -1, None], [2**62, -1, None]),
    "int16": (pa.int16(), [-(2**15), None, 7], [-(2**15), None, 7]),
    "uint32": (pa.uint32(), [2**32 - 1, 0, None], [2**32 - 1, 0, None]),
    "uint64": (pa.uint64(), [2**63 - 1, 0, None], [2**63 - 1, 0, None]),  # README: limit
    "float16": (pa.float16(), [0.5, None, 0.0999755859375], [0.5, None, 0.0999755859375]),
    "float32": (pa.float32(), [0.1, NAN, None], [0.10000000149011612, None, None]),
    "float64": (pa.float64(), [1 / 3, math.inf, NAN], [1 / 3, None, None]),
    "bool": (pa.bool_(), [True, False, None], [True, False, None]),
    "string": (pa.string(), ["é 🥁", "", None], ["é 🥁", "", None]),
    "large_string": (pa.large_string(), ["flam", None, "x" * 300], ["flam", None, "x" * 300]),
    "null": (pa.null(), [None, None, None], [None, None, None]),
    "timestamp": (
        pa.timestamp("us"),
        [datetime.datetime(2024, 3, 1, 12, 30, 45, 123456), datetime.datetime(2024, 3, 1), None],
        ["2024-03-01T12:30:45.123456", "2024-03-01T00:00:00", None],
    ),
    "timestamp_tz": (
        pa.timestamp("ms", tz="+01:00"),
        [datetime.datetime(2024, 3, 1, 11, 0, tzinfo=UTC), None, None],
        ["2024-03-01T12:00:00+01:00", None, None],
    ),
    "timestamp_utc": (
        pa.timestamp("s", tz="UTC"),
        [datetime.datetime(2024, 3, 1, 11, 0, tzinfo=UTC), None, None],
        ["2024-03-01T11:00:00+00:00", None, None],
    ),
    "timestamp_ns": (
        pa.timestamp("ns"),
        [datetime.datetime(2024, 3, 1, 0, 0, 0, 5), None, None],
        ["2024-03-01T00:00:00.000005", None, None],
    ),
    "date64": (pa.date64(), [datetime.date(2024, 2, 29), None, None], ["2024-02-29", None, None]),
    "time32": (pa.time32("s"), [datetime.time(23, 59, 59), None, None], ["23:59:59", None, None]),
    "date": (
        pa.date32(),
        [datetime.date(2024, 2, 29), None, datetime.date(1, 1, 1)],
        ["2024-02-29", None, "0001-01-01"],
    ),
    "time": (
        pa.time64("us"),
        [datetime.time(1, 2, 3, 4), None, datetime.time(0, 0)],
        ["01:02:03.000004", None, "00:00:00"],
    ),
    "duration": (
        pa.duration("ms"),
        [datetime.timedelta(seconds=1.506), None, datetime.timedelta(days=-1)],
        [1.506, None, -86400.0],
    ),
    "decimal": (
        pa.decimal128(10, 2),
        [decimal.Decimal("12.34"), None, decimal.Decimal("-0.01")],
        [12.34, None, -0.01],
    ),
    "fixed_binary": (pa.binary(2), [b"\xff\xfe", None, None], ["//4=", None, None]),
    "binary": (pa.binary(), [b"\x00\x01\xff", b"", None], ["AAH/", "", None]),
    "large_binary": (pa.large_binary(), [b"MThd", None, None], ["TVRoZA==", None, None]),
    "list": (pa.list_(pa.int32()), [[1, None, 3], [], None], [[1, None, 3], [], None]),
    "large_list": (pa.large_list(pa.string()), [["R", "L"], None, []], [["R", "L"], None, []]),
    "fixed_list": (pa.list_(pa.float64(), 2), [[0.5, NAN], None, None], [[0.5, None], None, None]),
    "list_of_dates": (
        pa.list_(pa.date32()),
        [[datetime.date(2024, 1, 2)], None, []],
        [["2024-01-02"], None, []],
    ),
    "struct": (
        pa.struct([("score", pa.float64()), ("hand", pa.string()), ("at", pa.date32())]),
        [{"score": 9.5, "hand": "R", "at": datetime.date(2024, 1, 2)}, None, None],
        [{"score": 9.5, "hand": "R", "at": "2024-01-02"}, None, None],
    ),
    "dictionary": (
        pa.dictionary(pa.int8(), pa.string()),
        ["advanced", "beginner", None],
        ["advanced", "beginner", None],
    ),
}
IDS = ("s0", "s1", "s2")
NULL_FIXED_LIST = TYPES["fixed_list"]
if not PYARROW_READS_NULL_FIXED_LISTS:  # refused there (apache/arrow#35692): see the last test
    TYPES["fixed_list"] = (
        pa.list_(pa.float64(), 2), [[0.5, NAN], [1.0, -2.0], [0.0, 0.0]],
        [[0.5, None], [1.0, -2.0], [0.0, 0.0]],
    )  # fmt: skip


def write_typed_source(root: Path, types: dict | None = None) -> Path:
    """Three samples with MIDI (real SMF bytes), no audio, a label column of every type (or
    of each of `types`)."""
    (root / "labels").mkdir(parents=True)
    (root / "midi").mkdir()
    for i, sample_id in enumerate(IDS):
        data = midi_file_bytes([0.0, 250.0 * (i + 1)], [90, 100], 120, name=sample_id)
        (root / "midi" / f"{sample_id}.mid").write_bytes(data)
    columns = {
        "sample_id": pa.array(IDS),
        "profile_id": pa.array(["p"] * 3),
        "midi_path": pa.array([f"midi/{s}.mid" for s in IDS]),
    }
    for name, (arrow_type, values, _) in (types or TYPES).items():
        if pa.types.is_dictionary(arrow_type):
            columns[name] = pa.array(values).dictionary_encode().cast(arrow_type)
        else:
            columns[name] = pa.array(values, type=arrow_type)
    pq.write_table(pa.table(columns), root / "labels" / "samples.parquet")
    splits = {"train_profile_ids": ["p"], "val_profile_ids": [], "test_profile_ids": []}
    (root / "splits.json").write_text(json.dumps(splits))
    return root


def by_id(examples, labels=lambda e: e) -> dict[str, dict]:
    return {labels(e)["sample_id"]: labels(e) for e in examples}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict:
    """Every loader's rows by sample_id, the card's declared features and each loader's."""
    tmp = tmp_path_factory.mktemp("types")
    source = write_typed_source(tmp / "src")
    staging = package_dataset(PackageOptions(source=source, out=tmp / "staging")).out
    infos = DatasetInfosDict.from_dataset_card_data(DatasetCard.load(staging / "README.md").data)
    cache = str(tmp / "cache")
    native = {
        mode: load_dataset(
            str(staging), "midi", split="train", streaming=mode == "streaming", cache_dir=cache
        )
        for mode in ("streaming", "prepared")
    }
    ours = {
        f"{config}-{mode}": sousa.load(
            staging, config, split="train", streaming=mode == "streaming", cache_dir=cache
        )
        for config in ("midi", "labels")
        for mode in ("streaming", "prepared")
    }
    rows = {f"native-{m}": by_id(ds, lambda e: e["json"]) for m, ds in native.items()}
    rows |= {f"sousa.load-{name}": by_id(ds) for name, ds in ours.items()}
    rows["sousa.fetch"] = {s: sousa.fetch(staging, s, config="midi") for s in IDS}
    features = {"card": infos["midi"].features["json"]}
    features["native-prepared"] = native["prepared"].features["json"]
    features |= {f"sousa.load-{n}": ds.features for n, ds in ours.items() if "prepared" in n}
    return {"rows": rows, "features": features}


@pytest.mark.parametrize("column", list(TYPES))
def test_every_loader_returns_the_same_value_for_a_label_of_each_type(loaded, column):
    expected = TYPES[column][2]
    for path, rows in loaded["rows"].items():
        got = [rows[sample_id][column] for sample_id in IDS]
        assert got == expected, f"{path} returned {got!r}"
        # == alone takes 1 for 1.0 and True, and NaN never equals: compare the types as well
        assert [type(v) for v in got] == [type(v) for v in expected], path


@pytest.mark.parametrize("column", list(TYPES))
def test_the_card_declares_what_native_loading_returns(loaded, column):
    declared = loaded["features"]["card"][column]
    for path, features in loaded["features"].items():
        assert features[column] == declared, path
    encoded = Features({column: declared}).encode_example({column: TYPES[column][2][0]})
    assert encoded[column] == TYPES[column][2][0], "the declared type keeps the value"


def test_the_builders_fast_path_equals_the_labels_json_round_trip(tmp_path):
    """`label_converter` skips encoding what JSON holds exactly; it must change nothing."""
    source = write_typed_source(tmp_path / "src")
    table = pq.read_table(source / "labels" / "samples.parquet")
    convert = label_converter(table.schema)
    for row in table.to_pylist():
        want = json_labels(row)
        assert convert(row) == want and list(convert(row)) == list(want)


def test_a_label_type_the_json_cannot_carry_is_refused_naming_the_column(tmp_path, capsys):
    """A map column packaged, then failed in both loaders: it is now bad input (exit 2)."""
    source = write_typed_source(tmp_path / "src")
    path = source / "labels" / "samples.parquet"
    table = pq.read_table(path)
    scores = pa.array([[("a", 1)], None, []], pa.map_(pa.string(), pa.int64()))
    pq.write_table(table.append_column("per_hand", scores), path)
    assert main([str(source), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert 'cannot carry: "per_hand (map<string, int64' in err
    assert not (source / "hf_staging").exists()


def test_a_null_fixed_size_list_is_refused_where_pyarrow_cannot_read_it_back(tmp_path, capsys):
    """pyarrow < 26 (all there is on Python 3.10) fails reading a parquet fixed-size list
    with a null row: refused up front there, naming the column; packaged from pyarrow 26."""
    source = write_typed_source(tmp_path / "src", {"fixed_list": NULL_FIXED_LIST})
    status = main([str(source), "--quiet", "--out", str(tmp_path / "out")])
    if PYARROW_READS_NULL_FIXED_LISTS:
        assert status == 0
        got = pq.read_table(tmp_path / "out" / "data" / "train-00000-of-00001.parquet")
        assert got.column("fixed_list").to_pylist().count(None) == 2
    else:
        assert status == 2
        err = capsys.readouterr().err
        assert "samples.parquet" in err and "fixed_list" in err and "#35692" in err
        assert not (tmp_path / "out").exists()
