"""The dataset card: parses, keeps the source README, declares configs and features."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Audio, Features, Value
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from sousa.card.readme import features_yaml, json_safe_schema
from sousa.card.training import REPO_PLACEHOLDER
from sousa.layout import SHARD_COLUMNS, SPLITS, split_table_path
from sousa.package import main
from sousa.write.pipeline import PackageOptions, package_dataset
from sousa.write.staging import MANIFEST

from .push_cli import push_cli, stage


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


REPO = "user/sousa"
PY_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def repo_mentions(card: str) -> list[str]:
    """Every repo id the card's code names: load_dataset, sousa.load/fetch, hf:// paths, and
    the Training recipe's `REPO`."""
    calls = re.findall(
        r'(?:load_dataset|sousa\.load|sousa\.fetch|hf_hub_download)\("([^"]+)"', card
    )
    calls += re.findall(r'^REPO, CONFIG = "([^"]+)"', card, re.M)
    return calls + re.findall(r'hf://datasets/([^/"]+/[^/"]+)[/"]', card)


def test_the_cards_code_names_the_repo_id_given_and_the_placeholder_only_without(
    demo_template, tmp_path
):
    named = tmp_path / "named"
    package_dataset(PackageOptions(source=demo_template, out=named, repo_id="zkeown/sousa"))
    card = (named / "README.md").read_text()
    mentions = repo_mentions(card)
    assert len(mentions) >= 6 and set(mentions) == {"zkeown/sousa"}, mentions
    assert REPO_PLACEHOLDER not in card
    assert 'REPO, CONFIG = "zkeown/sousa", "audio"' in card, "the Training recipe"
    fetched = re.search(r'sousa\.fetch\("zkeown/sousa", "([^"]+)"\)', card).group(1)
    assert fetched in {r["sample_id"] for r in pq.read_table(named / "data").to_pylist()}
    unnamed = tmp_path / "unnamed"
    package_dataset(PackageOptions(source=demo_template, out=unnamed))
    mentions = repo_mentions((unnamed / "README.md").read_text())
    assert len(mentions) >= 6 and set(mentions) == {REPO_PLACEHOLDER}


def test_the_repo_id_is_part_of_the_reuse_key_and_the_manifest_lists_the_new_card(source):
    staging = source / "hf_staging"
    assert not package_dataset(PackageOptions(source=source)).reused
    again = package_dataset(PackageOptions(source=source, repo_id=REPO))
    assert not again.reused
    card = (staging / "README.md").read_bytes()
    assert f'"{REPO}"'.encode() in card
    listed = json.loads((staging / MANIFEST).read_text())["files"]["README.md"]
    assert listed == {"size": len(card), "sha256": hashlib.sha256(card).hexdigest()}
    assert package_dataset(PackageOptions(source=source, repo_id=REPO)).reused


def test_the_versions_section_says_how_to_pin_and_names_the_tag_when_there_is_one(staging, source):
    untagged = DatasetCard.load(staging / "README.md").text
    assert "## Versions" in untagged and "without a release tag" in untagged
    assert 'revision="<commit>"' in untagged and "list_repo_refs(" in untagged
    tagged = package_dataset(PackageOptions(source=source, repo_id=REPO, tag="v2.3")).out
    card = (tagged / "README.md").read_text()
    assert "This version is tagged `v2.3`:" in card and "without a release tag" not in card
    assert f'ds = load_dataset("{REPO}", revision="v2.3", split="train"' in card
    listed = json.loads((tagged / MANIFEST).read_text())["files"]["README.md"]
    assert listed["sha256"] == hashlib.sha256(card.encode()).hexdigest()  # what is pushed


def test_packaging_refuses_a_repo_id_that_is_not_one(source, capsys):
    assert main([str(source), "--quiet", "--repo-id", 'me/"sousa"']) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --repo-id 'me/\"sousa\"': expected 'user/name' (letters, digits, - _ .)"
    )
    assert not (source / "hf_staging").exists()


def test_push_packages_with_its_repo_id_and_a_second_push_sends_nothing(hub, source):
    stage(source, repo_id=None)  # packaged first without a repo id
    assert main([str(source), "--quiet", "--push", "--repo-id", REPO]) == 0
    staging = source / "hf_staging"
    card = hub.read_file(REPO, "README.md")
    assert card == (staging / "README.md").read_bytes() and f'"{REPO}"'.encode() in card
    assert REPO_PLACEHOLDER.encode() not in card
    remote = hub.repo_files(REPO)
    for path, entry in json.loads((staging / MANIFEST).read_text())["files"].items():
        assert (remote[path]["size"], remote[path]["sha256"]) == (entry["size"], entry["sha256"])
    assert {p for p in remote if p.startswith("figures/")} == {
        "figures/overall_score_by_tier.png",
        "figures/samples_by_rudiment_and_tier.png",
    }
    hub.reset_stats()
    assert main([str(source), "--quiet", "--push", "--repo-id", REPO]) == 0
    assert hub.stats.bytes_uploaded == 0 and len(hub.stats.commits) == 0


@pytest.mark.parametrize("hub", ["xet"], indirect=True)
def test_every_python_block_of_the_card_runs_as_written_against_the_hub(
    hub, source, native_audio, tmp_path
):
    """The card as pushed (as a release), its Python blocks in order in a fresh process, the
    Hub emulated."""
    assert push_cli(source, "--tag", "v1.0") == 0
    card = hub.read_file(REPO, "README.md").decode()
    blocks = PY_BLOCK.findall(card)
    assert len(blocks) == 6, "how to load: 4 (the last without sousa); versions: 1; training: 1"
    blocks[2] += "streamed = next(iter(ds))['sample_id']\n"  # the sousa.load block's stream
    blocks[4] += "pinned = next(iter(ds))['json']['sample_id']\n"  # the pinned release
    code = "\n".join(blocks) + (  # the recipe has run train() as __main__; train 2 steps more
        "\nimport json\nBATCH_SIZE = 2\nsteps = []\ntrain_step = steps.append\n"
        "train(epochs=1, stop_after=2)\nstate = torch.load(CHECKPOINT)['loader']\n"
        "print(json.dumps({'labels': len(labels), 'fetched': one['sample_id'], "
        "'streamed': streamed, 'pinned': pinned, 'batch': len(steps[0]['sample_id']), "
        "'state': bool(state)}))\n"
    )
    (tmp_path / "card.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    done = subprocess.run(
        [sys.executable, "card.py"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    train = pq.read_table(source / "hf_staging" / split_table_path("train"))
    assert seen["labels"] == train.num_rows and seen["batch"] >= 1 and seen["state"]
    assert seen["pinned"] in train.column("sample_id").to_pylist()
    assert f'"{seen["fetched"]}"' in card
    validation = pq.read_table(source / "hf_staging" / split_table_path("validation"))
    assert seen["streamed"] in validation.column("sample_id").to_pylist()
