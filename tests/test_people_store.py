"""The people tables on SQLite and PostgreSQL: stable ids across refreshes, an employee row that
turns out to be an agent's, nothing ever deleted, and two refreshes at once taking turns."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlmodel import select

from deskbot.adapters.db.people_store import SqlPeopleDirectory, SqlPeopleStore
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import PersonRow
from deskbot.domain.people import DepartmentInfo
from deskbot.domain.people_match import PersonRecord
from deskbot.settings import Settings

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SETTINGS = Settings.model_validate({"zendesk": {"subdomain": "acme"}})


def test_a_slack_only_person_becomes_the_agent_matched_to_them(db: Database) -> None:
    store = SqlPeopleStore(db)
    store.apply(
        [PersonRecord("Ada", None, 101, note="no Slack user"), PersonRecord("ada", "U1", None)],
        [],
        NOW,
    )
    with db.session() as session:
        ids = {(r.zendesk_user_id, r.slack_user_id): r.id for r in session.exec(select(PersonRow))}
    store.apply([PersonRecord("Ada", "U1", 101, matched_by="lookup")], [], NOW)
    directory = SqlPeopleDirectory(db, SETTINGS)
    ada = directory.by_zendesk_id(101)
    assert ada is not None and ada.id == ids[(101, None)] and ada.slack_user_id == "U1"
    assert ada.matched_by == "lookup"
    with db.session() as session:
        retired = session.get(PersonRow, ids[(None, "U1")])
        assert retired is not None and not retired.active
        assert retired.inactive_reason == f"merged into person {ada.id}"
        assert len(list(session.exec(select(PersonRow)))) == 2  # nothing deleted


def test_departments_are_replaced_and_dropped_ones_kept_inactive(db: Database) -> None:
    store = SqlPeopleStore(db)
    store.apply(
        [], [DepartmentInfo("Support", "U1", ("U1", "U2")), DepartmentInfo("Old", None, ())], NOW
    )
    store.apply([], [DepartmentInfo("Support", "U1", ("U3",), "usergroup", "S1")], NOW)
    directory = SqlPeopleDirectory(db, SETTINGS)
    assert [d.name for d in directory.departments()] == ["Support"]
    support = directory.department("SUPPORT")
    assert support is not None and support.members == ("U3",) and support.usergroup_id == "S1"
    assert store.department_members("Support") == ["U3"]


def test_two_refreshes_at_once_take_turns(db: Database) -> None:
    store = SqlPeopleStore(db)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def refresh(suffix: str) -> None:
        records = [PersonRecord(f"P{i}{suffix}", f"U{i:03d}", 1000 + i) for i in range(40)]
        start.wait()
        try:
            store.apply(records, [DepartmentInfo("Support", None, ("U001",))], NOW)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=refresh, args=(s,)) for s in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as session:
        rows = list(session.exec(select(PersonRow)))
    assert len(rows) == 40  # one row per person, not two
    assert {r.name[-1] for r in rows} in ({"a"}, {"b"})  # one refresh's view, whole
