"""One Hub call, retried when the failure is transient and named by its cause when it is not.

huggingface_hub retries its LFS transfers and (with hf_xet) its data commits, but not
`whoami`, `create_repo`, `create_branch`, a `create_commit`, pull requests or tree listings:
one 429 or 503 there would end a long push. `hub_call` retries those on 408/429/5xx and on
connection errors, with exponential backoff that honours `Retry-After`, bounded in tries and
total wait. What it lets through is only what a Hub call raises: a programming error keeps its
traceback.

Outcomes: 401/403 is an `InputError` (exit 2) "no write access", or, for a call that passes
`forbidden`, that message on a 403 (a pull request refused is not a missing write access); a
transient failure that outlasts the retries, or a refusal (4xx), is a `PushError` (exit 1)
saying what failed.
The Xet token endpoint is the awkward one: hf_xet 1.8 reports its 401/403 as a plain
`ConnectionError` ("Network error: ... HTTP status client error (401 Unauthorized), ...").
So a push asks for that token itself before any data goes up (`check_xet_write_token`: a real
HTTP answer), and a `ConnectionError` worded as above also counts as an auth failure.
"""

from __future__ import annotations

import errno
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import quote

from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from ..errors import InputError, PushError

try:  # a required dependency of huggingface_hub on x86_64 and arm64, absent elsewhere
    from hf_xet import XetAuthenticationError, XetObjectNotFoundError

    HAS_XET = True
except ImportError:  # pragma: no cover - platforms without hf_xet take the LFS path
    HAS_XET = False

    class XetAuthenticationError(PermissionError):  # type: ignore[no-redef]
        """Stands in for hf_xet's error where hf_xet is not installed."""

    class XetObjectNotFoundError(FileNotFoundError):  # type: ignore[no-redef]
        """Stands in for hf_xet's error where hf_xet is not installed."""


T = TypeVar("T")
LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN to a token with write access"
RESUME_HINT = "re-run the same command to resume: committed files are not sent again"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def client_transport_error() -> type[Exception]:
    """The `TransportError` (timeouts, refused/reset connections, protocol errors) of the HTTP
    client that huggingface_hub sends with: httpx in 1.x, httpx2 in 2.x. Found from the public
    `get_session()`'s class, so sousa imports neither (each comes with its huggingface_hub)."""
    for cls in type(get_session()).__mro__:
        package = sys.modules.get(cls.__module__.split(".")[0])
        error = getattr(package, "TransportError", None)
        if isinstance(error, type) and issubclass(error, Exception):
            return error
    raise ImportError(f"huggingface_hub's HTTP client {type(get_session())} has no TransportError")


# hf_xet raises the builtin ConnectionError / TimeoutError for the client's transport errors.
NETWORK_ERRORS = (client_transport_error(), ConnectionError, TimeoutError)
HUB_ERRORS = (HfHubHTTPError, XetAuthenticationError, XetObjectNotFoundError, *NETWORK_ERRORS)
XET_REFUSED = re.compile(r"HTTP status client error \((40[13])\b")  # hf_xet 1.8's wording


@dataclass(frozen=True)
class RetryPolicy:
    """5 tries, waits of base·2ⁿ (2, 4, 8, 16 s by default), at most 2 minutes in all."""

    tries: int = 5
    base: float = 2.0
    budget: float = 120.0
    sleep: Callable[[float], None] = time.sleep


RETRY = RetryPolicy()  # what every call uses unless it is given a policy
FIRST_CONTACT_TRIES, FIRST_CONTACT_BUDGET = 3, 10.0  # a push's first call: waits of 2 + 4 s


def first_contact_policy() -> RetryPolicy:
    """`RETRY` (its sleep included) cut to 3 tries and 10 s of waiting: for a push's first
    call, where a Hub that cannot be reached is more likely a missing network or a wrong
    HF_ENDPOINT than a blip, and nothing has been sent yet. Later calls keep `RETRY`."""
    return replace(RETRY, tries=FIRST_CONTACT_TRIES, budget=FIRST_CONTACT_BUDGET)


