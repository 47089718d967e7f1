"""``/deskbot me`` and ``stats`` from the slim queries: identical to the full report, shared.

The reference is ``KpiStats`` (``build_report`` over ``SqlKpiSource``, the engine that was
independently recomputed). A seeded random help desk, random windows (including both DST
switches), timezones, groups, agents and workload rules: every answer must be equal.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.perf_kpi import SqlHeadlines
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import (
    Group,
    SatisfactionRating,
    SyncState,
    Ticket,
    TicketMetric,
    User,
)
from deskbot.domain.commands import AgentRef, GroupRef, Target
from deskbot.domain.metrics import AgentStats, Scope, Window, WindowStats
from deskbot.services.perf_stats import HeadlineKpiStats, SharedAnswers
from deskbot.services.providers import StatsQuery
from deskbot.services.slack_providers import KpiStats
from deskbot.settings import Settings, WorkloadSettings
from deskbot.testing import FakeClock
from kpi_dataset import metric, rating, ticket, user

AGENTS = [200, 201, 202, 203, 204]
GROUPS = {200: 20, 201: 20, 202: 21, 203: 21, 204: 21}
FIRST = datetime(2026, 3, 20, tzinfo=UTC)
DAYS = 230  # through both 2026 DST switches (29 March, 25 October)


def generate(db: Database, seed: int = 19, n: int = 1500) -> None:
    rng = random.Random(seed)
    tickets, metrics, ratings = [], [], []
    for tid in range(1, n + 1):
        created = FIRST + timedelta(seconds=rng.randrange(DAYS * 86400))
        agent = rng.choice([*AGENTS, None]) if rng.random() < 0.95 else None
        group = GROUPS.get(agent) if agent is not None else rng.choice([20, 21, None])
        solved = created + timedelta(minutes=rng.randrange(1, 6000)) if rng.random() < 0.8 else None
        status = "solved" if solved else rng.choice(["new", "open", "pending", "hold"])
        deleted = rng.random() < 0.02
        tickets.append(
            ticket(
                tid,
                created,
                "deleted" if deleted else status,
                deleted=deleted,
                assignee=agent,
                group=group,
                requester=5000 + rng.randrange(40),
                channel=rng.choice(["email", "web", None]),
            )
        )
        reply = rng.choice([None, rng.randrange(0, 12), rng.randrange(0, 600)])
        res = int((solved - created).total_seconds() // 60) if solved else None
        metrics.append(
            metric(
                tid,
                solved,
                reply=reply,
                reply_b=reply,
                res=res,
                res_b=res,
                replies=rng.choice([None, 0, 1, 1, 1, 2, 5, 12]),
                reopens=rng.choice([None, 0, 1]),
            )
        )
        if rng.random() < 0.4:
            ratings.append(
                rating(
                    tid,
                    tid,
                    rng.choice(["good", "bad", "offered", "good_with_comment", "bad_with_comment"]),
                    created + timedelta(hours=rng.randrange(1, 72)),
                    assignee=agent,
                    group=group,
                )
            )
    with db.engine.begin() as conn:
        db.upsert(conn, Ticket, tickets)
        db.upsert(conn, TicketMetric, metrics, key=("ticket_id",))
        db.upsert(conn, SatisfactionRating, ratings)
        db.upsert(conn, User, [user(a, f"Agent {a % 3}", f"a{a}@example.com") for a in AGENTS])
        db.upsert(
            conn,
            Group,
            [{"id": g, "name": f"G{g}", "deleted": False, "raw": "{}"} for g in (20, 21)],
        )


@dataclass(frozen=True)
class Rules:
    daily_reply_threshold: int
    fast_min_tickets: int
    fast_max_replies_per_ticket: float
    fast_max_median_reply_minutes: float
    complex_min_replies: int
    complex_max_tickets: int


RULES = [
    Rules(1, 1, 1.5, 30, 1, 1),
    Rules(2, 1, 2.0, 200, 3, 2),
    Rules(50, 15, 1.2, 5, 30, 5),
    Rules(1, 1, 5.0, 1000, 2, 1),
]


class _Settings:
    def __init__(self, rules: Any) -> None:
        self.workload = rules
        self.team_tags: list[str] = []


def _settings(rules: Any) -> Settings:
    return _Settings(rules)  # type: ignore[return-value]  # only .workload/.team_tags are read


def _target(choice: int) -> Target:
    if choice == 0:
        return Target()
    if choice == 1:
        return Target(group=GroupRef(20, "G20"))
    if choice == 2:
        return Target(group=GroupRef(21, "G21"))
    agent = AGENTS[choice % len(AGENTS)]
    return Target(agent=AgentRef(agent, f"Agent {agent}"))


def test_slim_answers_equal_the_full_report_on_random_questions(db: Database) -> None:
    generate(db)
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    rng = random.Random(7)
    flagged = nonempty = 0
    for i in range(60):
        tz = rng.choice(["Europe/Berlin", "America/New_York", "UTC", "Australia/Sydney"])
        if i % 5 == 0:  # a window over a DST switch day
            start = rng.choice([date(2026, 3, 29), date(2026, 10, 25), date(2026, 4, 5)])
            start -= timedelta(days=rng.randrange(0, 3))
        else:
            start = date(2026, 3, 18) + timedelta(days=rng.randrange(DAYS))
        window = Window(start, start + timedelta(days=rng.choice([1, 2, 7, 30, 90])), tz)
        query = StatsQuery(window, _target(rng.randrange(0, 8)))
        rules = rng.choice(RULES)
        reference = KpiStats(SqlKpiSource(db), lambda r=rules: _settings(r), clock).stats(query)
        slim = HeadlineKpiStats(SqlHeadlines(db), lambda r=rules: _settings(r), clock).stats(query)
        assert slim == reference, (query, rules)
        flagged += len(slim.notes) > 1
        nonempty += slim.metrics[3].value not in (None, 0.0)
    assert flagged >= 10  # flags were really compared, not just empty lists
    assert nonempty >= 40


def test_default_rules_on_the_dst_dataset(db: Database) -> None:
    """The hand-built KPI dataset (DST window) with the shipped workload rules."""
    from kpi_dataset import load

    load(db)
    clock = FakeClock(datetime(2026, 4, 1, tzinfo=UTC))
    window = Window(date(2026, 3, 28), date(2026, 3, 30), "Europe/Berlin")
    shipped = _settings(WorkloadSettings())
    for target in (
        Target(),
        Target(group=GroupRef(10, "Support")),
        Target(agent=AgentRef(100, "Ada")),
    ):
        query = StatsQuery(window, target)
        reference = KpiStats(SqlKpiSource(db), lambda: shipped, clock).stats(query)
        slim = HeadlineKpiStats(SqlHeadlines(db), lambda: shipped, clock).stats(query)
        assert slim == reference


def test_a_committed_sync_page_invalidates_the_cached_answer(db: Database) -> None:
    generate(db, n=300)
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    window = Window(date(2026, 4, 1), date(2026, 5, 1), "Europe/Berlin")
    query = StatsQuery(window, Target())
    answers: SharedAnswers[Any] = SharedAnswers(clock, ttl_seconds=3600)
    stats = HeadlineKpiStats(SqlHeadlines(db), lambda: _settings(RULES[2]), clock, answers)
    first = stats.stats(query)
    assert stats.stats(query) == first
    assert answers.computed == 1  # the second answer came from the cache
    # a sync page lands: new ticket and the stream's state, in one transaction
    with db.engine.begin() as conn:
        db.upsert(conn, Ticket, [ticket(99_999, datetime(2026, 4, 10, 12, tzinfo=UTC), "new")])
        db.upsert(
            conn,
            SyncState,
            [{"stream": "tickets", "pages_total": 1, "rows_total": 1, "backfill_complete": False}],
            key=("stream",),
        )
    second = stats.stats(query)
    assert answers.computed == 2
    created = {m.label: m.value for m in second.metrics}["Tickets created"]
    assert created == {m.label: m.value for m in first.metrics}["Tickets created"] + 1  # type: ignore[operator]


def test_the_cache_expires_after_its_ttl(db: Database) -> None:
    generate(db, n=50)
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    answers: SharedAnswers[Any] = SharedAnswers(clock, ttl_seconds=30)
    stats = HeadlineKpiStats(SqlHeadlines(db), lambda: _settings(RULES[0]), clock, answers)
    query = StatsQuery(Window(date(2026, 4, 1), date(2026, 4, 8), "UTC"), Target())
    stats.stats(query)
    clock.advance(29)
    stats.stats(query)
    assert answers.computed == 1
    clock.advance(2)
    stats.stats(query)
    assert answers.computed == 2


class _BlockingSource:
    """A HeadlineSource whose first computation waits until the test releases it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()

    def data_version(self) -> Hashable:
        return 1

    def headline(
        self, window: Window, scope: Scope, agents: bool = False
    ) -> tuple[WindowStats, list[AgentStats]]:
        with self.lock:
            self.calls += 1
        self.release.wait(timeout=30)
        return WindowStats(created=7), []


