"""KPI queries on SQLite and PostgreSQL over the hand-built dataset in kpi_dataset.py."""

from __future__ import annotations

from datetime import date

import pytest

from deskbot.adapters.db.kpi import ScopeError, SqlKpiSource
from deskbot.adapters.db.rollups import SqlRollups
from deskbot.adapters.db.store import Database
from deskbot.domain.metrics import Scope, Window, buckets
from deskbot.services.reporting import build_report
from deskbot.settings import WorkloadSettings
from kpi_dataset import ACME, ADA, BOB, GLOBEX, TZ, load, utc

WINDOW = Window(date(2026, 3, 28), date(2026, 3, 30), TZ)
NOW = utc(2026, 4, 1, 10, 0)


@pytest.fixture(params=["tickets", "rollups"])
def kpi(db: Database, request: pytest.FixtureRequest) -> SqlKpiSource:
    """Every hand-checked figure twice: read from the tickets, and from the per-day rollups
    (built in the dataset's timezone, as the sync builds them)."""
    load(db)
    source = SqlKpiSource(db)
    if request.param == "rollups":
        SqlRollups(db).rebuild(TZ)
        assert source.uses_rollups(WINDOW)
    else:
        assert not source.uses_rollups(WINDOW)
    return source


def test_window_is_47_hours_across_the_dst_switch() -> None:
    assert WINDOW.start == utc(2026, 3, 27, 23, 0)
    assert WINDOW.end == utc(2026, 3, 29, 22, 0)
    assert (WINDOW.end - WINDOW.start).total_seconds() == 47 * 3600


def test_headline_numbers(kpi: SqlKpiSource) -> None:
    s = kpi.window_stats(WINDOW, Scope(), NOW)
    # created: tickets 2 (at start), 3 (last minute), 6; not 1 (before), 4 (at end), 5 (deleted)
    assert s.created == 3
    assert dict(s.channels) == {"email": 2, "web": 1}
    # solved: 2, 3, 6, 7 (1 is solved at the end, 5 deleted, 9 in the previous window)
    assert s.solved == 4
    # FRT calendar: 10, 30, 20 (6 is null) -> median 20; p90 at rank 1.8 -> 20 + 0.8*10 = 28
    assert s.frt_median == 20
    assert s.frt_p90 == pytest.approx(28)
    # FRT business: 5, 8 (nulls ignored) -> even count, median (5+8)/2 = 6.5; p90 5+0.9*3
    assert s.frt_business_median == 6.5
    assert s.frt_business_p90 == pytest.approx(7.7)
    # resolution: 60, 100, 300, 1000 -> (100+300)/2; business 50, 150, 400 -> 150
    assert s.resolution_median == 200
    assert s.resolution_business_median == 150
    # one-touch: replies <= 1 on tickets 2 (1) and 6 (0) -> 2/4; reopened: ticket 3 -> 1/4
    assert (s.one_touch, s.with_replies, s.one_touch_rate) == (2, 4, 0.5)
    assert (s.reopened, s.with_reopens, s.reopen_rate) == (1, 4, 0.25)
    # ratings in window: good 1, 4; bad 2; offered 3 (5: deleted ticket, 6: after, 7 unoffered)
    assert (s.good, s.bad, s.offered) == (2, 1, 1)
    assert s.csat == pytest.approx(2 / 3)
    assert s.csat_response_rate == pytest.approx(3 / 4)
    # backlog at the (past) end: 8 (open, never solved) + 1 (solved only at the end);
    # 9 was solved before the end; 4 created at the end; 5 deleted
    assert (s.backlog, s.backlog_method) == (2, "reconstructed")


def test_backlog_for_the_current_window_uses_current_status(kpi: SqlKpiSource) -> None:
    s = kpi.window_stats(WINDOW, Scope(), utc(2026, 3, 29, 12, 0))
    assert (s.backlog, s.backlog_method) == (3, "current_status")  # 4, 8, 9 (not deleted 5)


def test_previous_window(kpi: SqlKpiSource) -> None:
    s = kpi.window_stats(WINDOW.previous(), Scope(), NOW)
    assert s.created == 1  # ticket 1, 23:30 CET on 27 March
    assert s.solved == 1  # ticket 9
    # backlog at 2026-03-27 23:00 UTC: 8 (open) + 1 and 7 (solved after the end)
    assert s.backlog == 3
    assert s.good == s.bad == 0
    assert s.csat is None and s.csat_response_rate is None


def test_empty_window_is_no_data(kpi: SqlKpiSource) -> None:
    s = kpi.window_stats(Window(date(2020, 1, 1), date(2020, 1, 8), TZ), Scope(), NOW)
    assert (s.created, s.solved, s.backlog) == (0, 0, 0)
    assert s.csat is None and s.csat_response_rate is None
    assert s.frt_median is None and s.frt_p90 is None and s.resolution_median is None
    assert s.one_touch_rate is None and s.reopen_rate is None


