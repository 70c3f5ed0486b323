"""The self-contained builder file (`builder/sousa.py` of a staging folder), produced from
sousa/builder.py with the format inlined, loads a staging folder where sousa is not installed."""

from __future__ import annotations

import ast
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sousa
from sousa.builder_file import standalone_builder
from sousa.layout import BUILDER_PATH

from .test_builder import assert_matches_source

# Run with `python -I` (no PYTHONPATH, no script folder on sys.path) and a finder placed first
# on sys.meta_path that refuses every `sousa` module, whatever installed it (the editable
# install's finder included); `-B`: no __pycache__ written into the (shared) staging folder.
WITHOUT_SOUSA = r"""
import importlib.abc, importlib.util, pickle, sys

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

builder_file, staging, cache, out = sys.argv[1:]
spec = importlib.util.spec_from_file_location("standalone_builder", builder_file)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
streamed = module.Sousa(base_path=staging, config_name="audio")
audio = list(streamed.as_streaming_dataset(split="validation"))
prepared = module.Sousa(base_path=staging, config_name="midi", cache_dir=cache)
prepared.download_and_prepare()
midi = list(prepared.as_dataset(split="test"))
assert not [name for name in sys.modules if name.split(".")[0] == "sousa"]
with open(out, "wb") as f:
    pickle.dump({"audio": audio, "midi": midi}, f)
"""


def run_without_sousa(builder_file: Path, staging: Path, tmp_path: Path):
    out = tmp_path / "examples.pickle"
    args = [str(builder_file), str(staging), str(tmp_path / "cache"), str(out)]
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", WITHOUT_SOUSA, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    return done, out


def test_the_staged_builder_loads_a_staging_folder_where_sousa_cannot_be_imported(
    staging, demo_template, tmp_path
):
    """The staging folder's own builder/sousa.py, in a process without sousa: streamed audio
    and prepared MIDI examples equal the source files and the split tables."""
    done, out = run_without_sousa(staging / BUILDER_PATH, staging, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    examples = pickle.loads(out.read_bytes())
    assert examples["audio"] and examples["midi"]
    assert_matches_source(examples["audio"], "audio", staging, "validation", demo_template)
    assert_matches_source(examples["midi"], "midi", staging, "test", demo_template)


def test_sousas_own_builder_source_does_not_load_without_sousa(staging, tmp_path):
    """The control: sousa/builder.py itself needs sousa, so the process above really lacks it."""
    done, _ = run_without_sousa(Path(sousa.__file__).parent / "builder.py", staging, tmp_path)
    assert done.returncode != 0
    assert "ImportError" in done.stderr


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
    for name in ("parse_tar_header", "Manifest", "member_key", "labels_json", "Sousa"):
        assert name in defined, name
    assert ast.get_docstring(tree).startswith("SOUSA reference loader")


@pytest.fixture
def package_copy(tmp_path) -> Path:
    return Path(shutil.copytree(Path(sousa.__file__).parent, tmp_path / "sousa"))


def test_a_builder_importing_another_sousa_module_is_refused_naming_it(package_copy):
    builder = package_copy / "builder.py"
    builder.write_text(builder.read_text() + "\nfrom .errors import InputError\n")
    with pytest.raises(ValueError, match=r"builder.py:\d+: imports 'errors' from sousa"):
        standalone_builder(package_copy)


def test_a_builder_redefining_a_name_of_the_format_is_refused_naming_it(package_copy):
    builder = package_copy / "builder.py"
    builder.write_text(builder.read_text() + "\n\ndef labels_json(row):\n    return b''\n")
    with pytest.raises(ValueError, match="builder.py binds 'labels_json', which layout.py"):
        standalone_builder(package_copy)
