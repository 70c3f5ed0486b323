"""Every `python` block of README.md and of a freshly staged card runs as written.

The setting is what the README promises after `make demo` and a push: a working folder holding
`output/demo/hf_staging` (the demo packaged as `make demo` does, with `--repo-id user/sousa`),
pushed to the Hub emulator as `user/sousa`, the clients pointed at it (`HF_ENDPOINT`,
`HF_TOKEN`). Each block runs as a script of its own (`runpy`: fresh globals, as `python
block.py`), so a block that uses a name another block defined fails; they run one after the
other in one child process (the imports of torch and datasets are paid once). A failure names
the block's file and line.

A block may say what it needs in an HTML comment on the line before its fence:
`<!-- snippet: needs duckdb -->` (a module) or `<!-- snippet: skip: why -->`. A block whose
needs (those, and the modules it imports) are not installed is skipped, and the test says
which and why; the native-audio modules (torch, torchcodec, torchdata) are required when
SOUSA_REQUIRE_NATIVE_AUDIO=1, as in CI. A card block that calls `load_dataset` decodes audio
natively, so it needs torchcodec.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from .push_cli import stage

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)
MARK = re.compile(r"<!-- snippet: (needs|skip):? (.*?) -->")
NATIVE = ("torch", "torchcodec", "torchdata")
DEMO = Path("output/demo")  # where `make demo` writes, relative to the working folder


@dataclass(frozen=True)
class Block:
    """A `python` block: where it is, its code (dedented), and what it says it needs."""

    file: str
    line: int  # of the code's first line
    code: str
    needs: tuple[str, ...] = ()
    skip: str | None = None

    @property
    def name(self) -> str:
        return f"{self.file} line {self.line}"


def python_blocks(text: str, file: str, implied: dict[str, str] | None = None) -> list[Block]:
    """The `python` blocks of a Markdown text, with the marks on the line before each fence;
    `implied` maps a string found in a block's code to a module the block needs."""
    blocks = []
    for match in FENCE.finditer(text):
        indent, body = match.group(1), match.group(2)
        code = "\n".join(line.removeprefix(indent) for line in body.splitlines()) + "\n"
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        needs = [mark.group(2).split()[0]] if mark and mark.group(1) == "needs" else []
        needs += [module for found, module in (implied or {}).items() if found in code]
        needs += sorted(_imports(code))
        line = text[: match.start()].count("\n") + 2
        skip = mark.group(2) if mark and mark.group(1) == "skip" else None
        blocks.append(Block(file, line, code, tuple(dict.fromkeys(needs)), skip))
    return blocks


def _imports(code: str) -> set[str]:
    tree = ast.parse(code)
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {name.split(".")[0] for name in names}


