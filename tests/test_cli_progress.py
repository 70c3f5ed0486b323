"""Both command lines treat progress the same way: bars on a terminal, `--quiet` hides them,
`--progress` forces them where stderr is not a terminal (as here: a pipe)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _stderr(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.fixture
def commands(demo_template, tmp_path):
    """Each CLI with arguments that do real work in a fresh output folder per call."""
    calls = iter(range(100))

    def demo():
        return ["sousa.demo", str(tmp_path / f"demo{next(calls)}"), "-n", "3", "--seconds", "0.1"]

    def package():
        out = tmp_path / f"staging{next(calls)}"
        return ["sousa.package", str(demo_template), "--out", str(out)]

    return {"demo": demo, "package": package}


@pytest.mark.parametrize("cli", ["demo", "package"])
def test_progress_shows_only_when_asked_off_a_terminal_and_quiet_wins(commands, cli):
    command = commands[cli]
    assert "it/s" not in _stderr(*command()) and "B/s" not in _stderr(*command())
    forced = _stderr(*command(), "--progress")
    assert "100%" in forced
    assert "100%" not in _stderr(*command(), "--progress", "--quiet")