def test_identical_questions_in_flight_share_one_computation() -> None:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    source = _BlockingSource()
    waiting = threading.Semaphore(0)
    answers: SharedAnswers[Any] = SharedAnswers(clock, on_wait=lambda _key: waiting.release())
    stats = HeadlineKpiStats(source, lambda: _settings(RULES[2]), clock, answers)
    query = StatsQuery(Window(date(2026, 4, 1), date(2026, 4, 8), "UTC"), Target())
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(stats.stats(query))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for _ in range(5):  # five followers are waiting on the one leader
        assert waiting.acquire(timeout=30)
    source.release.set()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 6
    assert all(r == results[0] for r in results)
    assert source.calls == 2  # one computation: this window and the previous one
    assert answers.computed == 1


def test_a_failed_computation_is_not_cached() -> None:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    answers: SharedAnswers[int] = SharedAnswers(clock)
    calls: list[int] = []

    def boom() -> int:
        calls.append(1)
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError):
        answers.get("k", boom)
    assert answers.get("k", lambda: 5) == 5
    assert answers.get("k", boom) == 5
    assert len(calls) == 1


def test_reloaded_workload_rules_are_a_different_question(db: Database) -> None:
    """A config reload that changes the thresholds must not be answered from the cache."""
    generate(db, n=600)
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    current: list[Any] = [RULES[2]]
    answers: SharedAnswers[Any] = SharedAnswers(clock)
    stats = HeadlineKpiStats(SqlHeadlines(db), lambda: _settings(current[0]), clock, answers)
    query = StatsQuery(Window(date(2026, 4, 1), date(2026, 5, 1), "UTC"), Target())
    strict = stats.stats(query)
    current[0] = RULES[0]  # thresholds so low that agents get flagged
    loose = stats.stats(query)
    assert answers.computed == 2
    reference = KpiStats(SqlKpiSource(db), lambda: _settings(RULES[0]), clock).stats(query)
    assert loose == reference
    assert len(loose.notes) > len(strict.notes)