def test_group_and_agent_filters(kpi: SqlKpiSource) -> None:
    support = kpi.resolve_scope(group="support")
    assert (support.group_id, support.group_name) == (10, "Support")
    s = kpi.window_stats(WINDOW, support, NOW)
    assert s.created == 2 and s.solved == 3  # 2, 3 created; 2, 3, 7 solved
    assert (s.good, s.bad, s.offered) == (2, 1, 0)  # ratings' group at rating time
    assert kpi.resolve_scope(group="11").group_name == "Billing"
    ada = kpi.resolve_scope(agent="ADA@example.com")
    assert ada.agent_id == ADA
    assert kpi.resolve_scope(agent="Ada Agent").agent_id == ADA
    assert kpi.resolve_scope(agent=str(BOB)).agent_id == BOB
    s = kpi.window_stats(WINDOW, ada, NOW)
    assert s.created == 2 and s.solved == 3
    # rating 2 was Bob's at rating time though ticket 3 is Ada's now
    assert (s.good, s.bad, s.csat) == (2, 0, 1.0)


def test_unknown_filters_get_clear_errors(kpi: SqlKpiSource) -> None:
    with pytest.raises(ScopeError, match="did you mean 'Support'"):
        kpi.resolve_scope(group="Suport")
    with pytest.raises(ScopeError, match="group id 77 is not in the local copy"):
        kpi.resolve_scope(group="77")
    with pytest.raises(ScopeError, match="did you mean 'Ada Agent'"):
        kpi.resolve_scope(agent="Ada Agnt")


def test_agent_stats(kpi: SqlKpiSource) -> None:
    agents = {a.agent_id: a for a in kpi.agent_stats(WINDOW, Scope())}
    ada, bob = agents[ADA], agents[BOB]
    assert (ada.name, ada.solved, ada.replies, ada.customers) == ("Ada Agent", 3, 6, 2)
    assert ada.frt_median == 20  # 10, 30, 20
    assert (ada.good, ada.bad) == (2, 0)
    assert (bob.solved, bob.replies, bob.customers, bob.frt_median) == (1, 0, 1, None)
    assert (bob.good, bob.bad, bob.csat) == (0, 1, 0.0)


def test_customers_in_need(kpi: SqlKpiSource) -> None:
    c = kpi.customers_in_need(WINDOW, Scope(), 5)
    assert [(x.kind, x.id, x.name, x.open_tickets) for x in c.most_open] == [
        ("organization", ACME, "Acme", 2),  # 4 and 8 (5 is deleted)
        ("requester", 503, "Dan Doe", 1),  # 9, no organisation
    ]
    assert [(x.kind, x.id, x.name, x.bad_ratings) for x in c.bad_ratings] == [
        ("organization", GLOBEX, "Globex", 1)
    ]


def test_team_tags_with_trend(kpi: SqlKpiSource) -> None:
    tags = ["hooray", "lost_cause"]
    assert kpi.team_tag_counts(WINDOW, Scope(), tags) == {
        (ADA, "hooray"): 2,
        (ADA, "lost_cause"): 1,
    }
    assert kpi.team_tag_counts(WINDOW.previous(), Scope(), tags) == {(ADA, "hooray"): 1}


def test_series_buckets_by_local_day(kpi: SqlKpiSource) -> None:
    points = kpi.series(buckets(date(2026, 3, 30), 3, "day", TZ), Scope())
    assert [p.window.start_day.day for p in points] == [27, 28, 29]
    assert [p.created for p in points] == [1, 2, 1]
    assert [(p.good, p.bad) for p in points] == [(0, 0), (2, 0), (0, 1)]
    assert points[0].csat is None
    assert kpi.frt_sample(WINDOW, Scope()) == [10, 20, 30]


def test_build_report_with_deltas_and_flags(kpi: SqlKpiSource) -> None:
    rules = WorkloadSettings(daily_reply_threshold=2, complex_min_replies=1, complex_max_tickets=1)
    report = build_report(kpi, WINDOW, NOW, workload=rules, team_tags=["hooray", "lost_cause"])
    created = report.delta("tickets_created")
    assert (created.current, created.previous, created.change) == (3, 1, 2)
    assert created.change_pct == 200
    assert report.delta("csat").previous is None and report.delta("csat").change is None
    flags = {row.stats.agent_id: row.flags for row in report.agents}
    # Ada: 6 replies in 2 days = 3/day > 2; 6 >= 1*2 replies and 3 > 1*2 solved: not complex
    assert flags[ADA] == ("above_daily_reply_threshold",)
    assert flags[BOB] == ()
    assert [(t.tag, t.count, t.previous) for t in report.team_tags] == [
        ("hooray", 2, 1),
        ("lost_cause", 1, 0),
    ]
