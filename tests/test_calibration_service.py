"""Calibration sessions through the service and the SQL store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from deskbot.adapters.db.calibration_store import SqlCalibrationStore, SqlCalibrationTickets
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Ticket, TicketMetric, TicketTag
from deskbot.domain.authz import Forbidden
from deskbot.domain.people import Person, Role
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.services.calibration import (
    CalibrationError,
    CalibrationOptions,
    CalibrationService,
)
from deskbot.testing import FakeClock, StaticPeopleDirectory

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CALIBRATORS = ("UCAL001", "UCAL002", "UCAL003")


def seed_tickets(db: Database, count: int = 30) -> None:
    channels = ["email", "web", "chat"]
    with db.engine.begin() as conn:
        for i in range(1, count + 1):
            solved = NOW - timedelta(days=1 + i % 20)
            conn.execute(
                insert(Ticket.__table__),  # type: ignore[attr-defined]
                {
                    "id": i,
                    "created_at": solved - timedelta(days=1),
                    "updated_at": solved,
                    "generated_timestamp": int(solved.timestamp()),
                    "status": "solved",
                    "is_deleted": i == count,  # the last one is deleted
                    "channel": channels[i % 3],
                    "raw": json.dumps({"id": i}),
                    "synced_at": NOW,
                },
            )
            conn.execute(
                insert(TicketMetric.__table__),  # type: ignore[attr-defined]
                {"ticket_id": i, "solved_at": solved, "raw": "{}"},
            )
            if i % 5 == 0:
                conn.execute(
                    insert(TicketTag.__table__),  # type: ignore[attr-defined]
                    {"ticket_id": i, "tag": "refund"},
                )


def people() -> StaticPeopleDirectory:
    return StaticPeopleDirectory(
        [
            Person(1, "Lead", slack_user_id="ULEAD01", role=Role.LEAD),
            Person(2, "Admin", slack_user_id="UADMIN1", role=Role.ADMIN),
            Person(3, "Agent", slack_user_id="UAGENT1", zendesk_user_id=7, role=Role.AGENT),
            *[
                Person(10 + i, f"Cal {i}", slack_user_id=c, role=Role.AGENT)
                for i, c in enumerate(CALIBRATORS)
            ],
        ]
    )


@pytest.fixture
def svc(db: Database) -> CalibrationService:
    seed_tickets(db)
    return CalibrationService(
        SqlCalibrationStore(db),
        SqlCalibrationTickets(db),
        people(),
        FakeClock(NOW),
        CalibrationOptions(tickets=3, calibrators=CALIBRATORS, bootstrap_draws=50),
    )


def card(value: int | None) -> dict[str, int | None]:
    return dict.fromkeys(COMPETENCY_KEYS, value)


def test_a_lead_starts_a_session_of_random_tickets_by_channel(svc: CalibrationService) -> None:
    lead = svc.directory.actor("ULEAD01")
    session, created = svc.start(lead, n=6)
    assert created and session.status == "open"
    assert session.calibrators == CALIBRATORS and len(session.tickets) == 6
    assert {ch for _, ch in session.tickets} == {"email", "web", "chat"}
    assert 30 not in session.ticket_ids  # deleted tickets are never chosen
    assert session.facilitator == "ULEAD01"
    assert session.deadline == NOW + timedelta(days=7)


def test_tickets_by_id_or_tag(svc: CalibrationService) -> None:
    lead = svc.directory.actor("ULEAD01")
    by_id, _ = svc.start(lead, ticket_ids=[3, 4])
    assert by_id.ticket_ids == [3, 4] and by_id.how_chosen == "tickets #3, #4"
    tagged, _ = svc.start(lead, n=2, tag="refund")
    assert all(t % 5 == 0 for t in tagged.ticket_ids) and len(tagged.ticket_ids) == 2
    with pytest.raises(CalibrationError, match="#999"):
        svc.start(lead, ticket_ids=[3, 999])
    with pytest.raises(CalibrationError, match="tagged `nope`"):
        svc.start(lead, tag="nope")


def test_only_leads_start_and_two_calibrators_are_needed(svc: CalibrationService) -> None:
    with pytest.raises(Forbidden, match="leads and admins"):
        svc.start(svc.directory.actor("UAGENT1"), n=2)
    with pytest.raises(CalibrationError, match="at least 2 calibrators"):
        svc.start(svc.directory.actor("ULEAD01"), n=2, calibrators=["UCAL001"])
    assert svc.store.sessions() == []


def test_a_scheduled_session_exists_once_per_key(svc: CalibrationService) -> None:
    first, created = svc.start(None, schedule_key="monthly:2026-12")
    again, created_again = svc.start(None, schedule_key="monthly:2026-12")
    assert created and not created_again and again.id == first.id
    assert len(svc.store.sessions()) == 1


def test_blind_until_own_submission_then_results_at_close(svc: CalibrationService) -> None:
    lead = svc.directory.actor("ULEAD01")
    session, _ = svc.start(lead, ticket_ids=[1, 2])
    a, b, c = (svc.directory.actor(x) for x in CALIBRATORS)
    svc.submit(a, session.id, 1, card(3), "clear and kind")
    svc.submit(b, session.id, 1, card(1), "missed the refund policy")

    # a has not scored ticket 2 yet: sees only their own scorecard and the progress
    view = svc.view(a, session.id)
    assert view.blind and [s.card.calibrator for s in view.visible] == ["UCAL001"]
    assert view.progress.finished == () and view.progress.scored_by_calibrator["UCAL002"] == 1
    # the facilitator (a lead, not a calibrator) sees progress only until the close
    lead_view = svc.view(lead, session.id)
    assert lead_view.blind and lead_view.visible == [] and lead_view.results is None

    out = svc.submit(a, session.id, 2, card(2))
    assert out.stored and out.finished and not out.everyone_finished
    view = svc.view(a, session.id)
    assert not view.blind
    assert {s.card.calibrator for s in view.visible} == {"UCAL001", "UCAL002"}
    assert any(s.notes == "missed the refund policy" for s in view.visible)

    svc.submit(b, session.id, 2, card(2))
    last = svc.submit(c, session.id, 1, {**card(2), "accuracy": None})
    assert not last.everyone_finished
    last = svc.submit(c, session.id, 2, card(2))
    assert last.everyone_finished
    [closed] = svc.close_ready()
    assert closed.id == session.id and closed.status == "closed"
    assert svc.close_ready() == []  # closed once

    report = svc.report(lead, session.id)
    spread = next(
        s for s in report.results.spreads if s.ticket_id == 1 and s.competency == "judgment"
    )
    assert spread.scores == {"UCAL001": 3, "UCAL002": 1, "UCAL003": 2} and spread.flagged
    assert report.notes[1] == {"UCAL001": "clear and kind", "UCAL002": "missed the refund policy"}
    assert report.results.overall.pairable_values == 5 * 3 * 2 - 1
    assert svc.view(lead, session.id).results is not None


def test_bad_submissions_change_nothing(svc: CalibrationService) -> None:
    session, _ = svc.start(svc.directory.actor("ULEAD01"), ticket_ids=[1, 2])
    a = svc.directory.actor("UCAL001")
    with pytest.raises(Forbidden, match="its calibrators"):
        svc.submit(svc.directory.actor("UAGENT1"), session.id, 1, card(2))
    with pytest.raises(CalibrationError, match="not part of session"):
        svc.submit(a, session.id, 3, card(2))
    with pytest.raises(CalibrationError, match="judgment: missing"):
        svc.submit(a, session.id, 1, {k: 2 for k in COMPETENCY_KEYS if k != "judgment"})
    with pytest.raises(CalibrationError, match="accuracy: 5"):
        svc.submit(a, session.id, 1, {**card(2), "accuracy": 5})
    with pytest.raises(CalibrationError, match="no calibration session #99"):
        svc.submit(a, 99, 1, card(2))
    assert svc.store.scores(session.id) == []


def test_a_double_click_stores_one_and_a_scorecard_is_final(svc: CalibrationService) -> None:
    session, _ = svc.start(svc.directory.actor("ULEAD01"), ticket_ids=[1, 2])
    a = svc.directory.actor("UCAL001")
    assert svc.submit(a, session.id, 1, card(3)).stored
    assert not svc.submit(a, session.id, 1, card(0)).stored
    [stored] = svc.store.scores(session.id)
    assert stored.card.scores["judgment"] == 3


def test_no_submission_after_the_deadline(svc: CalibrationService) -> None:
    session, _ = svc.start(svc.directory.actor("ULEAD01"), ticket_ids=[1, 2])
    svc.clock.advance(days=8)  # type: ignore[attr-defined]
    with pytest.raises(CalibrationError, match="has closed"):
        svc.submit(svc.directory.actor("UCAL001"), session.id, 1, card(3))
    [closed] = svc.close_ready()  # due: the deadline passed with nobody finished
    assert closed.id == session.id
    with pytest.raises(CalibrationError, match="has closed"):
        svc.submit(svc.directory.actor("UCAL001"), session.id, 1, card(3))


def test_lessons_by_the_facilitator_once_after_the_close(svc: CalibrationService) -> None:
    lead = svc.directory.actor("ULEAD01")
    session, _ = svc.start(lead, ticket_ids=[1])
    with pytest.raises(CalibrationError, match="once the session has closed"):
        svc.record_lessons(lead, session.id, "Agree on what 'accurate' means")
    for c in CALIBRATORS:
        svc.submit(svc.directory.actor(c), session.id, 1, card(2))
    svc.close_ready()
    with pytest.raises(Forbidden, match="facilitator and admins"):
        svc.record_lessons(svc.directory.actor("UCAL001"), session.id, "mine")
    done = svc.record_lessons(lead, session.id, "Agree on what 'accurate' means")
    assert done.lessons == "Agree on what 'accurate' means"
    with pytest.raises(CalibrationError, match="already written"):
        svc.record_lessons(svc.directory.actor("UADMIN1"), session.id, "again")


def test_results_stay_out_of_reach_of_non_calibrator_agents(svc: CalibrationService) -> None:
    session, _ = svc.start(svc.directory.actor("ULEAD01"), ticket_ids=[1])
    with pytest.raises(Forbidden):
        svc.view(svc.directory.actor("UAGENT1"), session.id)
    with pytest.raises(CalibrationError, match="still open"):
        svc.report(svc.directory.actor("ULEAD01"), session.id)