def never_connected(error: BaseException | None) -> str | None:
    """Why a request's connection was never made, from the error and its causes ("connection
    refused", "name not resolved", "network unreachable"), or None when it was made (a reset,
    a timeout reading, an HTTP status) or the error is no network error."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "name not resolved"
        if isinstance(seen, OSError) and seen.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "network unreachable"
        if _named(seen, "ConnectTimeout"):
            return "timed out connecting"
        seen = seen.__cause__ or seen.__context__
    return "could not connect" if _named(error, "ConnectError") else None


def _named(error: BaseException | None, name: str) -> bool:
    """Is `error` of a class called `name` (httpx's and httpx2's `ConnectError` and
    `ConnectTimeout`: the client huggingface_hub sends with, whichever it is)?"""
    return any(cls.__name__ == name for cls in type(error).__mro__)


def hub_call(
    what: str,
    repo_id: str,
    call: Callable[..., T],
    /,
    *args,
    policy: RetryPolicy | None = None,
    auth_message: str | None = None,
    forbidden: str | None = None,
    **kwargs,
) -> T:
    """`call(*args, **kwargs)`, retried on transient Hub failures; see the module docstring.

    `what` names the step in messages ("the last commit"); `auth_message` replaces the
    "no write access" message (a rejected token at `whoami` is not about this repo);
    `forbidden` is the whole message for a 403.
    """
    policy = policy or RETRY
    waited = 0.0
    for attempt in range(1, policy.tries + 1):
        try:
            return call(*args, **kwargs)
        except HUB_ERRORS as e:
            status = _status(e)
            if status == 403 and forbidden:
                raise InputError(forbidden) from None
            if status in (401, 403) or isinstance(e, XetAuthenticationError):
                message = auth_message or f"no write access to {repo_id} with this token"
                raise InputError(f"{message}: {LOGIN_HINT}") from None
            if not _transient(e, status):
                raise PushError(
                    f"{what} on {repo_id} was refused ({describe(e)}); once the cause is "
                    f"fixed, {RESUME_HINT}"
                ) from e
            wait = max(policy.base * 2 ** (attempt - 1), _retry_after(e) or 0.0)
            if attempt == policy.tries or waited + wait > policy.budget:
                raise PushError(
                    f"{what} on {repo_id} failed ({describe(e)}, {attempt} tries, "
                    f"{waited:.0f} s of waiting); {RESUME_HINT}"
                ) from e
            policy.sleep(wait)
            waited += wait
    raise AssertionError("unreachable: the loop returns or raises")


def check_xet_write_token(endpoint: str, repo_id: str, revision: str, token: str) -> None:
    """Ask for the Xet write token an upload to `revision` will use (when uploads go through
    Xet): a refusal here has an HTTP status, where hf_xet's own request would not say why."""
    if not HAS_XET or hub_constants.HF_HUB_DISABLE_XET:
        return
    url = f"{endpoint}/api/datasets/{repo_id}/xet-write-token/{quote(revision, safe='')}"
    response = get_session().get(url, headers=build_hf_headers(token=token))
    hf_raise_for_status(response)


def describe(error: BaseException) -> str:
    """`HTTP 503: <the server's message>` or the error's type: never its text, which may quote
    request headers."""
    status = _status(error)
    if status is None:
        return type(error).__name__
    server = getattr(error, "server_message", None)
    return f"HTTP {status}" + (f": {server.strip()[:200]}" if server else "")


def _transient(error: BaseException, status: int | None) -> bool:
    if isinstance(error, NETWORK_ERRORS):
        return True
    if isinstance(error, HfHubHTTPError):
        return status is None or status in TRANSIENT_STATUS
    return False  # XetObjectNotFoundError: an upload the CAS does not know; retrying won't help


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    if response is None and isinstance(error, ConnectionError):
        refused = XET_REFUSED.search(str(error))
        return int(refused.group(1)) if refused else None
    return getattr(response, "status_code", None)


def _retry_after(error: BaseException) -> float | None:
    """`Retry-After` in seconds (an integer, or an HTTP date), if the response has one."""
    response = getattr(error, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
