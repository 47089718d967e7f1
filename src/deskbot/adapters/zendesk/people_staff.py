"""Zendesk agents and admins for the people directory, read from the Users API.

The ticket export only sideloads users that appear on tickets, so a new agent who has not
touched a ticket yet would be missing: each directory refresh lists ``role=agent`` and
``role=admin`` (cursor pagination, ``page[size]=100``) through the same paced, retried zenpy
client the sync uses, and the refresh stores them in the ``users`` table like the sync does.
"""

from __future__ import annotations

from typing import Any

from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.adapters.zendesk.endpoints import Endpoint
from deskbot.adapters.zendesk.mapping import MalformedPage, map_user
from deskbot.errors import ZendeskError

USERS = Endpoint(
    name="users", path="users.json", data_key="users", pagination="cursor", zenpy_api="users"
)
STAFF_ROLES = ("agent", "admin")
MAX_PAGES = 1000  # 100k staff: a loop that never ends is a bug, not a help desk


class ZendeskStaffSource:
    def __init__(self, client: ZendeskClient) -> None:
        self._client = client

    def staff(self) -> list[dict[str, Any]]:
        """Every agent and admin (suspended ones too) as ``users`` rows."""
        rows: list[dict[str, Any]] = []
        for role in STAFF_ROLES:
            url: str | None = None
            for _ in range(MAX_PAGES):
                params = None if url else {"role": role, "page[size]": 100}
                body = self._client.call(
                    f"list Zendesk {role}s",
                    lambda p=params, u=url: self._client.get_json(USERS, p, u),  # type: ignore[misc]
                )
                users = body.get("users") if isinstance(body, dict) else None
                if not isinstance(users, list):
                    raise ZendeskError(f"Zendesk's user list for role {role} has no 'users' list")
                try:
                    rows += [map_user(u, f"users[{i}]") for i, u in enumerate(users)]
                except MalformedPage as exc:
                    raise ZendeskError(f"Zendesk's user list for role {role}: {exc}") from exc
                meta = body.get("meta") or {}
                url = (
                    (body.get("links") or {}).get("next")
                    if meta.get("has_more")
                    else body.get("next_page")  # offset pagination, where cursors are not offered
                )
                if not url:
                    break
        unique = {row["id"]: row for row in rows if row.get("role") in STAFF_ROLES}
        return list(unique.values())
