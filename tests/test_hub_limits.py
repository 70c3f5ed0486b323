"""Commit sizes and pace the Hub accepts, and what `hub_call` retries, refuses or lets through."""

from __future__ import annotations

import pytest
from hf_xet import XetAuthenticationError
from huggingface_hub.errors import HfHubHTTPError

from sousa.errors import InputError, PushError
from sousa.hub.calls import RetryPolicy, hub_call
from sousa.limits import (
    HUB_COMMITS_PER_HOUR,
    commit_batches,
    commit_pace,
    push_commit_count,
)
from sousa.package import main

from .hub_emulator.clients import hub_http_client

GB = 10**9
http = hub_http_client()  # httpx (huggingface_hub 1.x) or httpx2 (2.x)


def test_commits_hold_at_most_100_files_and_20_gb():
    sizes = {f"audio/train-{i:05d}.tar": 3 * GB for i in range(30)} | {"big.tar": 30 * GB}
    sizes |= {f"midi/train-{i:05d}.tar": 10**6 for i in range(250)}
    batches = list(commit_batches(sizes))
    assert [p for b in batches for p in b] == list(sizes), "every file once, in order"
    for batch in batches:
        assert len(batch) <= 100
        assert sum(sizes[p] for p in batch) <= 20 * GB or len(batch) == 1
    assert ["big.tar"] in batches


def test_10000_files_stay_under_the_hourly_commit_rate():
    small = {f"audio/train-{i:05d}.tar": 10**8 for i in range(10_000)}
    assert push_commit_count(small) == 101
    assert commit_pace(101) == 0.0, "101 commits fit in an hour's rate: no waiting"
    large = {f"audio/train-{i:05d}.tar": GB for i in range(10_000)}  # 20 a commit by size
    commits = push_commit_count(large)
    assert commits == 501
    pace = commit_pace(commits)
    assert pace > 0 and 3600 / pace < HUB_COMMITS_PER_HOUR, "paced under 128 an hour"


def test_the_dry_run_shows_the_number_of_commits(source, capsys):
    assert main([str(source), "--dry-run", "--shard-size", "150KB"]) == 0
    out = capsys.readouterr().out
    assert "push: 2 commits (at most 100 files each)" in out  # 33 data files + the last


def _policy(sleeps: list[float], **kw) -> RetryPolicy:
    return RetryPolicy(base=1.0, sleep=sleeps.append, **kw)


def _http_error(status: int, headers: dict | None = None) -> HfHubHTTPError:
    request = http.Request("POST", "http://127.0.0.1/api/datasets/u/r/commit/main")
    response = http.Response(status, headers=headers or {}, request=request)
    return HfHubHTTPError(f"{status}", response=response)


def _failing(errors: list[BaseException], result: str = "done"):
    def call():
        if errors:
            raise errors.pop(0)
        return result

    return call


def test_transient_failures_are_retried_with_backoff_honouring_retry_after():
    sleeps: list[float] = []
    errors = [
        _http_error(503),
        http.ConnectError("refused"),
        _http_error(429, {"Retry-After": "7"}),
    ]
    assert hub_call("x", "u/r", _failing(errors), policy=_policy(sleeps)) == "done"
    assert sleeps == [1.0, 2.0, 7.0]


def test_retries_are_bounded_in_tries_and_total_wait():
    sleeps: list[float] = []
    errors = [_http_error(502) for _ in range(9)]
    with pytest.raises(PushError, match=r"failed \(HTTP 502, 5 tries.*re-run the same command"):
        hub_call("the last commit", "u/r", _failing(errors), policy=_policy(sleeps))
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    sleeps.clear()
    errors = [_http_error(429, {"Retry-After": "3600"})]
    with pytest.raises(PushError, match="1 tries"):
        hub_call("x", "u/r", _failing(errors), policy=_policy(sleeps, budget=120))
    assert sleeps == [], "a wait over the budget is not started"


XET_401 = "Network error: Request error: HTTP status client error (401 Unauthorized), domain: x"


@pytest.mark.parametrize(
    "error",
    [
        _http_error(401),
        _http_error(403),
        XetAuthenticationError("Authentication error: 401"),
        ConnectionError(XET_401),  # what hf_xet 1.8 raises when its token endpoint says 401
    ],
)
def test_auth_failures_are_input_errors_without_retry(error):
    sleeps: list[float] = []
    with pytest.raises(InputError, match="no write access to u/r with this token"):
        hub_call("x", "u/r", _failing([error]), policy=_policy(sleeps))
    assert sleeps == []


def test_a_refusal_is_not_retried_and_a_programming_error_keeps_its_traceback():
    sleeps: list[float] = []
    with pytest.raises(PushError, match="refused \\(HTTP 409"):
        hub_call("x", "u/r", _failing([_http_error(409)]), policy=_policy(sleeps))
    with pytest.raises(TypeError, match="a bug"):
        hub_call("x", "u/r", _failing([TypeError("a bug")]), policy=_policy(sleeps))
    assert sleeps == []
