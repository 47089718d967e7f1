"""Internal NPS service on a real store (SQLite and PostgreSQL): rounds, answers, reminders,
expiry, release with the threshold, follow-up to owners, replies, crashes and caps."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import NpsAnswer, NpsAsk, NpsSealed
from deskbot.domain.authz import Actor, Forbidden
from deskbot.domain.nps import NpsInputError
from deskbot.domain.people import Role
from deskbot.services.nps import NpsService
from deskbot.testing import CrashError, FakeClock
from nps_support import (
    ADMIN,
    LEAD,
    OWNER_E,
    OWNER_S,
    FakeMessenger,
    Sent,
    Stories,
    directory,
    nps_settings,
    service,
)


def actor(svc: NpsService, sid: str) -> Actor:
    return svc.directory.actor(sid)


def count(db: Database, table: type, **where: object) -> int:
    t = table.__table__  # type: ignore[attr-defined]
    stmt = select(func.count()).select_from(t)
    for k, v in where.items():
        stmt = stmt.where(t.c[k] == v)
    with db.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def started(db: Database, clock: FakeClock, **kw: object) -> tuple[NpsService, FakeMessenger]:
    messenger = FakeMessenger()
    svc = service(db, clock, messenger=messenger, **kw)  # type: ignore[arg-type]
    plan, created = svc.start_round(clock.now())
    assert created and plan.asks
    return svc, messenger


def test_a_round_is_planned_once_and_every_ask_sent_once_paced(
    db: Database, clock: FakeClock
) -> None:
    svc, messenger = started(db, clock)
    asks = svc.store.asks()
    assert {a.status for a in asks} == {"planned"}  # persisted before anything is sent
    assert svc.start_round(clock.now())[1] is False  # same trigger: nothing new
    summary = svc.tick()
    assert summary.sent == len(asks) == len(messenger.of("ask"))
    assert len({s.target for s in messenger.of("ask")}) == len(asks)  # one ask per person
    assert clock.sleeps.count(1.0) == len(asks) - 1  # dms_per_minute: 60 -> 1 s apart
    assert svc.tick().sent == 0
    for ask in svc.store.asks():
        assert ask.status == "sent"
        assert ask.department not in (svc.directory.by_slack_id(ask.slack_user_id).departments)  # type: ignore[union-attr]


def test_quiet_hours_hold_an_ask_until_the_respondents_morning(
    db: Database, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 11, 2, 17, 30, tzinfo=UTC))  # 18:30 in Berlin: quiet
    svc, messenger = started(db, clock)
    assert svc.tick().sent == 0 and not messenger.of("ask")
    clock.set(datetime(2026, 11, 3, 7, 59, tzinfo=UTC))  # 08:59 Berlin
    assert svc.tick().sent == 0
    clock.set(datetime(2026, 11, 3, 8, 0, tzinfo=UTC))  # 09:00 Berlin
    assert svc.tick().sent == len(svc.store.asks())


def _answer_all(svc: NpsService, scores: dict[str, list[int]]) -> None:
    """Answer the asks of each department with the given scores (in ask order)."""
    by_dept: dict[str, list[object]] = {}
    for ask in svc.store.asks():
        by_dept.setdefault(ask.department, []).append(ask)
    for dept, values in scores.items():
        for ask, score in zip(by_dept[dept], values, strict=False):
            outcome = svc.answer(actor(svc, ask.slack_user_id), ask.id, score)  # type: ignore[attr-defined]
            assert outcome.ok, outcome.message


def test_a_second_click_or_someone_elses_or_a_bad_score_records_nothing(
    db: Database, clock: FakeClock
) -> None:
    svc, _ = started(db, clock)
    svc.tick()
    mine, other = svc.store.asks()[:2]
    me = actor(svc, mine.slack_user_id)
    assert "0 to 10" in svc.answer(me, mine.id, 11).message
    assert "0 to 10" in svc.answer(me, mine.id, "x").message
    assert count(db, NpsSealed) == 0
    stranger = actor(svc, other.slack_user_id)
    assert "someone else" in svc.answer(stranger, mine.id, 5).message
    assert count(db, NpsSealed) == 0 and svc.store.ask(mine.id).status == "sent"  # type: ignore[union-attr]
    first = svc.answer(me, mine.id, 9)
    assert first.ok and first.box_id
    again = svc.answer(me, mine.id, 2)
    assert not again.ok and "already answered" in again.message
    assert count(db, NpsSealed) == 1
    assert "can't find" in svc.answer(me, "nope", 3).message


def test_comment_is_checked_saved_once_and_closed_with_the_round(
    db: Database, clock: FakeClock
) -> None:
    svc, _ = started(db, clock)
    svc.tick()
    ask = svc.store.asks()[0]
    me = actor(svc, ask.slack_user_id)
    box = svc.answer(me, ask.id, 3).box_id
    assert box is not None
    assert "3000" in svc.comment(me, ask.id, box, "x" * 3001, False).message
    other = actor(svc, svc.store.asks()[1].slack_user_id)
    assert "someone else" in svc.comment(other, ask.id, box, "hijack", False).message
    assert svc.comment(me, ask.id, box, "Slow & rude <really>", False).ok
    assert "already" in svc.comment(me, ask.id, box, "second", False).message
    # The sealed row shows neither the comment nor who wrote it.
    with db.engine.connect() as conn:
        raw = bytes(conn.execute(select(NpsSealed.__table__.c.box)).scalar_one())  # type: ignore[attr-defined]
    assert b"Slow" not in raw and ask.slack_user_id.encode() not in raw


def test_one_reminder_then_expiry_updates_the_buttons(db: Database, clock: FakeClock) -> None:
    svc, messenger = started(db, clock)
    svc.tick()
    n = len(svc.store.asks())
    answered = svc.store.asks()[0]
    svc.answer(actor(svc, answered.slack_user_id), answered.id, 8)
    clock.advance(hours=47)
    assert svc.tick().reminded == 0
    clock.advance(hours=2)
    assert svc.tick().reminded == n - 1
    clock.advance(hours=24)
    assert svc.tick().reminded == 0 and len(messenger.of("reminder")) == n - 1
    clock.advance(hours=48)  # 121 h after sending: expired
    summary = svc.tick()
    assert summary.expired == n - 1
    expired = {u[2] for u in messenger.updates if u[0] == "expired"}
    # The ask's message and its reminder both say so (each carried buttons).
    assert len(expired) == 2 * (n - 1)
    assert {s.ts for s in messenger.of("reminder")} <= expired
    late = svc.store.asks()[1]
    assert "expired" in svc.answer(actor(svc, late.slack_user_id), late.id, 7).message


def test_release_applies_the_threshold_and_follows_up_through_the_owner(
    db: Database, clock: FakeClock
) -> None:
    stories = Stories()
    svc, messenger = started(db, clock, stories=stories)
    svc.tick()
    asks = svc.store.asks()
    support = [a for a in asks if a.department == "Support"]
    eng = [a for a in asks if a.department == "Engineering"]
    scores = [10, 2, 8]
    boxes = []
    for ask, score in zip(support, scores, strict=False):
        boxes.append(svc.answer(actor(svc, ask.slack_user_id), ask.id, score).box_id)
    me0 = actor(svc, support[0].slack_user_id)
    me1 = actor(svc, support[1].slack_user_id)
    assert svc.comment(me0, support[0].id, boxes[0] or "", "Heroes, all of them", True).ok
    assert svc.comment(me1, support[1].id, boxes[1] or "", "Never answer on time", True).ok
    svc.answer(actor(svc, eng[0].slack_user_id), eng[0].id, 9)  # 1 < threshold 3
    # Nothing is released while the round is open, answer by answer.
    assert count(db, NpsAnswer) == 0 and svc.tick().released_cells == 0
    clock.advance(hours=121)
    summary = svc.tick()
    assert (summary.released_cells, summary.withheld_cells) == (1, 1)
    assert count(db, NpsAnswer) == 3 and count(db, NpsAnswer, department="Engineering") == 0
    [result] = messenger.of("results", OWNER_S)
    r = result.payload.result
    assert (r.n, r.promoters, r.passives, r.detractors) == (3, 1, 1, 1)
    assert result.payload.asked == len(support) and result.payload.answered == 3
    assert [s.payload for s in messenger.of("withheld", OWNER_E)] == ["Engineering"]
    assert not messenger.of("results", OWNER_E) and not messenger.of("comment", OWNER_E)
    comments = {s.payload.comment: s.payload for s in messenger.of("comment", OWNER_S)}
    assert set(comments) == {"Heroes, all of them", "Never answer on time"}
    assert comments["Never answer on time"].flagged and not comments["Heroes, all of them"].flagged
    # The promoter ticked "may be shared"; the detractor's tick does not make a shout-out.
    assert [c["comment"] for c in stories.calls] == ["Heroes, all of them"]
    assert messenger.of("chart", OWNER_S)
    before = len(messenger.sent)
    svc.tick()  # nothing twice
    assert len(messenger.sent) == before


def _released_comment(db: Database, clock: FakeClock) -> tuple[NpsService, FakeMessenger, str, str]:
    svc, messenger = started(db, clock)
    svc.tick()
    support = sorted(
        (a for a in svc.store.asks() if a.department == "Support"), key=lambda a: a.slack_user_id
    )[:3]
    # the author is someone the tests below can tell apart from the other owner (ask ids are
    # random, so "the first ask" alone could be the Engineering owner's)
    author = next(a.slack_user_id for a in support if a.slack_user_id not in (OWNER_E, "UO000"))
    for i, ask in enumerate(support):
        box = svc.answer(actor(svc, ask.slack_user_id), ask.id, 4 + i).box_id
        if ask.slack_user_id == author:
            svc.comment(actor(svc, author), ask.id, box or "", "Please document things", False)
    clock.advance(hours=121)
    svc.tick()
    [comment] = messenger.of("comment", OWNER_S)
    return svc, messenger, comment.payload.answer_id, author


def test_owner_reply_reaches_the_author_and_back_without_names(
    db: Database, clock: FakeClock
) -> None:
    svc, messenger, answer_id, author = _released_comment(db, clock)
    owner = actor(svc, OWNER_S)
    assert "anonymous" in svc.reply_to_author(owner, answer_id, "Thanks, we will.")
    [reply] = messenger.of("reply")
    assert reply.target == author and reply.payload.to_author
    assert author not in repr(reply.payload)  # the owner's side never sees the author
    assert "Support" in svc.reply_to_owner(actor(svc, author), answer_id, "Great, thanks")
    back = messenger.of("reply")[-1]
    assert back.target == OWNER_S and not back.payload.to_author
    with pytest.raises(Forbidden):
        svc.reply_to_author(actor(svc, OWNER_E), answer_id, "not my department")
    with pytest.raises(Forbidden):
        svc.reply_to_owner(actor(svc, OWNER_E), answer_id, "pretending to be the author")
    with pytest.raises(NpsInputError):
        svc.reply_to_author(owner, answer_id, "x" * 3001)
    assert svc.mark_discussed(owner, answer_id).discussed
    with pytest.raises(Forbidden):
        svc.mark_discussed(actor(svc, "UO000"), answer_id)


def test_report_permissions_and_unknown_department(db: Database, clock: FakeClock) -> None:
    svc, _messenger, _answer, _author = _released_comment(db, clock)
    report = svc.report(actor(svc, OWNER_S))
    assert [d.department for d in report.departments] == ["Support"]
    assert report.departments[0].result is not None and report.departments[0].result.n == 3
    lead = Actor(LEAD, Role.LEAD)
    assert {d.department for d in svc.report(lead).departments} == {"Support", "Engineering"}
    eng = svc.report(lead, "engineering").departments[0]
    assert eng.result is None  # nothing released there
    with pytest.raises(Forbidden):
        svc.report(actor(svc, "UO001"))
    with pytest.raises(Forbidden):
        svc.report(actor(svc, OWNER_E), "Support")
    with pytest.raises(NpsInputError, match="no department named 'Marketing'"):
        svc.report(lead, "Marketing")
    with pytest.raises(NpsInputError, match="Unknown period"):
        svc.report(lead, None, "fortnight")


def test_opt_out_cancels_a_pending_ask_and_opt_in_returns(db: Database, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 2, 20, 0, tzinfo=UTC))  # quiet: asks wait
    svc, messenger = started(db, clock)
    ask = svc.store.asks()[0]
    me = actor(svc, ask.slack_user_id)
    assert "cancelled" in svc.opt_out(me)
    assert "already" in svc.opt_out(me)
    clock.set(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    svc.tick()
    assert ask.slack_user_id not in {s.target for s in messenger.of("ask")}
    assert ask.slack_user_id not in {a.slack_user_id for a in svc.plan(clock.now()).asks}
    assert "Welcome back" in svc.opt_in(me)


def test_a_crash_half_way_through_a_rounds_dms_sends_each_ask_exactly_once(
    db: Database, clock: FakeClock
) -> None:
    messenger = FakeMessenger()
    svc = service(db, clock, messenger=messenger)
    svc.start_round(clock.now())
    total = len(svc.store.asks())

    def kill(sent: Sent) -> None:
        if sent.kind == "ask" and len(messenger.of("ask")) == 5:
            raise CrashError("kill -9 after the 5th DM reached Slack")

    messenger.crash = kill
    with pytest.raises(CrashError):
        svc.tick()
    messenger.crash = None
    # A fresh process (a new service on the same database) after the claim timed out.
    clock.advance(minutes=11)
    again = service(db, clock, messenger=messenger)
    summary = again.tick()
    assert summary.resumed == 1  # the 5th was found in Slack by its marker, not re-sent
    targets = Counter(s.target for s in messenger.of("ask"))
    assert len(targets) == total and set(targets.values()) == {1}
    assert {a.status for a in again.store.asks()} == {"sent"}


def test_several_quarters_never_break_the_caps_or_the_cooldown(
    db: Database, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 7, 7, 8, 0, tzinfo=UTC))  # a Tuesday
    people = directory(n_support=8, n_eng=8, n_other=20)
    settings = nps_settings(per_round_cap=10, cooldown_days=21, max_asks_per_person_per_quarter=2)
    svc = service(db, clock, settings=settings, people=people)
    for _week in range(20):  # July to November: two quarters
        svc.start_round(clock.now())
        svc.tick()
        clock.advance(days=7)
        svc.tick()
    asks = [a for a in svc.store.asks() if a.status != "cancelled"]
    assert len(asks) > 80
    by_person: dict[str, list[datetime]] = {}
    per_quarter: Counter[tuple[str, str]] = Counter()
    for a in asks:
        by_person.setdefault(a.slack_user_id, []).append(a.send_at)
        per_quarter[(a.slack_user_id, a.quarter)] += 1
        assert a.department not in people.by_slack_id(a.slack_user_id).departments  # type: ignore[union-attr]
    assert max(per_quarter.values()) <= 2
    for times in by_person.values():
        times.sort()
        assert all(b - a >= timedelta(days=21) for a, b in itertools.pairwise(times))
    rounds = Counter((a.round_id, a.slack_user_id) for a in asks)
    assert set(rounds.values()) == {1}
    assert max(Counter(a.round_id for a in asks).values()) <= 10


def test_quarter_pool_releases_small_rounds_together_or_destroys_them(
    db: Database, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    settings = nps_settings(anonymity_threshold=3, per_round_cap=4, departments_per_round=1)
    svc = service(db, clock, settings=settings)
    for _ in range(2):  # two rounds about one department, 2 answers each: both below 3
        svc.start_round(clock.now())
        svc.tick()
        for ask in [a for a in svc.store.asks() if a.status == "sent"][:2]:
            svc.answer(actor(svc, ask.slack_user_id), ask.id, 10)
        clock.advance(days=6)
        svc.tick()
    assert count(db, NpsAnswer) == 0 and count(db, NpsSealed) == 4
    depts = {a.department for a in svc.store.asks() if a.answered}
    clock.set(datetime(2027, 1, 5, 9, 0, tzinfo=UTC))  # the quarter is over
    svc.tick()
    if len(depts) == 1:
        assert count(db, NpsAnswer) == 4  # pooled: 4 >= 3, released as one cell
        [cell] = svc.store.cells(released=True)
        assert cell.cell == "pool:2026-Q4"
    else:  # two departments with 2 each: destroyed unread
        assert count(db, NpsAnswer) == 0
    assert count(db, NpsSealed) == 0


def test_admins_may_not_answer_for_someone_and_leads_cannot_answer_either(
    db: Database, clock: FakeClock
) -> None:
    svc, _ = started(db, clock)
    svc.tick()
    # an ask that is not the admin's own (ask ids are random, so not simply the first)
    ask = next(a for a in svc.store.asks() if a.slack_user_id != ADMIN)
    assert "someone else" in svc.answer(Actor(ADMIN, Role.ADMIN), ask.id, 10).message
    assert count(db, NpsAsk, answered=True) == 0


def test_two_replicas_ticking_at_once_send_each_ask_once_and_release_once(
    db: Database, clock: FakeClock
) -> None:
    import threading

    messenger = FakeMessenger()  # one Slack, two deskbot processes
    a = service(db, clock, messenger=messenger)
    b = service(db, clock, messenger=messenger)
    assert a.start_round(clock.now())[1] and not b.start_round(clock.now())[1]
    errors: list[BaseException] = []

    def run(svc: NpsService) -> None:
        try:
            svc.tick()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    targets = Counter(s.target for s in messenger.of("ask"))
    assert len(targets) == len(a.store.asks()) and set(targets.values()) == {1}
    support = [x for x in a.store.asks() if x.department == "Support"][:3]
    for ask in support:
        a.answer(actor(a, ask.slack_user_id), ask.id, 9)
    clock.advance(hours=121)
    threads = [threading.Thread(target=run, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(messenger.of("results", OWNER_S)) == 1
    assert count(db, NpsAnswer) == 3


def test_scheduled_summary_reaches_each_owner_once_per_fire(db: Database, clock: FakeClock) -> None:
    svc, messenger, _answer, _author = _released_comment(db, clock)
    before = len(messenger.of("results", OWNER_S))
    assert svc.summary_for_owners(clock.now()) == 1  # Engineering has nothing released
    assert svc.summary_for_owners(clock.now()) == 0
    assert len(messenger.of("results", OWNER_S)) == before + 1


def test_nps_jobs_are_scheduled_only_with_slack_and_nps_on() -> None:
    from deskbot.jobs import JOBS, resolve_jobs

    on = {j.id for j in resolve_jobs(JOBS, nps_settings())}
    assert {"nps_round", "nps_reminders", "nps_summary"} <= on
    off = nps_settings(enabled=False)
    assert not {j.id for j in resolve_jobs(JOBS, off)} & {"nps_round", "nps_reminders"}


def test_a_crash_after_a_reminder_reached_slack_does_not_remind_twice(
    db: Database, clock: FakeClock
) -> None:
    messenger = FakeMessenger()
    svc = service(db, clock, messenger=messenger)
    svc.start_round(clock.now())
    svc.tick()
    clock.advance(hours=49)

    def kill(sent: Sent) -> None:
        if sent.kind == "reminder":
            raise CrashError("killed right after the first reminder was posted")

    messenger.crash = kill
    with pytest.raises(CrashError):
        svc.tick()
    messenger.crash = None
    again = service(db, clock, messenger=messenger)
    again.tick()  # the others are reminded; the interrupted one is found, not re-posted
    clock.advance(minutes=11)
    again.tick()
    reminded = Counter(s.target for s in messenger.of("reminder"))
    assert len(reminded) == len(svc.store.asks()) and set(reminded.values()) == {1}


def test_logs_never_pair_a_person_with_a_score_or_a_comment(db: Database, clock: FakeClock) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as events:
        svc, _messenger = started(db, clock)
        svc.tick()
        support = [a for a in svc.store.asks() if a.department == "Support"][:3]
        for ask in support:
            me = actor(svc, ask.slack_user_id)
            box = svc.answer(me, ask.id, 7).box_id
            svc.comment(me, ask.id, box or "", "A very particular remark", False)
        clock.advance(hours=121)
        svc.tick()
    assert events  # the service does log
    people = {a.slack_user_id for a in svc.store.asks()}
    for event in events:
        text = repr(event)
        assert "A very particular remark" not in text
        assert "score" not in event
        assert not any(p in text for p in people), event