def why_skipped(block: Block) -> str | None:
    """Why `block` cannot run here (None: it runs); a missing native-audio module fails
    instead when SOUSA_REQUIRE_NATIVE_AUDIO=1."""
    if block.skip:
        return f"marked skip: {block.skip}"
    missing = [m for m in block.needs if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    if os.environ.get("SOUSA_REQUIRE_NATIVE_AUDIO") == "1" and set(missing) & set(NATIVE):
        pytest.fail(f"{block.name} needs {', '.join(missing)}, not installed")
    return f"needs {', '.join(missing)} (not installed)"


# Runs each script as `python script.py` would, and writes its traceback beside it on failure.
RUN_EACH = """
import runpy, sys, traceback
for script in sys.argv[1:]:
    try:
        runpy.run_path(script, run_name="__main__")
    except BaseException:
        with open(script + ".err", "w") as f:
            f.write(traceback.format_exc())
"""


def run_blocks(blocks: list[Block], folder: Path, env: dict[str, str]) -> dict[str, str]:
    """Run each block as a script in one child process (cwd `folder`); block name → the last
    lines of its traceback, for those that failed."""
    scripts = folder / "snippets"
    scripts.mkdir(exist_ok=True)
    paths = []
    for block in blocks:
        path = scripts / f"{block.file.replace('/', '_')}-line-{block.line}.py"
        path.write_text(block.code)
        paths.append(path)
    done = subprocess.run(
        [sys.executable, "-c", RUN_EACH, *map(str, paths)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    failed = {}
    for block, path in zip(blocks, paths):
        error = Path(f"{path}.err")
        if error.exists():
            trace = error.read_text()
            lines = re.findall(rf'File "{re.escape(str(path))}", line (\d+)', trace)
            where = f" (at line {block.line + int(lines[-1]) - 1})" if lines else ""
            failed[block.name] = where + ":\n" + "\n".join(trace.strip().splitlines()[-4:])
    return failed


@pytest.fixture(scope="module")
def published(demo_template, tmp_path_factory, request) -> tuple[Path, dict[str, str]]:
    """A working folder holding `output/demo/hf_staging` (the demo packaged as `make demo`
    packages it, naming `user/sousa`), pushed to a Hub emulator as `user/sousa`; and the
    environment of a client pointed at it. The emulator lives as long as this module's
    tests."""
    from .hub_emulator import HubEmulator
    from .push_cli import push_cli

    folder = tmp_path_factory.mktemp("newcomer")
    source = Path(shutil.copytree(demo_template, folder / DEMO))
    emulator = HubEmulator()
    request.addfinalizer(emulator.close)
    mp = pytest.MonkeyPatch()
    request.addfinalizer(mp.undo)
    from .hub_emulator.clients import guard_network, point_clients_at

    point_clients_at(emulator.endpoint, folder / "push_home", "hf_test_write", mp)
    guard_network(mp, emulator.blocked_hosts)
    stage(source, "--shard-size", "1MB")
    assert push_cli(source, "--shard-size", "1MB") == 0
    env = emulator.client_env(folder / "hf_home")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    return folder, env


def readme_blocks() -> list[Block]:
    return python_blocks((REPO / "README.md").read_text(encoding="utf-8"), "README.md")


def card_blocks(folder: Path) -> list[Block]:
    card = folder / DEMO / "hf_staging" / "README.md"
    text = card.read_text(encoding="utf-8")
    return python_blocks(text, "the card", implied={"load_dataset(": "torchcodec"})


@pytest.fixture(scope="module")
def outcomes(published) -> tuple[list[Block], dict[str, str], dict[str, str]]:
    """Every block of README.md and of the pushed demo's card: (blocks, block name → why it
    was skipped, block name → how it failed)."""
    folder, env = published
    blocks = readme_blocks() + card_blocks(folder)
    skipped = {b.name: why for b in blocks if (why := why_skipped(b))}
    failed = run_blocks([b for b in blocks if b.name not in skipped], folder, env)
    return blocks, skipped, failed


def test_readme_and_card_have_python_blocks_to_run(outcomes):
    blocks, skipped, _ = outcomes
    files = {b.file for b in blocks if b.name not in skipped}
    assert files == {"README.md", "the card"}, "each file has blocks that run here"


def test_every_python_block_of_the_readme_and_the_card_runs_as_written(outcomes):
    blocks, skipped, failed = outcomes
    for name, why in skipped.items():
        warnings.warn(f"{name}: not run: {why}", stacklevel=1)
    assert not failed, "\n\n".join(f"{name} fails{tail}" for name, tail in failed.items())


def test_a_block_that_uses_a_name_it_does_not_define_fails_naming_its_line(tmp_path):
    """The mutant the test must catch: a name broken in one block fails that block, named
    by file and line, and the others still run."""
    text = (
        "Intro.\n\n```python\nvalue = 41\n```\n\n"
        "```python\nprint(value + 1)  # defined in the block above, not here\n```\n\n"
        "<!-- snippet: needs no_such_module_here -->\n```python\nimport json\n```\n"
    )
    blocks = python_blocks(text, "DOC.md")
    assert [(b.line, b.needs) for b in blocks] == [
        (4, ()), (8, ()), (13, ("no_such_module_here", "json"))
    ]  # fmt: skip
    assert why_skipped(blocks[2]) == "needs no_such_module_here (not installed)"
    failed = run_blocks(blocks[:2], tmp_path, dict(os.environ))
    assert list(failed) == ["DOC.md line 8"]
    assert failed["DOC.md line 8"].startswith(" (at line 8):\n")
    assert "NameError: name 'value' is not defined" in failed["DOC.md line 8"]
