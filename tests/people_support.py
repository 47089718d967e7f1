"""Helpers for the people directory tests: Zendesk agents in the store, settings for the Slack
sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import User
from deskbot.sandbox.slack import SlackSandbox
from deskbot.settings import Settings, parse_settings

SYNCED = datetime(2026, 11, 1, tzinfo=UTC)
_FIELDS = ("id", "name", "email", "role", "suspended")


def store_agents(database: Database, users: Iterable[Any]) -> None:
    """Write Zendesk users (sandbox ``User`` objects or dicts) as the sync would."""
    with database.session() as session:
        for u in users:
            data = u if isinstance(u, dict) else {k: getattr(u, k) for k in _FIELDS}

            def get(key: str, default: Any = None, data: dict[str, Any] = data) -> Any:
                return data.get(key, default)

            row = session.get(User, get("id")) or User(id=get("id"), raw="{}")
            row.name = get("name")
            row.email = get("email")
            row.role = get("role", "agent")
            row.active = get("active", True)
            row.suspended = get("suspended", False)
            row.updated_at = SYNCED
            row.raw = json.dumps({"id": get("id")})
            session.add(row)
        session.commit()


def people_settings(sb: SlackSandbox, yaml_extra: str = "") -> Settings:
    text = f"""
zendesk:
  subdomain: acme
slack:
  base_url: {sb.base_url}
  bot_token: ${{PEOPLE_TEST_TOKEN:-{sb.bot_token}}}
{yaml_extra}
"""
    return parse_settings(text, "deskbot.yaml")
