"""Agent and group names for /deskbot come from the synced users and groups tables."""

from __future__ import annotations

from deskbot.adapters.db.directory import StoreDirectory
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Group, User
from deskbot.domain.commands import AgentRef, GroupRef


def _user(
    uid: int, name: str | None, role: str, active: bool = True, suspended: bool = False
) -> dict[str, object]:
    return {
        "id": uid,
        "name": name,
        "role": role,
        "active": active,
        "suspended": suspended,
        "raw": "{}",
    }


def test_directory_lists_assignable_agents_and_live_groups(db: Database) -> None:
    with db.session() as session:
        db.upsert(
            session,
            User,
            [
                _user(1, "Grace Hopper", "agent"),
                _user(2, "Ada Lovelace", "admin"),
                _user(3, "A Customer", "end-user"),
                _user(4, "Gone Agent", "agent", active=False),
                _user(5, "Paused Agent", "agent", suspended=True),
                _user(6, None, "agent"),
            ],
        )
        db.upsert(
            session,
            Group,
            [
                {"id": 10, "name": "Tier 2", "deleted": False, "raw": "{}"},
                {"id": 11, "name": "Billing", "deleted": False, "raw": "{}"},
                {"id": 12, "name": "Old team", "deleted": True, "raw": "{}"},
            ],
        )
    directory = StoreDirectory(db)
    assert directory.agents() == [AgentRef(2, "Ada Lovelace"), AgentRef(1, "Grace Hopper")]
    assert directory.groups() == [GroupRef(11, "Billing"), GroupRef(10, "Tier 2")]
