"""A newcomer's ordinary mistakes: each gets one line saying what happened and what to do, the
exit status (2: bad input, 1: the world), and no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from sousa.package import main

from .helpers import tree_digest
from .push_cli import push_cli, stage

REPO = Path(__file__).resolve().parent.parent


def one_line_error(capsys) -> str:
    """The CLI's stderr, asserted to be one `error:` line; stdout empty."""
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_push_without_a_repo_id_says_push_needs_one(source, capsys):
    before = tree_digest(source)
    assert main([str(source), "--quiet", "--push"]) == 2
    line = one_line_error(capsys)
    assert line.startswith("error: --push needs --repo-id user/name: the dataset repo to push")
    assert "None" not in line
    assert tree_digest(source) == before and not (source / "hf_staging").exists()


def test_a_staging_folder_given_as_the_source_is_named_as_one(staging, capsys):
    before = tree_digest(staging)
    assert main([str(staging), "--quiet", "--dry-run"]) == 2
    line = one_line_error(capsys)
    assert line == (
        f"error: {staging}: this is a staging folder (it has manifest.json): give the "
        f"generator's output folder, the one holding labels/ and splits.json (perhaps "
        f"{staging.parent})"
    )
    assert tree_digest(staging) == before


def test_a_closed_stdout_ends_a_dry_run_quietly(source):
    """`python -m sousa.package DIR --dry-run | head -0`: the reader is gone before the plan is
    printed; the process ends without a BrokenPipeError traceback."""
    child = subprocess.Popen(
        [sys.executable, "-m", "sousa.package", str(source), "--dry-run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    child.stdout.close()  # the only reader: the child's writes now fail with EPIPE
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 1
    assert err == "", err


def test_a_namespace_the_token_cannot_write_to_is_named_with_the_tokens_user(hub, source, capsys):
    assert push_cli(source, repo_id="you/sousa") == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "error: no write access to you/sousa: this token is user user's, and a token writes "
        "only under its user's and its organisations' names (you is neither): push to "
        "user/sousa, or use a token that may write to you"
    )
    assert not hub.repos and not hub.stats.commits


def test_a_token_writes_to_its_organisations_repos(hub, source, capsys):
    hub.orgs.append("drums")
    assert push_cli(source, repo_id="drums/sousa") == 0, capsys.readouterr().err
    assert ("dataset", "drums/sousa") in hub.repos


def test_a_busy_emulator_port_gets_one_line(capsys):
    from .hub_emulator.__main__ import main as emulator_main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert emulator_main(["--port", str(port), "--token", "hf_x"]) == 2
    assert capsys.readouterr().err == (
        f"error: port {port} on 127.0.0.1 is in use (another emulator?): choose another "
        "--port, or --port 0 for any free one\n"
    )


def test_no_hub_to_reach_fails_within_10_s_naming_the_endpoint(
    source, tmp_path, monkeypatch, capsys
):
    """A closed loopback port as HF_ENDPOINT: the push's first call is refused a connection.
    It retries briefly (waits recorded, not slept), then says what and where, exit 1."""
    from sousa.hub.calls import RetryPolicy

    from .hub_emulator.clients import point_clients_at

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    point_clients_at(endpoint, tmp_path / "home", "hf_test_write", monkeypatch)
    waits: list[float] = []
    monkeypatch.setattr("sousa.hub.calls.RETRY", RetryPolicy(sleep=waits.append))
    stage(source)
    assert main([str(source), "--quiet", "--push", "--repo-id", "user/sousa"]) == 1
    assert len(waits) == 2 and sum(waits) <= 10, waits
    err = capsys.readouterr().err
    assert err == (
        f"error: cannot reach {endpoint} (connection refused): check the network or "
        "HF_ENDPOINT; nothing was sent\n"
    )


def test_a_quiet_push_writes_no_progress_bar_to_its_log(hub, source, tmp_path):
    """`python -m sousa.package DIR --push --quiet 2>log`: none of huggingface_hub's or
    hf_xet's bars in the log (without --quiet the same holds, stderr not being a terminal:
    one rule, `wants_progress`). The summary lines stay, on stdout."""
    stage(source)
    log = tmp_path / "log"
    with open(log, "w") as err:
        done = subprocess.run(
            [sys.executable, "-m", "sousa.package", str(source), "--push", "--repo-id",
             "user/sousa", "--quiet"],
            stdout=subprocess.PIPE, stderr=err, text=True, env=hub.client_env(tmp_path / "h"),
            cwd=REPO,
        )  # fmt: skip
    assert done.returncode == 0, log.read_text()
    assert log.read_text() == "", log.read_text()[-2000:]
    assert "pushed: " in done.stdout and "load it: " in done.stdout
    assert hub.stats.commits, "files were uploaded: the bars had something to show"
