"""What a push checks before a byte is sent, after the repo id (`limits.check_repo_id`): the
token and the card.

The token must exist, be accepted
(`whoami`, the push's first call: a Hub that cannot be reached fails there within ~10 s, naming
the endpoint) and not be a read token: on the Hub a read token may open a pull request but never
merge it, so a push with one could only fail at its end. The card is checked by the Hub's own
`validate-yaml` (`DatasetCard.validate`), so a card the Hub would refuse costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, HfApi, get_token

from ..errors import InputError, PushError
from .calls import LOGIN_HINT, first_contact_policy, hub_call, never_connected


def check_card(staging: Path, repo_id: str) -> None:
    """The card, checked as the Hub checks it (`validate-yaml`) before any data goes up."""
    path = staging / "README.md"
    try:
        card = DatasetCard(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise InputError(f"{path}: the card's metadata does not parse ({e})") from None
    try:
        hub_call("checking the card", repo_id, card.validate, repo_type="dataset")
    except ValueError as e:  # the Hub answered 400 with what it refuses
        raise InputError(f"{path}: the Hub refuses this card: {str(e).strip()}") from None


def require_token(api: HfApi, token: str | None, repo_id: str) -> tuple[str, str]:
    """The token to use and its user name; a missing, rejected or read-only token is an
    InputError (a read token may still open pull requests on the Hub, but never merge them)."""
    token = token or get_token()
    if not token:
        raise InputError(f"no Hugging Face token found: {LOGIN_HINT}")
    rejected = "the Hugging Face token was rejected"
    try:
        me = hub_call(
            "checking the token", "the Hub", api.whoami, token=token, auth_message=rejected,
            policy=first_contact_policy(),
        )  # fmt: skip
    except PushError as e:  # the first call of a push: nothing has been sent
        cause = never_connected(e.__cause__)
        if cause is None:
            raise
        raise PushError(
            f"cannot reach {api.endpoint} ({cause}): check the network or HF_ENDPOINT; "
            "nothing was sent"
        ) from None
    if me.get("auth", {}).get("accessToken", {}).get("role") == "read":
        raise InputError(f"no write access to {repo_id} with a read token: {LOGIN_HINT}")
    return token, me["name"]
