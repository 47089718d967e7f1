"""Slack users and user groups for the people directory (``services.people.PeopleSource``).

- ``users.list`` is read page by page (``cursor``, ``limit`` ≤ 200) and paced for Tier 2
  (at most 20 calls in any minute) on the injected clock; a 429 is retried after
  ``Retry-After`` by the client's retry handler (``notifier.ClockRateLimitRetryHandler``:
  slack_sdk's ``RateLimitErrorRetryHandler`` waiting on the clock); 500/503 answers and dropped
  connections are retried with exponential backoff, on the clock too.
- ``missing_scope`` becomes ``ScopeMissing`` naming the scope Slack says is needed.
- E-mails are read (``profile.email``) and handed to the service; they are never logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from deskbot.adapters.slack.notifier import ClockServerErrorRetryHandler, make_client
from deskbot.domain.people_match import SlackMember
from deskbot.errors import SlackError
from deskbot.log import get_logger
from deskbot.ports import Clock, SystemClock
from deskbot.services.people import ScopeMissing

log = get_logger(__name__)

# Calls per minute of one method: Slack's tiers (Tier 2 ≈ 20/min, Tier 3 ≈ 50/min).
PER_MINUTE = {"users.list": 20, "usergroups.users.list": 20, "users.lookupByEmail": 50}
SCOPES = {
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.users.list": "usergroups:read",
}


def member_from_json(user: dict[str, Any], *, found_by_lookup: bool = False) -> SlackMember:
    profile = user.get("profile") or {}
    name = (
        user.get("real_name")
        or profile.get("real_name")
        or profile.get("display_name")
        or user.get("name")
        or user["id"]
    )
    return SlackMember(
        id=str(user["id"]),
        name=str(name),
        email=profile.get("email"),
        tz=user.get("tz"),
        deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot")) or bool(user.get("is_app_user")),
        is_guest=bool(user.get("is_restricted")) or bool(user.get("is_ultra_restricted")),
        found_by_lookup=found_by_lookup,
    )


class SlackPeopleSource:
    """``PeopleSource`` over a ``WebClient``."""

    def __init__(self, client: WebClient, clock: Clock | None = None, page_size: int = 200) -> None:
        self._client = client
        self._clock = clock or SystemClock()
        self._page_size = max(1, min(page_size, 200))
        self._recent: dict[str, list[float]] = {}  # method → monotonic times of recent calls
        self.calls: dict[str, int] = {}

    @classmethod
    def from_token(
        cls, token: str, base_url: str | None, clock: Clock | None = None, page_size: int = 200
    ) -> SlackPeopleSource:
        client = make_client(token, base_url, clock=clock)
        client.retry_handlers.append(ClockServerErrorRetryHandler(clock or SystemClock()))
        return cls(client, clock, page_size)

    def _pace(self, method: str) -> None:
        """At most ``PER_MINUTE[method]`` calls in any 60 seconds (Slack's tier), waiting on the
        clock: a small workspace is read at once, a large one at the tier's pace. A 429 beyond
        it (another app on the same token) is still honoured by the retry handler."""
        limit = PER_MINUTE.get(method)
        if limit is None:
            return
        now = self._clock.monotonic()
        recent = [t for t in self._recent.get(method, []) if now - t < 60.0]
        if len(recent) >= limit:
            self._clock.sleep(60.0 - (now - recent[0]))
            now = self._clock.monotonic()
            recent = [t for t in recent if now - t < 60.0]
        recent.append(now)
        self._recent[method] = recent

    def _call(self, method: str, **args: Any) -> dict[str, Any]:
        self._pace(method)
        self.calls[method] = self.calls.get(method, 0) + 1
        try:
            response = self._client.api_call(method, params=args)
        except SlackApiError as exc:
            data = exc.response.data if exc.response is not None else {}
            error = str(data.get("error", "")) if isinstance(data, dict) else ""
            if error == "missing_scope":
                needed = data.get("needed") if isinstance(data, dict) else None
                raise ScopeMissing(str(needed or SCOPES.get(method, "?")), method) from exc
            if error == "users_not_found" and method == "users.lookupByEmail":
                return {"ok": False, "error": error}
            if error in ("no_such_subteam", "subteam_not_found"):
                return {"ok": False, "error": error}
            raise SlackError(f"Slack {method} failed: {error or exc}") from exc
        data = response.data
        return data if isinstance(data, dict) else {}

    def list_users(self) -> Iterator[SlackMember]:
        cursor = ""
        while True:
            args: dict[str, Any] = {"limit": self._page_size}
            if cursor:
                args["cursor"] = cursor
            page = self._call("users.list", **args)
            for user in page.get("members") or []:
                yield member_from_json(user)
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return

    def lookup_by_email(self, email: str) -> SlackMember | None:
        """The Slack user with this e-mail, or ``None`` (not found, or the lookup failed: a
        straggler stays unmatched this time rather than failing the whole refresh)."""
        try:
            data = self._call("users.lookupByEmail", email=email)
        except SlackError as exc:
            log.warning("people.lookup_failed", error=str(exc))
            return None
        user = data.get("user")
        return member_from_json(user, found_by_lookup=True) if data.get("ok") and user else None

    def usergroup_members(self, usergroup_id: str) -> list[str] | None:
        """The group's members; ``None`` when it cannot be read (the department keeps its last
        known members and the refresh warns); a missing scope still stops the refresh."""
        try:
            data = self._call("usergroups.users.list", usergroup=usergroup_id)
        except SlackError as exc:
            log.warning("people.usergroup_failed", usergroup=usergroup_id, error=str(exc))
            return None
        if not data.get("ok"):
            log.warning("people.usergroup_unknown", usergroup=usergroup_id, error=data.get("error"))
            return None
        return [str(u) for u in data.get("users") or []]
