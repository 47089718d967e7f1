"""Name lookups prefer agents: end-users who share an agent's name do not block a report."""

from __future__ import annotations

import pytest

from deskbot.adapters.db.kpi import ScopeError, SqlKpiSource
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import User
from kpi_dataset import user


def _users(db: Database, *rows: dict[str, object]) -> None:
    with db.engine.begin() as conn:
        db.upsert(conn, User, list(rows))


def test_the_agent_wins_over_end_users_with_the_same_name(db: Database) -> None:
    _users(
        db,
        user(7001, "José Patel", "jose@customer.example", role="end-user"),
        user(7002, "José Patel", "jose.p@other.example", role="end-user"),
        user(7003, "José Patel", "jose@support.example", role="agent"),
    )
    scope = SqlKpiSource(db).resolve_scope(agent="José Patel")
    assert (scope.agent_id, scope.agent_name) == (7003, "José Patel")


def test_an_active_agent_wins_over_a_suspended_namesake(db: Database) -> None:
    gone = {**user(7011, "Sam Lee", "sam.old@support.example"), "suspended": True}
    _users(db, gone, user(7012, "Sam Lee", "sam@support.example", role="admin"))
    assert SqlKpiSource(db).resolve_scope(agent="Sam Lee").agent_id == 7012


def test_two_working_agents_with_one_name_still_ask_for_the_id(db: Database) -> None:
    _users(
        db,
        user(7021, "Alex Kim", "alex1@support.example"),
        user(7022, "Alex Kim", "alex2@support.example"),
        user(7023, "Alex Kim", "alex@customer.example", role="end-user"),
    )
    with pytest.raises(ScopeError, match=r"ids 7021, 7022\)"):
        SqlKpiSource(db).resolve_scope(agent="Alex Kim")
