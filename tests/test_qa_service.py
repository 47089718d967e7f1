"""QA service on a real store (SQLite and PostgreSQL): draws once, never repeats a ticket,
balanced reviewers, scoring rules, disputes, reminders, reports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.qa_helpers import AFTER_WEEK, RecordingSlack, add_tickets, directory

from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.qa_store import SqlQaStore
from deskbot.adapters.db.store import Database
from deskbot.domain.authz import Forbidden
from deskbot.domain.qa import parse_cycle, sample_key
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.services.qa import QaService
from deskbot.services.qa_types import QaError
from deskbot.settings import Settings
from deskbot.testing import FakeClock

GOOD = {k: 3 for k in COMPETENCY_KEYS}


def qa_settings(**qa: Any) -> Settings:
    base: dict[str, Any] = {
        "samples_per_agent": 5,
        "seed": 42,
        "strata": {"bad_csat": 1, "reopened": 1, "long_resolution": 1, "many_replies": 0},
        "reviewers": ["UL1", "UL2", "UA1"],
        "owners": ["UQO"],
        "due_days": 3,
        "close_days": 10,
        "reminder_hours": 24,
    }
    base.update(qa)
    return Settings.model_validate(
        {"timezone": "UTC", "zendesk": {"subdomain": "acme"}, "qa": base}
    )


class Hero:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def shout_out_qa_hero(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def make(
    db: Database, settings: Settings | None = None, **kw: Any
) -> tuple[QaService, RecordingSlack, FakeClock]:
    clock = kw.pop("clock", None) or FakeClock(AFTER_WEEK)
    slack = kw.pop("slack", None) or RecordingSlack()
    service = QaService(
        settings or qa_settings(),
        SqlQaStore(db),
        kw.pop("people", None) or directory(),
        kw.pop("ledger", None) or SqlActionLedger(db, clock),
        clock,
        slack=slack,
        hero=kw.pop("hero", None),
    )
    return service, slack, clock


def seed(db: Database) -> None:
    for agent in range(1, 5):
        add_tickets(db, 100 + agent, 30, first_id=agent * 1000, seed=agent)


def test_draw_once_reproducible_and_balanced(db: Database) -> None:
    seed(db)
    service, _slack, _ = make(db)
    dry = service.draw(dry_run=True)
    assert dry.cycle.key == "2026-W45" and len(dry.samples) == 20
    first = service.draw()
    assert first.created
    assert sorted(s.ticket_id for s in first.samples) == sorted(s.ticket_id for s in dry.samples)
    again = service.draw()
    assert not again.created and len(again.samples) == 20
    assert again.assignments == first.assignments
    assert len(SqlQaStore(db).tasks()) == 20
    loads = [list(first.assignments.values()).count(r) for r in ("UL1", "UL2", "UA1")]
    assert max(loads) - min(loads) <= 1
    tasks = SqlQaStore(db).tasks()
    assert all(t.reviewer != t.agent_slack for t in tasks)


def test_sample_matches_the_stated_design(db: Database) -> None:
    seed(db)
    service, _, _ = make(db)
    service.draw()
    samples = SqlQaStore(db).samples("2026-W45")
    cycle = parse_cycle("2026-W45", "UTC")
    pop = SqlQaStore(db).population(cycle.start, cycle.end, [101], cycle.key)[101]
    from deskbot.domain.qa import StrataRules, stratum_of

    strata: dict[str, list[int]] = {}
    for c in pop:
        active = ["bad_csat", "reopened", "long_resolution"]  # quota 0: many_replies is rest
        strata.setdefault(stratum_of(c, StrataRules(72, 6), active), []).append(c.ticket_id)
    mine = [s for s in samples if s.agent_id == 101]
    for s in mine:
        ids = strata[s.stratum]
        assert s.stratum_size == len(ids) and s.population == 30
        ranked = sorted(ids, key=lambda t: sample_key(42, "2026-W45", 101, t))
        assert s.ticket_id in ranked[: s.stratum_sample]


def test_no_ticket_is_sampled_twice_across_cycles(db: Database) -> None:
    seed(db)
    service, _, clock = make(db)
    service.draw()
    # the same tickets are re-solved next week (reopened, solved again)
    for agent in range(1, 5):
        add_tickets(
            db, 100 + agent, 30, first_id=agent * 1000, seed=agent,
            start=AFTER_WEEK - timedelta(hours=8) + timedelta(days=1),
        )  # fmt: skip
    clock.advance(days=7)
    second = service.draw()
    assert second.cycle.key == "2026-W46"
    first_ids = {s.ticket_id for s in SqlQaStore(db).samples("2026-W45")}
    second_ids = {s.ticket_id for s in second.samples}
    assert second_ids and not first_ids & second_ids


def test_deleted_and_unsolved_tickets_are_not_in_the_population(db: Database) -> None:
    add_tickets(db, 101, 5, first_id=1, deleted=True)
    add_tickets(db, 101, 5, first_id=10, status="open")
    add_tickets(db, 101, 3, first_id=20)
    service, _, _ = make(db)
    drawn = service.draw()
    assert sorted(s.ticket_id for s in drawn.samples) == [20, 21, 22]


def test_dispatch_sends_one_dm_per_reviewer_even_after_a_crash(db: Database) -> None:
    seed(db)
    ledger = SqlActionLedger(db, FakeClock(AFTER_WEEK))
    broken = RecordingSlack(fail_on=lambda kind, target: target == "UL2")
    service, _, _ = make(db, ledger=ledger, slack=broken)
    service.draw()
    with pytest.raises(RuntimeError):
        service.dispatch("2026-W45")
    broken.fail_on = None
    service.dispatch("2026-W45")
    service.dispatch("2026-W45")
    targets = sorted(t for kind, t, _ in broken.sent if kind == "tasks")
    assert targets == ["UA1", "UL1", "UL2"]


def test_post_without_ledger_done_is_found_not_repeated(db: Database) -> None:
    seed(db)
    clock = FakeClock(AFTER_WEEK)
    ledger = SqlActionLedger(db, clock)
    service, slack, _ = make(db, ledger=ledger, clock=clock)
    service.draw()
    key = "qa:tasks:2026-W45:UL1"
    ledger.begin(key, "qa_dm")  # the crashed run recorded its intent...
    slack.found[key] = "99.000"  # ...and Slack has the message
    service.dispatch("2026-W45")  # in flight (maybe another replica's): left alone
    assert (rec := ledger.get(key)) is not None and rec.status == "pending"
    clock.advance(minutes=3)
    service.dispatch("2026-W45")
    assert [t for kind, t, _ in slack.sent].count("UL1") == 0
    rec = ledger.get(key)
    assert rec is not None and rec.status == "done"


def _task_of(db: Database, reviewer: str) -> Any:
    return next(t for t in SqlQaStore(db).tasks() if t.reviewer == reviewer)


def test_only_the_assigned_reviewer_scores_and_retries_store_one_version(db: Database) -> None:
    seed(db)
    hero = Hero()
    service, slack, clock = make(db, hero=hero)
    service.draw()
    task = _task_of(db, "UL1")
    with pytest.raises(Forbidden):
        service.submit_score("UL2", task.id, submission="v1", scores=GOOD, hero=False, notes=None)
    with pytest.raises(QaError):
        service.submit_score("UL1", task.id, submission="v1", scores={}, hero=False, notes=None)
    kw: dict[str, Any] = {"scores": GOOD, "hero": True, "notes": "ok"}
    out = service.submit_score("UL1", task.id, submission="v1", **kw)
    again = service.submit_score("UL1", task.id, submission="v1", **kw)
    assert (out.version, out.new, again.version, again.new) == (1, True, 1, False)
    amended = service.submit_score(
        "UL1", task.id, submission="v2", scores={**GOOD, "judgment": None}, hero=True, notes=None
    )
    assert amended.version == 2
    history = SqlQaStore(db).review_history(task.id)
    assert [h.version for h in history] == [1, 2] and history[1].scores["judgment"] is None
    stored = SqlQaStore(db).task(task.id)
    assert stored is not None and stored.review is not None and stored.review.score == 75.0
    assert stored.state == "done"
    service.after_review(task.id)
    service.after_review(task.id)
    assert [(k, t) for k, t, _ in slack.sent if k == "review"] == [("review", task.agent_slack)]
    assert hero.calls and hero.calls[0]["agent_id"] == task.sample.agent_id
    clock.advance(days=10)  # the cycle closed
    with pytest.raises(QaError, match="closed"):
        service.submit_score("UL1", task.id, submission="v3", scores=GOOD, hero=False, notes=None)
    assert len(SqlQaStore(db).review_history(task.id)) == 2


def test_dispute_flow_and_who_may_resolve(db: Database) -> None:
    seed(db)
    service, slack, _ = make(db)
    service.draw()
    task = _task_of(db, "UL2")
    agent = task.agent_slack
    with pytest.raises(QaError, match="not been reviewed"):
        service.submit_dispute(agent, task.id, "unfair")
    service.submit_score("UL2", task.id, submission="s", scores=GOOD, hero=False, notes=None)
    with pytest.raises(Forbidden):
        service.submit_dispute("UL1", task.id, "not mine")
    assert service.submit_dispute(agent, task.id, "I did escalate")
    with pytest.raises(QaError, match="already"):
        service.submit_dispute(agent, task.id, "again")
    service.after_dispute(task.id)
    resolvers = sorted(t for k, t, _ in slack.sent if k == "dispute")
    lead = service.lead_of(task.sample.agent_id)
    assert resolvers == sorted({"UQO", lead})
    other_lead = "UL1" if lead == "UL2" else "UL2"
    with pytest.raises(Forbidden):
        service.resolve_dispute(other_lead, task.id, outcome="upheld", note="x", submission="r")
    with pytest.raises(Forbidden):
        service.resolve_dispute(agent, task.id, outcome="upheld", note="x", submission="r")
    changed = {**GOOD, "accuracy": 4}
    assert service.resolve_dispute(
        "UQO", task.id, outcome="changed", note="fair point", submission="r", scores=changed
    )
    with pytest.raises(QaError, match="resolved already"):
        service.resolve_dispute(lead, task.id, outcome="upheld", note="x", submission="r2")
    stored = SqlQaStore(db).task(task.id)
    assert stored is not None and stored.review is not None
    assert stored.review.version == 2 and stored.review.scores["accuracy"] == 4
    assert stored.dispute is not None and stored.dispute.state == "changed"
    service.after_resolution(task.id)
    assert ("outcome", agent) in [(k, t) for k, t, _ in slack.sent]


def test_reminders_overdue_and_reassignment(db: Database) -> None:
    seed(db)
    people = directory()
    service, slack, clock = make(db, people=people)
    service.draw()
    assert service.remind() == {"reminded": 0, "overdue_lists": 0}  # due in 3 days
    clock.advance(days=2, hours=12)
    assert service.remind()["reminded"] == 3
    assert service.remind()["reminded"] == 0
    clock.advance(days=1)
    assert service.remind()["overdue_lists"] == 1
    assert [t for k, t, _ in slack.sent if k == "overdue"] == ["UQO"]
    # UL2 is deactivated: their open tasks move to the others, balanced
    service.directory = directory(inactive=["UL2"])
    held = len([t for t in SqlQaStore(db).tasks() if t.reviewer == "UL2"])
    assert service.reassign_inactive("2026-W45") == held
    tasks = SqlQaStore(db).tasks()
    assert not [t for t in tasks if t.reviewer == "UL2"]
    assert all(t.reviewer != t.agent_slack for t in tasks)
    service.dispatch("2026-W45")
    moved = [m for k, t, m in slack.sent if k == "tasks" and ":task:" in m]
    assert len(moved) == held


def test_report_scope_and_numbers(db: Database) -> None:
    seed(db)
    service, _, _ = make(db)
    service.draw()
    for t in SqlQaStore(db).tasks():
        score = 4 if t.sample.stratum == "rest" else 2
        service.submit_score(
            t.reviewer, t.id, submission="s", scores={k: score for k in COMPETENCY_KEYS},
            hero=False, notes=None,
        )  # fmt: skip
    report = service.report()
    assert report.cycles == ["2026-W45"] and report.done == 20
    row = report.agents[0]
    assert row.estimate.unweighted_mean is not None and row.estimate.estimate is not None
    assert row.estimate.estimate > row.estimate.unweighted_mean  # risky strata oversampled
    own = service.report(user="UA1")
    assert [a.agent_id for a in own.agents] == [101]
    lead = service.report(user="UL1")
    assert sorted(a.agent_id for a in lead.agents) == [101, 103]
    with pytest.raises(Forbidden):
        service.report(user="UA2", agent="101")
    assert len(service.report(user="UQO").agents) == 4
    data = report.to_json()
    assert data["team"]["n"] == 20 and len(data["reviewers"]) == 3


def test_config_errors_name_the_key() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="samples_per_agent"):
        qa_settings(samples_per_agent=2)
    with pytest.raises(ValidationError, match="reviewers_department"):
        qa_settings(reviewers_department="Nobody")


def test_reviewers_from_a_department_and_inactive_ones_left_out(db: Database) -> None:
    from deskbot.domain.people import DepartmentInfo
    from deskbot.testing import StaticPeopleDirectory

    base = directory(inactive=["UL2"])
    people = StaticPeopleDirectory(
        base.people(include_inactive=True), [DepartmentInfo("QA", None, ("UL2", "UL3"))]
    )
    settings = Settings.model_validate(
        {
            "timezone": "UTC",
            "zendesk": {"subdomain": "acme"},
            "roster": {"departments": [{"name": "QA", "members": ["UL2", "UL3"]}]},
            "qa": {"reviewers": ["UL1"], "reviewers_department": "QA"},
        }
    )
    service, _, _ = make(db, settings, people=people)
    assert service.reviewers() == ["UL1", "UL3"]
    no_yaml = Settings.model_validate(
        {"timezone": "UTC", "zendesk": {"subdomain": "acme"}, "qa": {"samples_per_agent": 3}}
    )
    leads_only, _, _ = make(db, no_yaml)
    assert leads_only.reviewers() == ["UL1", "UL2", "UL3"]  # no reviewers configured: leads


def test_cycle_end_digest_once_and_slash_tasks(db: Database) -> None:
    seed(db)
    service, slack, clock = make(db, qa_settings(digest_channel="#qa"))
    service.draw()
    assert "You have" not in service.qa_command("UL1", ["tasks"])
    assert "Your open QA reviews" in service.qa_command("UL1", ["tasks"])
    assert service.digest(service.build) == 0  # the cycle has not closed
    clock.advance(days=10)
    assert service.digest(service.build) == 1
    assert service.digest(service.build) == 0
    assert [t for k, t, _ in slack.sent if k == "digest"] == ["#qa"]
    from deskbot.domain.commands import CommandError

    with pytest.raises(CommandError):
        service.qa_command("UA2", ["report", "@101"])


def test_the_draw_waits_for_the_sync_to_pass_the_cycle_end(db: Database) -> None:
    from deskbot.adapters.db.tables import SyncState

    seed(db)
    service, _, _ = make(db)
    behind = AFTER_WEEK - timedelta(days=2)  # the last sync finished before the week ended
    rows = [
        {"stream": "tickets", "position": int(behind.timestamp()), "last_success_at": behind},
        {"stream": "satisfaction_ratings", "position": None, "last_success_at": AFTER_WEEK},
    ]
    with db.session() as s:
        db.upsert(s, SyncState, rows, key=("stream",))
    with pytest.raises(QaError, match="sync has only reached"):
        service.draw()
    assert "skipped" in service.run_cycle()["draw"]
    assert SqlQaStore(db).cycles() == []
    with db.session() as s:
        db.upsert(s, SyncState, [{**rows[0], "last_success_at": AFTER_WEEK}], key=("stream",))
    assert service.draw().created
