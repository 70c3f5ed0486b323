"""The self-contained builder file (`builder/sousa.py` of a staging folder), produced from
sousa/read/builder.py with the format inlined, loads a staging folder where sousa is not
installed."""

from __future__ import annotations

import ast
import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

import sousa
from sousa.layout import BUILDER_PATH
from sousa.write.builder_file import MAX_LINES, private_datasets_uses, standalone_builder

from .helpers import split_rows
from .test_builder import assert_matches_source

# Run with `python -I` (no PYTHONPATH, no script folder on sys.path) and a finder placed first
# on sys.meta_path that refuses every `sousa` module, whatever installed it (the editable
# install's finder included); `-B`: no __pycache__ written into the (shared) staging folder.
# First the control: sousa's own builder source must fail to import there (else the process
# proves nothing); then the staged builder loads the folder. One process: each costs the
# import of datasets.
NO_SOUSA = r"""
import importlib.abc, sys

class NoSousa(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sousa" or name.startswith("sousa."):
            raise ImportError(f"{name}: sousa is not installed in this process")

sys.meta_path.insert(0, NoSousa())
try:
    import sousa
except ImportError:
    pass
else:
    raise SystemExit("sousa is importable: the test proves nothing")
"""
WITHOUT_SOUSA = (
    NO_SOUSA
    + r"""
import importlib.util, pickle, traceback

def load(name, builder_file):
    spec = importlib.util.spec_from_file_location(name, builder_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

control_file, builder_file, staging, cache, out = sys.argv[1:]
try:
    load("sousas_own_builder", control_file)
except BaseException:
    control = traceback.format_exc()
else:
    control = None
module = load("standalone_builder", builder_file)
streamed = module.Sousa(base_path=staging, config_name="audio")
audio = list(streamed.as_streaming_dataset(split="validation"))
prepared = module.Sousa(base_path=staging, config_name="midi", cache_dir=cache)
prepared.download_and_prepare()
midi = list(prepared.as_dataset(split="test"))
assert not [name for name in sys.modules if name.split(".")[0] == "sousa"]
with open(out, "wb") as f:
    pickle.dump({"control": control, "audio": audio, "midi": midi}, f)
"""
)


@pytest.fixture(scope="module")
def without_sousa(staging, tmp_path_factory) -> dict:
    """What the process above saw: the control's traceback, the examples the staged builder
    (the staging folder's own builder/sousa.py) loaded."""
    folder = tmp_path_factory.mktemp("without_sousa")
    control = Path(sousa.__file__).parent / "read" / "builder.py"
    out = folder / "examples.pickle"
    args = [str(control), str(staging / BUILDER_PATH), str(staging), str(folder / "cache")]
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", WITHOUT_SOUSA, *args, str(out)],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return pickle.loads(out.read_bytes())


def test_the_staged_builder_loads_a_staging_folder_where_sousa_cannot_be_imported(
    without_sousa, staging, demo_template
):
    """The staging folder's own builder/sousa.py, in a process without sousa: streamed audio
    and prepared MIDI examples equal the source files and the split tables."""
    examples = without_sousa
    assert examples["audio"] and examples["midi"]
    assert_matches_source(examples["audio"], "audio", staging, "validation", demo_template)
    assert_matches_source(examples["midi"], "midi", staging, "test", demo_template)


def test_sousas_own_builder_source_does_not_load_without_sousa(without_sousa):
    """The control: sousa/read/builder.py itself needs sousa: the process above really lacks it."""
    assert "ImportError" in (without_sousa["control"] or "it loaded")


def test_the_staged_builder_is_produced_the_same_every_time(staging):
    produced = standalone_builder()
    assert produced == standalone_builder()
    assert (staging / BUILDER_PATH).read_bytes() == produced


def test_the_produced_builder_imports_nothing_of_sousa_and_holds_the_format_once():
    tree = ast.parse(standalone_builder())
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = [n.module for n in imports if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in imports if isinstance(n, ast.Import) for a in n.names]
    assert not [n for n in imports if isinstance(n, ast.ImportFrom) and n.level]
    assert not [m for m in modules if m and m.split(".")[0] == "sousa"]
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert len(defined) == len(set(defined))
    for name in ("Manifest", "member_key", "labels_json", "json_label_type", "Sousa"):
        assert name in defined, name
    for unused in ("parse_tar_header", "key_problem", "sample_members", "shard_glob"):
        assert unused not in defined, unused  # the format's parts the builder does not use
    assert ast.get_docstring(tree).startswith("SOUSA reference loader")


@pytest.fixture
def package_copy(tmp_path) -> Path:
    return Path(shutil.copytree(Path(sousa.__file__).parent, tmp_path / "sousa"))


