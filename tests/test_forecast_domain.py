"""The forecast: DST-correct half hours, the baseline, backtest selection, holidays and events."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

import deskbot.domain.forecast as fc
from deskbot.domain.forecast import (
    Calendar,
    ForecastProblem,
    History,
    KnownEvent,
    day_totals,
    forecast_channel,
    public_holidays,
    seasonal_naive,
    slot_grid,
)
from forecast_data import poisson_counts, seasonal_rate

TZ = "Europe/Berlin"
START = date(2026, 1, 5)  # a Monday


def history(
    weeks: int,
    counts: np.ndarray | None = None,
    calendar: Calendar | None = None,
    per_day: float = 800,
    seed: int = 1,
    start: date = START,
) -> History:
    grid = slot_grid(start, start + timedelta(days=7 * weeks), TZ)
    if counts is None:
        counts = poisson_counts(seasonal_rate(grid, per_day), seed)
    return History(grid, counts, calendar or Calendar(), "email")


def run(h: History, weeks: int = 1, **kw: object) -> fc.ChannelForecast:
    target = slot_grid(h.grid.end_day, h.grid.end_day + timedelta(days=7 * weeks), TZ)
    return forecast_channel(h, target, holdout_weeks=2, min_history_weeks=4, **kw)  # type: ignore[arg-type]


# -- time -------------------------------------------------------------------------------------


def test_half_hours_are_local_wall_clock_slots_on_23_and_25_hour_days() -> None:
    spring = slot_grid(date(2026, 3, 28), date(2026, 3, 31), TZ)
    assert [spring.slots_of_day(d) for d in range(3)] == [48, 46, 48]
    sunday = spring.wall[spring.day == 1]
    assert 4 not in sunday and 5 not in sunday  # 02:00 and 02:30 never happened
    assert list(sunday[:5]) == [0, 1, 2, 3, 6]
    autumn = slot_grid(date(2026, 10, 24), date(2026, 10, 27), TZ)
    assert [autumn.slots_of_day(d) for d in range(3)] == [48, 50, 48]
    day = autumn.day == 1
    assert list(autumn.wall[day][:8]) == [0, 1, 2, 3, 4, 5, 4, 5]  # 02:00-03:00 twice
    assert list(autumn.fold[day][:8]) == [0, 0, 0, 0, 0, 0, 1, 1]
    assert np.all(np.diff(autumn.utc) == 1800)  # every slot is 30 real minutes
    assert str(autumn.local_start(48 + 6)) == "2026-10-25 02:00:00+01:00"


def test_grids_align_in_zones_with_odd_offsets() -> None:
    kathmandu = slot_grid(date(2026, 1, 1), date(2026, 1, 2), "Asia/Kathmandu")  # +05:45
    assert len(kathmandu) == 48
    assert kathmandu.local_start(3).strftime("%H:%M%z") == "01:30+0545"
    new_york = slot_grid(date(2026, 3, 8), date(2026, 3, 9), "America/New_York")
    assert len(new_york) == 46 and list(new_york.wall[:6]) == [0, 1, 2, 3, 6, 7]


def test_baseline_is_same_half_hour_last_week_across_dst_changes() -> None:
    # counts name their own day and half hour: 1000 * day + wall
    grid = slot_grid(date(2026, 10, 4), date(2026, 10, 25), TZ)
    h = History(grid, (1000 * grid.day + grid.wall).astype(float), Calendar(), "email")
    target = slot_grid(date(2026, 10, 25), date(2026, 10, 26), TZ)  # the 25-hour Sunday
    got = seasonal_naive(h, target)
    assert len(got) == 50
    last_sunday = 1000 * 14  # 18 October is day 14 of the history
    assert list(got[:8]) == [last_sunday + w for w in (0, 1, 2, 3, 4, 5, 4, 5)]
    # the Sunday after the spring change: its 02:00 did not exist a week earlier
    grid = slot_grid(date(2026, 3, 15), date(2026, 4, 5), TZ)
    h = History(grid, (1000 * grid.day + grid.wall).astype(float), Calendar(), "email")
    target = slot_grid(date(2026, 4, 5), date(2026, 4, 6), TZ)
    got = seasonal_naive(h, target)
    assert len(got) == 48
    assert got[4] == 1000 * 7 + 4  # 02:00 from two weeks back (22 March)
    assert got[6] == 1000 * 14 + 6  # 03:00 from last week (29 March)


def test_the_model_expects_more_on_a_25_hour_day() -> None:
    grid = slot_grid(date(2026, 8, 3), date(2026, 10, 19), TZ)
    flat = np.random.default_rng(3).poisson(20, len(grid)).astype(float)
    target = slot_grid(date(2026, 10, 19), date(2026, 11, 2), TZ)
    out = fc.glm_forecast(History(grid, flat, Calendar(), "email"), target)
    totals = day_totals(target, out)
    assert totals[6] / totals[13] == pytest.approx(50 / 48, rel=0.02)  # 25 Oct vs 1 Nov


# -- selection ----------------------------------------------------------------------------------


def test_the_model_beats_the_baseline_on_seasonal_data() -> None:
    result = run(history(16))
    bt = result.backtest
    assert result.method == "model"
    assert bt.model is not None and bt.baseline is not None
    assert bt.model.wape < 0.85 * bt.baseline.wape
    assert abs(bt.model.bias) < 0.05
    assert "beat the baseline" in result.reason


def test_pure_noise_around_last_week_keeps_the_baseline() -> None:
    # Each week is last week's half hours times pure random shocks (a seasonal random walk):
    # nothing but last week predicts the next, so the model must not be chosen.
    grid = slot_grid(START, START + timedelta(days=16 * 7), TZ)
    rng = np.random.default_rng(7)
    week = seasonal_rate(grid, 2000, 0)[:336]
    weeks = []
    for _ in range(17):
        week = week * np.exp(rng.normal(0, 0.35, 336))
        weeks.append(week)
    counts = rng.poisson(np.concatenate(weeks)[: len(grid)]).astype(float)
    result = run(History(grid, counts, Calendar(), "email"))
    assert result.method == "baseline"
    assert result.backtest.model is not None and result.backtest.baseline is not None
    assert result.backtest.model.wape > result.backtest.baseline.wape
    assert "did not beat it" in result.reason
    # the forecast *is* the baseline
    assert np.array_equal(
        result.expected, seasonal_naive(result_history(grid, counts), result.target)
    )


def result_history(grid: fc.SlotGrid, counts: np.ndarray) -> History:
    return History(grid, counts, Calendar(), "email")


def test_without_the_model_the_baseline_is_used_and_the_report_says_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fc, "model_available", lambda: False)
    result = run(history(8))
    assert result.method == "baseline"
    assert "pip install 'deskbot[forecast]'" in result.reason
    assert result.backtest.baseline is not None and result.backtest.model is None


# -- calendar -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["model", "baseline"])
def test_a_public_holiday_and_a_known_event_shift_the_forecast(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if method == "baseline":
        monkeypatch.setattr(fc, "model_available", lambda: False)
    plain = run(history(12))
    tuesday, thursday = plain.target.start_day + timedelta(1), plain.target.start_day + timedelta(3)
    calendar = Calendar(
        holidays={tuesday: "Founders' Day"},
        events=(
            KnownEvent("launch", thursday, thursday, 0.5, ("email",)),
            KnownEvent("voice outage", thursday, thursday, 2.0, ("voice",)),
        ),
        default_holiday_factor=0.4,
    )
    shifted = run(history(12, calendar=calendar))
    assert shifted.method == plain.method == method
    before, after = (
        day_totals(plain.target, plain.expected),
        day_totals(plain.target, shifted.expected),
    )
    assert after[1] == pytest.approx(0.4 * before[1])  # holiday: the configured factor
    assert after[3] == pytest.approx(1.5 * before[3])  # the launch: +50%; voice's not
    assert after[2] == pytest.approx(before[2])
    assert any("Founders' Day" in n for n in shifted.notes)
    assert any("launch" in n for n in shifted.notes)


def test_the_holiday_factor_is_learned_from_past_holidays() -> None:
    grid = slot_grid(START, START + timedelta(days=12 * 7), TZ)
    counts = poisson_counts(seasonal_rate(grid, 800), 5)
    past = [START + timedelta(days=d) for d in (23, 44, 65)]  # three weekdays
    for day in past:
        on = grid.day == (day - START).days
        counts[on] = np.round(counts[on] * 0.3)
    coming = grid.end_day + timedelta(days=2)
    calendar = Calendar(holidays={**dict.fromkeys(past, "old"), coming: "new"})
    result = run(History(grid, counts, calendar, "email"))
    assert result.holiday_factor == pytest.approx(0.3, abs=0.05)
    assert "learned from 3 holidays" in result.holiday_source
    plain = run(History(grid, counts, Calendar(holidays=dict.fromkeys(past, "old")), "email"))
    ratio = (
        day_totals(result.target, result.expected)[2] / day_totals(plain.target, plain.expected)[2]
    )
    assert ratio == pytest.approx(result.holiday_factor)


def test_public_holidays_come_from_the_holidays_package() -> None:
    days = public_holidays("DE", "BY", range(2026, 2027))
    assert days[date(2026, 10, 3)] == "German Unity Day"
    assert date(2026, 1, 6) in days  # Epiphany in Bavaria only
    assert date(2026, 1, 6) not in public_holidays("DE", "BE", range(2026, 2027))
    assert public_holidays(None, None, range(2026, 2027)) == {}


# -- bad input ----------------------------------------------------------------------------------


def test_too_little_history_is_a_clear_problem() -> None:
    with pytest.raises(ForecastProblem, match=r"only 21 days of history .* at least 4 weeks"):
        run(history(3))


def test_a_channel_without_tickets_is_a_clear_problem() -> None:
    grid = slot_grid(START, START + timedelta(days=56), TZ)
    with pytest.raises(ForecastProblem, match="no tickets on channel 'email'"):
        run(History(grid, np.zeros(len(grid)), Calendar(), "email"))


def test_a_past_known_event_does_not_inflate_normal_days() -> None:
    grid = slot_grid(START, START + timedelta(days=8 * 7), TZ)
    counts = poisson_counts(seasonal_rate(grid, 800, 0), 9)
    plain = run(History(grid, counts.copy(), Calendar(), "email")).expected.sum()
    launch = START + timedelta(days=7 * 7 + 2)  # last week's Wednesday: 3x the tickets
    counts[grid.day == (launch - START).days] *= 3
    known = Calendar(events=(KnownEvent("launch", launch, launch, 2.0),))
    explained = run(History(grid, counts, known, "email")).expected.sum()
    unexplained = run(History(grid, counts, Calendar(), "email")).expected.sum()
    assert explained == pytest.approx(plain, rel=0.03)  # the spike is left out of the fit
    assert unexplained > 1.05 * plain  # a spike nobody explained pulls the forecast up
