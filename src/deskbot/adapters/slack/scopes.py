"""Which OAuth scopes deskbot's bot token needs, and which of them a token lacks.

Slack names a token's scopes in the ``x-oauth-scopes`` header of every Web API answer; one
``auth.test`` call is enough to compare them with what deskbot uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from deskbot.log import get_logger

log = get_logger(__name__)

# scope -> what deskbot does with it (and what breaks without it)
REQUIRED_SCOPES: dict[str, str] = {
    "commands": "the /deskbot slash command",
    "chat:write": "alerts, digests, shout-outs and direct messages",
    "im:write": "opening direct messages (QA tasks, NPS asks, review results)",
    "users:read": "people's names and time zones",
    "users:read.email": "matching Zendesk agents to Slack users by e-mail",
    "usergroups:read": "departments and roles from Slack user groups",
    "files:write": "chart images in digests and reports",
    "channels:read": "channel names in the YAML file -> channel ids",
    "groups:read": "private channel names in the YAML file -> channel ids",
    "channels:history": (
        "finding deskbot's own posts after a crash; without it posts are at-least-once after "
        "a crash (a rare duplicate instead of a lost message)"
    ),
    "groups:history": "the same as channels:history, for private channels",
    "im:history": (
        "the same for direct messages (QA tasks, NPS asks, calibration invitations): without "
        "it a DM cut off by a crash may be sent twice"
    ),
}


def missing_scopes(granted: Iterable[str]) -> dict[str, str]:
    """The required scopes not in ``granted``, each with what it is for."""
    have = {s.strip() for s in granted if s.strip()}
    return {scope: why for scope, why in REQUIRED_SCOPES.items() if scope not in have}


def granted_scopes(client: WebClient) -> list[str] | None:
    """The bot token's scopes as Slack reports them, or ``None`` when Slack does not say
    (a proxy that drops the header) or the call fails."""
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        log.warning("slack.scope_check_failed", error=str(exc.response.get("error")))
        return None
    header = {k.lower(): v for k, v in (response.headers or {}).items()}.get("x-oauth-scopes")
    if header is None:
        return None
    return [s for s in str(header).split(",") if s.strip()]


def log_missing_scopes(client: WebClient) -> dict[str, str] | None:
    """Check the token once and log what is missing (one warning); returns the missing scopes,
    or ``None`` when they could not be read."""
    granted = granted_scopes(client)
    if granted is None:
        return None
    missing = missing_scopes(granted)
    if missing:
        log.warning(
            "slack.missing_scopes",
            scopes=sorted(missing),
            hint="add them under OAuth & Permissions in the Slack app and reinstall it",
        )
    return missing
