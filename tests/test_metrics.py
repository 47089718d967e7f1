"""Pure KPI definitions: every expected number worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from deskbot.domain.metrics import (
    HEADLINES,
    PERIOD_HELP,
    AgentStats,
    Delta,
    PeriodError,
    Window,
    WindowStats,
    buckets,
    csat,
    csat_response_rate,
    enps,
    last_complete_week,
    looks_like_period,
    median,
    parse_period,
    percentile,
    ratio,
    workload_flags,
)
from deskbot.domain.report import format_change, format_value
from deskbot.settings import WorkloadSettings

BERLIN = ZoneInfo("Europe/Berlin")


def test_median_even_count_and_nulls() -> None:
    assert median([4, None, 1, 3, 2]) == 2.5  # 1,2,3,4 -> (2+3)/2
    assert median([5, None, 1, 3]) == 3
    assert median([None, None]) is None
    assert median([]) is None


def test_percentile_interpolates_like_percentile_cont() -> None:
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert percentile(values, 0.9) == pytest.approx(91.0)  # rank 8.1 -> 90 + 0.1*10
    assert percentile([7], 0.9) == 7
    assert percentile(values, 0) == 10 and percentile(values, 1) == 100
    with pytest.raises(ValueError):
        percentile(values, 1.5)


def test_ratios_never_divide_by_zero() -> None:
    assert ratio(1, 0) is None
    assert csat(0, 0) is None
    assert csat(3, 1) == 0.75
    assert csat_response_rate(3, 1, 4) == 0.5  # (3+1)/(4+3+1)
    assert csat_response_rate(0, 0, 0) is None
    empty = WindowStats()
    assert empty.csat is None and empty.one_touch_rate is None and empty.reopen_rate is None


def test_enps() -> None:
    # promoters 9, 10, 10 (3); passives 7, 8 (2); detractors 0, 6 (2); 7 answers
    assert enps([9, 10, 10, 7, 8, 0, 6, None]) == pytest.approx(100 * (3 - 2) / 7)
    assert enps([10, 10]) == 100
    assert enps([0]) == -100
    assert enps([]) is None
    with pytest.raises(ValueError):
        enps([11])


def test_delta() -> None:
    d = Delta(12, 10)
    assert (d.change, d.change_pct, d.direction) == (2, 20.0, "up")
    assert Delta(5, 0).change_pct is None
    assert Delta(None, 3).change is None and Delta(None, 3).direction is None
    assert Delta(3, 3).direction == "flat"
    assert Delta(0.5, 0.75).direction == "down"


def test_parse_relative_period_is_complete_local_days() -> None:
    # 00:30 on 2 Nov in Berlin is still 1 Nov 23:30 UTC: "today" is 2 Nov locally
    now = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    w = parse_period("7d", now, BERLIN)
    assert (w.start_day, w.end_day, w.days) == (date(2026, 10, 26), date(2026, 11, 2), 7)
    assert w.start == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # CET (after 25 Oct switch)
    assert w.previous() == Window(date(2026, 10, 19), date(2026, 10, 26), "Europe/Berlin")
    # the previous week spans the switch back to winter time: 7 days and 1 hour
    prev = w.previous()
    assert (prev.end - prev.start).total_seconds() == 7 * 24 * 3600 + 3600
    assert parse_period("yesterday", now, BERLIN).label == "2026-11-01"


def test_parse_date_range_and_weeks() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
    w = parse_period("2026-11-01..2026-11-30", now, BERLIN)
    assert (w.days, w.label) == (30, "2026-11-01..2026-11-30")
    week = last_complete_week(now, BERLIN)
    assert (week.start_day, week.end_day) == (date(2026, 11, 16), date(2026, 11, 23))
    assert parse_period("last-week", now, BERLIN) == week


@pytest.mark.parametrize(
    ("spec", "start", "end", "name"),
    [
        # now: Wednesday 4 Nov 2026, 10:00 in Berlin
        ("7d", date(2026, 10, 28), date(2026, 11, 4), "last 7 complete days"),
        ("30D", date(2026, 10, 5), date(2026, 11, 4), "last 30 complete days"),
        ("2w", date(2026, 10, 21), date(2026, 11, 4), "last 14 complete days"),
        ("today", date(2026, 11, 4), date(2026, 11, 5), "today"),
        ("yesterday", date(2026, 11, 3), date(2026, 11, 4), "yesterday"),
        ("daily", date(2026, 11, 3), date(2026, 11, 4), "yesterday"),
        ("week", date(2026, 11, 2), date(2026, 11, 5), "this week so far"),
        ("last-week", date(2026, 10, 26), date(2026, 11, 2), "last week"),
        ("weekly", date(2026, 10, 26), date(2026, 11, 2), "last week"),
        ("month", date(2026, 11, 1), date(2026, 11, 5), "November 2026 so far"),
        ("last-month", date(2026, 10, 1), date(2026, 11, 1), "October 2026"),
        (" 2026-11-01..2026-11-03 ", date(2026, 11, 1), date(2026, 11, 4), ""),
        ("2026-11-01..2026-11-01", date(2026, 11, 1), date(2026, 11, 2), ""),
    ],
)
def test_every_period_word_and_what_it_covers(spec: str, start: date, end: date, name: str) -> None:
    w = parse_period(spec, datetime(2026, 11, 4, 9, tzinfo=UTC), BERLIN)
    assert (w.start_day, w.end_day, w.tz, w.name) == (start, end, "Europe/Berlin", name)


def test_month_periods_across_a_year_end() -> None:
    now = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)  # 01:30 on 1 Jan in Berlin
    assert parse_period("last-month", now, BERLIN) == Window(
        date(2026, 12, 1), date(2027, 1, 1), "Europe/Berlin"
    )
    assert parse_period("month", now, BERLIN).days == 1
    assert parse_period("week", now, BERLIN).start_day == date(2026, 12, 28)  # a Monday


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("7days", ""),
        ("7x", ""),
        ("0d", "(use 1 to 731 days)"),
        ("999d", "(use 1 to 731 days)"),
        ("105w", "(use 1 to 731 days)"),
        ("2026-11-30..2026-11-01", "write the earlier day first: `2026-11-01..2026-11-30`"),
        ("2026-02-30..2026-03-01", "(not a calendar date"),
        ("2024-01-01..2026-01-01", "(at most 731 days)"),
        ("last month", "Did you mean `last-month`?"),
        ("fortnight", ""),
    ],
)
def test_bad_periods_explain_good_ones(spec: str, why: str) -> None:
    with pytest.raises(PeriodError) as info:
        parse_period(spec, datetime(2026, 11, 25, tzinfo=UTC), BERLIN)
    message = str(info.value)
    assert message.startswith(f"`{spec}` is not a period I understand")
    assert why in message
    assert message.endswith(f"Try {PERIOD_HELP}")
    assert "`7d`" in message and "`today`" in message and "(both days included)" in message


@pytest.mark.parametrize(
    ("word", "meant"),
    [
        ("7d", True),
        ("7x", True),
        ("30dd", True),
        ("2026-11", True),
        ("a..b", True),
        ("mnth", True),
        ("weekly", True),
        ("123456", False),
        ("billing", False),
        ("@ada", False),
    ],
)
def test_looks_like_period(word: str, meant: bool) -> None:
    assert looks_like_period(word) is meant


def test_a_window_name_is_for_display_only() -> None:
    named = Window(date(2026, 11, 1), date(2026, 11, 8), "UTC", "last 7 complete days")
    assert named == Window(date(2026, 11, 1), date(2026, 11, 8), "UTC")
    assert named.previous().name == ""


def test_buckets() -> None:
    weeks = buckets(date(2026, 11, 23), 3, "week", "UTC")
    assert [w.start_day for w in weeks] == [
        date(2026, 11, 2),
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]
    assert all(w.days == 7 for w in weeks)


def test_workload_flags_scale_per_day() -> None:
    rules = WorkloadSettings()  # threshold 50/day; fast >= 15 customers/day; complex >= 30/day
    tired = AgentStats(1, replies=351, solved=100, customers=90, frt_median=30)
    assert workload_flags(tired, 7, rules) == ("above_daily_reply_threshold",)
    assert workload_flags(AgentStats(1, replies=350, solved=100, customers=90), 7, rules) == ()
    # 110 customers in 7 days is not 15 a day (105 is): blowing through needs all three
    fast = AgentStats(2, replies=110, solved=110, customers=105, frt_median=4)
    assert workload_flags(fast, 7, rules) == ("blowing_through_tickets",)
    assert (
        workload_flags(
            AgentStats(2, replies=110, solved=110, customers=104, frt_median=4), 7, rules
        )
        == ()
    )
    assert (
        workload_flags(
            AgentStats(2, replies=200, solved=110, customers=105, frt_median=4), 7, rules
        )
        == ()
    )  # 1.8 replies per ticket
    assert workload_flags(AgentStats(2, replies=110, solved=110, customers=105), 7, rules) == ()
    complex_ = AgentStats(3, replies=30, solved=5, customers=5)
    assert workload_flags(complex_, 1, rules) == ("overloaded_with_complex_issues",)
    assert workload_flags(AgentStats(3, replies=30, solved=6, customers=6), 1, rules) == ()


def test_human_formatting() -> None:
    assert format_value("minutes", 6.5) == "6.5 min"
    assert format_value("minutes", 20) == "20 min"
    assert format_value("minutes", 200) == "3.3 h"
    assert format_value("minutes", 4320) == "3.0 d"
    assert format_value("ratio", 2 / 3) == "66.7%"
    assert format_value("count", 12345) == "12,345"
    assert format_value("ratio", None) == "no data"
    csat = next(h for h in HEADLINES if h.key == "csat")
    assert format_change(csat, Delta(0.9, 0.85)) == "+5.0 pts"
    created = HEADLINES[0]
    assert format_change(created, Delta(3, 1)) == "+2 (+200%)"
    assert format_change(created, Delta(3, None)) == ""