def test_a_builder_importing_another_sousa_module_is_refused_naming_it(package_copy):
    builder = package_copy / "read" / "builder.py"
    builder.write_text(builder.read_text() + "\nfrom ..errors import InputError\n")
    with pytest.raises(ValueError, match=r"builder.py:\d+: imports 'errors' from sousa"):
        standalone_builder(package_copy)


def test_a_builder_redefining_a_name_of_the_format_is_refused_naming_it(package_copy):
    builder = package_copy / "read" / "builder.py"
    builder.write_text(builder.read_text() + "\n\ndef labels_json(row):\n    return b''\n")
    with pytest.raises(ValueError, match="builder.py binds 'labels_json', which layout.py"):
        standalone_builder(package_copy)


# The 14 uses of `datasets` internals the staged builder had (issue 21), one per line.
OLD_PRIVATE_USES = """
import datasets
from datasets.iterable_dataset import FormattedExamplesIterable, ExamplesIterable
from datasets.utils.file_utils import _prepare_path_and_storage_options, xopen
from datasets.table import array_cast
from datasets.features.features import decode_nested_example, require_decoding

def copy(streamed):
    return (streamed._ex_iterable, streamed._formatting, streamed._distributed,
            streamed._token_per_repo_id)

class Stream(datasets.IterableDataset):
    def _prepare_ex_iterable_for_iteration(self, batch_size=1, drop_last_batch=False):
        return super()._prepare_ex_iterable_for_iteration(batch_size, drop_last_batch)
"""


def test_the_staged_builder_uses_only_public_datasets_names_in_at_most_600_lines():
    text = standalone_builder().decode()
    assert private_datasets_uses(text, datasets) == []
    assert text.count("\n") <= MAX_LINES == 600
    for name in ("register_feature", "FlacAudio", "Sousa"):  # the one allowed exception
        assert name in text


def test_the_scan_finds_each_internal_the_builder_used_to_use():
    found = " ".join(private_datasets_uses(OLD_PRIVATE_USES, datasets))
    names = ["FormattedExamplesIterable", "ExamplesIterable", "_prepare_path_and_storage_options"]
    names += ["xopen", "array_cast", "decode_nested_example", "require_decoding", "._ex_iterable"]
    names += ["._formatting", "._distributed", "._token_per_repo_id"]
    names += ["Stream._prepare_ex_iterable_for_iteration shadows datasets.IterableDataset"]
    for name in names:
        assert name in found, name
    assert private_datasets_uses("import datasets\nx = datasets.utils.file_utils.xopen\n")


@pytest.mark.parametrize(
    "addition, named",
    [
        ("\nfrom datasets.table import array_cast\n", "from datasets.table import array_cast"),
        ("\ndef peek(ds):\n    return ds._ex_iterable\n", "._ex_iterable"),
        ("\n" + "\n".join(f"X{i} = {i}" for i in range(40)) + "\n", "lines: over 600"),
    ],
)
def test_a_builder_using_datasets_internals_or_too_long_is_refused_naming_it(
    package_copy, addition, named
):
    builder = package_copy / "read" / "builder.py"
    builder.write_text(builder.read_text() + addition)
    with pytest.raises(ValueError, match=re.escape(named)):
        standalone_builder(package_copy)


CARD_CHECK = r"""
import json
assert not [name for name in sys.modules if name.split(".")[0] == "sousa"]
audio = sample["audio"]
print(json.dumps({"sample_id": sample["sample_id"], "rate": audio["sampling_rate"],
                  "frames": len(audio["array"]), "dtype": str(audio["array"].dtype)}))
"""


@pytest.mark.parametrize("hub", ["xet"], indirect=True)
def test_the_cards_lines_for_visitors_without_sousa_stream_a_split_from_the_hub(
    hub, source, tmp_path
):
    """The card's block that runs the repo's own builder/sousa.py, exactly as the pushed card
    prints it, in a fresh process where sousa cannot be imported, against the emulated Hub."""
    from sousa.card.training import REPO_PLACEHOLDER

    from .push_cli import REPO, push_cli

    assert push_cli(source) == 0
    card = hub.read_file(REPO, "README.md").decode()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", card, re.S) if "hf_hub_download" in b]
    assert f'"{REPO}"' in block and REPO_PLACEHOLDER not in block
    (tmp_path / "visitor.py").write_text(NO_SOUSA + block + CARD_CHECK)
    done = subprocess.run(
        [sys.executable, "-I", "-B", "visitor.py"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    train = {row["sample_id"]: row for row in split_rows(source / "hf_staging", "train")}
    row = train[seen["sample_id"]]
    assert seen["frames"] == row["audio_frames"] and seen["rate"] == row["audio_sample_rate"]
    assert seen["dtype"] == "float32"
