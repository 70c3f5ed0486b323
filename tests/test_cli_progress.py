"""Both command lines treat progress the same way: bars on a terminal, `--quiet` hides them,
`--progress` forces them where stderr is not a terminal (as here: pytest's capture).

Each CLI's `main` is called in this process: what decides is `sys.stderr.isatty()` and the
flags, the same in a child process (whose `python -m` entry points other tests run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sousa.demo import write_demo
from sousa.demo.cli import main as demo_main
from sousa.package import main as package_main


@pytest.fixture(scope="module")
def small_source(tmp_path_factory) -> Path:
    """A source small enough that packaging it is quick; its bars are the same bars."""
    return write_demo(tmp_path_factory.mktemp("progress") / "src", n_samples=6, seconds=0.1)


@pytest.fixture
def commands(small_source, tmp_path):
    """Each CLI with arguments that do real work in a fresh output folder per call."""
    calls = iter(range(100))

    def demo():
        return demo_main, [str(tmp_path / f"demo{next(calls)}"), "-n", "3", "--seconds", "0.1"]

    def package():
        out = tmp_path / f"staging{next(calls)}"
        return package_main, [str(small_source), "--out", str(out)]

    return {"demo": demo, "package": package}


@pytest.mark.parametrize("cli", ["demo", "package"])
def test_progress_shows_only_when_asked_off_a_terminal_and_quiet_wins(commands, cli, capsys):
    def stderr(*flags: str) -> str:
        main, args = commands[cli]()
        assert not sys.stderr.isatty() and main([*args, *flags]) == 0
        return capsys.readouterr().err

    assert "it/s" not in (plain := stderr()) and "B/s" not in plain and "100%" not in plain
    assert "100%" in stderr("--progress")
    assert "100%" not in stderr("--progress", "--quiet")
