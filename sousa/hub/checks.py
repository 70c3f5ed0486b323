"""What a push checks before a byte is sent, after the repo id (`limits.check_repo_id`): the
token and the card.

The token must exist, be accepted
(`whoami`, the push's first call: a Hub that cannot be reached fails there within ~10 s, naming
the endpoint) and not be a read token: on the Hub a read token may open a pull request but never
merge it, so a push with one could only fail at its end. The card is checked by the Hub's own
`validate-yaml` (what `DatasetCard.validate` asks), so a card the Hub would refuse costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, HfApi, get_token
from huggingface_hub.utils import get_session, hf_raise_for_status

from ..errors import InputError, PushError
from .calls import LOGIN_HINT, first_contact_policy, hub_call, never_connected


def check_card(staging: Path, repo_id: str, endpoint: str) -> None:
    """The card, checked by the Hub at `endpoint` (`validate-yaml`) before any data goes up."""
    path = staging / "README.md"
    try:
        card = DatasetCard(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise InputError(f"{path}: the card's metadata does not parse ({e})") from None
    try:
        hub_call("checking the card", repo_id, validate_card, card, endpoint)
    except ValueError as e:  # the Hub answered 400 with what it refuses
        raise InputError(f"{path}: the Hub refuses this card: {str(e).strip()}") from None


def validate_card(card: DatasetCard, endpoint: str) -> None:
    """`DatasetCard.validate`, asked of `endpoint`: huggingface_hub 1.x's `validate` posts to
    huggingface.co whatever `HF_ENDPOINT` says (2.x asks `constants.ENDPOINT`), so the same
    request is made here with the library's public session. A 400 is a `ValueError` with the
    Hub's reasons, as `validate` raises it."""
    response = get_session().post(
        f"{endpoint}/api/validate-yaml",
        json={"repoType": "dataset", "content": str(card)},
        headers={"Accept": "text/plain"},
    )
    if response.status_code == 400:
        raise ValueError(response.text)
    hf_raise_for_status(response)


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
