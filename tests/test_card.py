"""The dataset card: parses, keeps the source README, declares configs and features."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Audio, Features, Value
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from sousa.card import features_yaml, json_safe_schema
from sousa.layout import SHARD_COLUMNS, SPLITS, split_table_path
from sousa.pipeline import PackageOptions, package_dataset


def datasets_features(config: str, label_schema: pa.Schema) -> Features:
    """The features `datasets` itself derives for a config from the label schema."""
    fields: dict = {"flac": Audio()} if config == "audio" else {}
    fields["json"] = dict(Features.from_arrow_schema(json_safe_schema(label_schema)))
    fields |= {"mid": Value("binary"), "__key__": Value("string"), "__url__": Value("string")}
    return Features(fields)


def test_features_yaml_matches_datasets_for_every_kind_of_column():
    schema = pa.schema(
        [
            ("i8", pa.int8()),
            ("u16", pa.uint16()),
            ("f16", pa.float16()),
            ("f32", pa.float32()),
            ("f64", pa.float64()),
            ("flag", pa.bool_()),
            ("text", pa.string()),
            ("big_text", pa.large_string()),
            ("raw", pa.binary()),
            ("empty", pa.null()),
            ("ints", pa.list_(pa.int32())),
            ("big_ints", pa.large_list(pa.int64())),
            ("triple", pa.list_(pa.float64(), 3)),
            ("nested", pa.list_(pa.list_(pa.string()))),
            ("point", pa.struct([("x", pa.float64()), ("tags", pa.list_(pa.string()))])),
            ("events", pa.list_(pa.struct([("t", pa.int64())]))),
            ("when", pa.timestamp("us")),
            ("price", pa.decimal128(10, 2)),
            ("kind", pa.dictionary(pa.int8(), pa.string())),
        ]
    )
    for config in ("audio", "midi"):
        ours = Features._from_yaml_list(features_yaml(config, schema))
        assert ours == datasets_features(config, schema)


def test_card_keeps_the_source_yaml_keys_and_prose(staging, demo_template):
    card = DatasetCard.load(staging / "README.md")
    source = DatasetCard.load(demo_template / "README.md")
    for key, value in source.data.to_dict().items():
        assert card.data[key] == value
    first_paragraph = source.text.strip().split("\n\n")[0]
    assert first_paragraph in card.text


def test_card_declares_tar_configs_only_with_audio_the_default(staging):
    data = DatasetCard.load(staging / "README.md").data
    configs = MetadataConfigs.from_dataset_card_data(data)
    again = DatasetCardData()
    configs.to_dataset_card_data(again)
    assert again["configs"] == data["configs"], "round-trips through datasets unchanged"
    assert set(configs) == {"audio", "midi"}
    assert configs["audio"]["default"] is True
    for name, config in configs.items():
        paths = [f["path"] for f in config["data_files"]]
        assert paths == [f"{name}/{split}-*.tar" for split in SPLITS]


def test_card_declares_features_and_split_sizes_that_round_trip(staging, demo_template):
    data = DatasetCard.load(staging / "README.md").data
    infos = DatasetInfosDict.from_dataset_card_data(data)
    labels = pq.read_schema(staging / split_table_path("train"))
    label_schema = pa.schema([f for f in labels if f.name not in SHARD_COLUMNS])
    for config in ("audio", "midi"):
        assert infos[config].features == datasets_features(config, label_schema)
        for split in SPLITS:
            rows = pq.read_table(staging / split_table_path(split)).to_pylist()
            holding = [r for r in rows if r[f"{config}_shard"] is not None]
            assert infos[config].splits[split].num_examples == len(holding)
            shards = {r[f"{config}_shard"] for r in holding}
            size = sum((staging / config / s).stat().st_size for s in shards)
            assert infos[config].splits[split].num_bytes == size
    again = DatasetCardData()
    infos.to_dataset_card_data(again)
    assert again["dataset_info"] == data["dataset_info"]


def test_card_says_what_is_in_the_repo_and_how_to_load_it(staging):
    text = DatasetCard.load(staging / "README.md").text
    for needle in ("| `audio/` |", "| `data/` |", "streaming=True", "hf://datasets/", "duckdb"):
        assert needle in text
    assert "sousa.load(" in text and "sousa.fetch(" in text
    assert "| train | 24 |" in text


def test_card_is_regenerated_on_every_packaging(source):
    package_dataset(PackageOptions(source=source, shard_size=150_000))
    first = (source / "hf_staging" / "README.md").read_text()
    package_dataset(PackageOptions(source=source, shard_size=10**9))
    second = (source / "hf_staging" / "README.md").read_text()
    assert first != second
    sizes = DatasetInfosDict.from_dataset_card_data(DatasetCard(second).data)
    total = sum(p.stat().st_size for p in (source / "hf_staging" / "audio").glob("train-*.tar"))
    assert sizes["audio"].splits["train"].num_bytes == total
