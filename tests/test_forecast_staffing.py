"""Staffing: Erlang C against published values, the workload formula, shrinkage, bad targets."""

from __future__ import annotations

import math

import pytest

from deskbot.domain.staffing import (
    ImpossibleTarget,
    deferred_agents,
    erlang_agents,
    erlang_b,
    erlang_c,
    service_level,
    staff_channel,
    with_shrinkage,
    workload_agents,
)
from deskbot.settings import ForecastChannel


def test_erlang_c_matches_the_published_worked_example() -> None:
    # pyworkforce README (ErlangC(transactions=100, aht=3, asa=20/60, interval=30,
    # shrinkage=0.3).required_positions(service_level=0.8, max_occupancy=0.85)) and the CRAN
    # package ErlangC (calculate_agents(100, 30 min, 180 s, 20 s, 0.8, 0.85, 0.3)) publish:
    # 14 agents, waiting probability 0.1741319, service level 0.88835, occupancy 0.7142857,
    # ASA 7.8359 s, and 20 positions after 30% shrinkage; the first step (11 agents) waits
    # with probability 0.6821182.
    result = erlang_agents(100, 180, 20, 0.8, max_occupancy=0.85)
    assert result.traffic == 10
    assert result.agents == 14
    assert result.wait_probability == pytest.approx(0.1741319, abs=1e-7)
    assert result.service_level == pytest.approx(0.88835, abs=1e-5)
    assert result.occupancy == pytest.approx(0.7142857, abs=1e-7)
    assert result.asa_seconds == pytest.approx(7.83594, abs=1e-4)
    assert with_shrinkage(result.agents, 0.3) == 20
    assert erlang_c(11, 10) == pytest.approx(0.6821182, abs=1e-7)
    # 13 agents would miss the target: 14 is the fewest
    assert service_level(13, 10, 180, 20) < 0.8 <= service_level(14, 10, 180, 20)


def test_erlang_b_matches_the_standard_blocking_table() -> None:
    # Erlang B tables: 10 lines carry 4.46 Erlangs at 1% blocking and 5.08 at 2%.
    assert erlang_b(10, 4.46) == pytest.approx(0.01, abs=0.0005)
    assert erlang_b(10, 5.08) == pytest.approx(0.02, abs=0.0005)


def test_max_occupancy_can_demand_more_agents_than_the_service_level() -> None:
    # 200 contacts x 180 s / 1800 s = 20 Erlangs; 80/20 needs 24, but 70% occupancy needs 29
    assert erlang_agents(200, 180, 20, 0.8).agents == 24
    capped = erlang_agents(200, 180, 20, 0.8, max_occupancy=0.7)
    assert capped.agents == math.ceil(20 / 0.7) == 29 and capped.occupancy <= 0.7


def test_no_contacts_need_no_agents_and_a_trickle_needs_one() -> None:
    assert erlang_agents(0, 180, 20, 0.8).agents == 0
    assert erlang_agents(0.1, 180, 20, 0.8).agents == 1


def test_an_impossible_service_level_says_so() -> None:
    with pytest.raises(ImpossibleTarget, match="can never be met"):
        erlang_agents(100, 180, 20, 1.0)
    chat = ForecastChannel(name="chat", kind="live", handle_minutes=5, service_level=1.0)
    plan = staff_channel([10.0, 20.0], [], chat, 0.3)
    assert plan.problem is not None and "can never be met" in plan.problem
    assert plan.scheduled == ()  # no numbers rather than a silent zero


def test_workload_formula() -> None:
    # 60 e-mails in a half hour x 8 min = 480 min of work = 16 agents busy; at 80% occupancy 20
    assert workload_agents(60, 8 * 60, 0.8) == pytest.approx(20.0)
    assert workload_agents(0, 480, 0.8) == 0
    email = ForecastChannel(
        name="email",
        kind="deferred",
        handle_minutes=8,
        first_reply_minutes=30,
        target_occupancy=0.8,
    )
    plan = staff_channel([60.0, 30.0, 0.0], [], email, 0.2)
    assert plan.agents == pytest.approx((20.0, 10.0, 0.0))
    assert plan.scheduled == (25, 13, 0)  # / (1 - 20%), rounded up


def test_deferred_work_spread_over_the_reply_target_answers_everyone_in_time() -> None:
    # A burst of 120 e-mails then silence, 2-hour first-reply target (4 slots): staffing the
    # trailing mean of the workload clears every slot's tickets within 4 slots (FIFO).
    arrivals = [120.0, 0, 0, 0, 0, 0, 40, 40, 0, 0, 0, 0]
    aht = 600.0
    agents = deferred_agents(arrivals, aht, 1.0, reply_window_slots=4)
    assert max(agents) < workload_agents(120, aht, 1.0)  # spread, not the raw peak
    capacity = [a * 1800 / aht for a in agents]  # tickets workable per slot
    queue: list[list[float]] = []  # [arrival slot, remaining]
    for t, (arrived, slot_capacity) in enumerate(zip(arrivals, capacity, strict=True)):
        if arrived:
            queue.append([t, arrived])
        cap = slot_capacity
        while cap > 1e-9 and queue:
            take = min(cap, queue[0][1])
            queue[0][1] -= take
            cap -= take
            if queue[0][1] <= 1e-9:
                assert t - queue[0][0] < 4, f"slot {queue[0][0]} answered late at {t}"
                queue.pop(0)
    assert not queue


def test_shrinkage_rounds_up_and_rejects_nonsense() -> None:
    assert with_shrinkage(7, 0.3) == 10
    assert with_shrinkage(0, 0.3) == 0
    with pytest.raises(ImpossibleTarget):
        with_shrinkage(5, 1.0)


def test_a_channel_without_staffing_settings_says_how_to_add_them() -> None:
    plan = staff_channel([5.0], [], None, 0.3)
    assert plan.problem is not None and "forecast.channels" in plan.problem
