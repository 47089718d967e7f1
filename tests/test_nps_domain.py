"""Internal NPS rules, one by one (pure): eligibility, rotation, quiet hours, eNPS, anonymity."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from deskbot.domain import nps
from deskbot.domain.nps import AskHistory, RoundRules, SendWindow
from deskbot.domain.people import DepartmentInfo, Person

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # a Tuesday
BERLIN = ZoneInfo("Europe/Berlin")
RULES = RoundRules(cooldown_days=30, max_asks_per_quarter=2, per_round_cap=100, seed=1)
ALWAYS = SendWindow(quiet_start=time(0, 0), quiet_end=time(0, 0), working_days=frozenset(range(7)))


def person(i: int, **kw: object) -> Person:
    return Person(id=i, name=f"p{i}", slack_user_id=f"U{i:04d}", **kw)  # type: ignore[arg-type]


def plan(
    people: list[Person],
    departments: list[DepartmentInfo] | None = None,
    history: dict[str, AskHistory] | None = None,
    opted_out: set[str] | None = None,
    rules: RoundRules = RULES,
    window: SendWindow = ALWAYS,
    round_id: str = "2026-11-03",
) -> nps.RoundPlan:
    return nps.plan_round(
        round_id=round_id,
        now=NOW,
        people=people,
        departments=departments or [DepartmentInfo("Support", "UOWNER", ())],
        history=history or {},
        opted_out=opted_out or set(),
        rules=rules,
        default_tz=BERLIN,
        window=window,
    )


def asked(p: nps.RoundPlan) -> set[str]:
    return {a.slack_user_id for a in p.asks}


def test_inactive_bots_guests_and_people_without_slack_are_never_asked() -> None:
    people = [
        person(1),
        person(2, active=False),
        person(3, is_bot=True),
        person(4, is_guest=True),
        Person(id=5, name="no slack"),
    ]
    p = plan(people)
    assert asked(p) == {"U0001"}
    assert p.excluded == {"inactive": 1, "bot": 1, "guest": 1, "no_slack": 1}


def test_nobody_rates_their_own_department_by_members_or_by_person_departments() -> None:
    people = [person(1), person(2), person(3, departments=("support",))]
    p = plan(people, [DepartmentInfo("Support", "UOWNER", ("U0002",))])
    assert asked(p) == {"U0001"}


def test_a_department_owner_never_rates_their_own_department() -> None:
    # the owner reads the department's comments and replies to them: their own answer would be
    # both biased and, in a small department, traceable
    p = plan([person(1), person(2)], [DepartmentInfo("Support", "U0002", ())])
    assert asked(p) == {"U0001"}


def test_opted_out_people_are_not_asked() -> None:
    p = plan([person(1), person(2)], opted_out={"U0002"})
    assert asked(p) == {"U0001"} and p.excluded == {"opted_out": 1}


def test_cooldown_days_give_it_a_rest() -> None:
    history = {
        "U0001": AskHistory(last_asked=NOW - timedelta(days=29, hours=23)),
        "U0002": AskHistory(last_asked=NOW - timedelta(days=30, minutes=1)),
    }
    p = plan([person(1), person(2)], history=history)
    assert asked(p) == {"U0002"} and p.excluded == {"cooldown": 1}


def test_quarterly_cap() -> None:
    old = NOW - timedelta(days=40)
    history = {
        "U0001": AskHistory(last_asked=old, asks_this_quarter=2),
        "U0002": AskHistory(last_asked=old, asks_this_quarter=1),
    }
    p = plan([person(1), person(2)], history=history)
    assert asked(p) == {"U0002"} and p.excluded == {"quarter_cap": 1}


def test_least_recently_asked_first_and_never_asked_before_everyone() -> None:
    history = {
        f"U{i:04d}": AskHistory(last_asked=NOW - timedelta(days=100 - i)) for i in range(1, 6)
    }
    people = [person(i) for i in range(1, 7)]  # U0006 was never asked
    p = plan(people, history=history, rules=RoundRules(30, 2, 3, seed=1))
    assert [a.slack_user_id for a in p.asks] == ["U0006", "U0001", "U0002"]


def test_ties_are_broken_by_the_seed_reproducibly() -> None:
    people = [person(i) for i in range(1, 21)]
    rules = RoundRules(30, 2, 5, seed=1)
    first = [a.slack_user_id for a in plan(people, rules=rules).asks]
    assert first == [a.slack_user_id for a in plan(people, rules=rules).asks]
    other = [a.slack_user_id for a in plan(people, rules=RoundRules(30, 2, 5, seed=2)).asks]
    assert first != other


def test_per_round_cap_and_nobody_twice_in_a_round_across_departments() -> None:
    people = [person(i) for i in range(1, 41)]
    departments = [DepartmentInfo(n, None, ()) for n in ("A", "B", "C")]
    p = plan(people, departments, rules=RoundRules(30, 2, 25, seed=3))
    assert len(p.asks) == 25
    assert len(asked(p)) == 25  # 25 different people
    assert sorted(p.counts().values()) == [8, 8, 9]


def test_a_small_pool_is_shared_without_asking_anyone_twice() -> None:
    people = [person(i) for i in range(1, 4)]
    departments = [DepartmentInfo(n, None, ()) for n in ("A", "B", "C", "D")]
    p = plan(people, departments)
    assert len(p.asks) == 3 and len(asked(p)) == 3


def test_departments_per_round_concentrates_the_round() -> None:
    people = [person(i) for i in range(1, 41)]
    departments = [DepartmentInfo(n, None, ()) for n in ("A", "B", "C")]
    load = {"A": 5, "B": 0, "C": 9}
    p = nps.plan_round(
        round_id="r",
        now=NOW,
        people=people,
        departments=departments,
        history={},
        opted_out=set(),
        rules=RoundRules(30, 2, 10, seed=1, departments_per_round=1),
        default_tz=BERLIN,
        window=ALWAYS,
        department_load=load,
    )
    assert p.counts() == {"B": 10}  # the least asked-about department


def test_quiet_hours_across_time_zones() -> None:
    window = SendWindow(quiet_start=time(18, 0), quiet_end=time(9, 0))
    # Tuesday 09:00 UTC: 10:00 in Berlin (allowed), 04:00 in New York (quiet until 09:00),
    # 18:00 in Tokyo (quiet from 18:00: Wednesday 09:00 Tokyo).
    people = [
        person(1, tz="Europe/Berlin"),
        person(2, tz="America/New_York"),
        person(3, tz="Asia/Tokyo"),
        person(4, tz=None),  # the configured zone (Berlin)
        person(5, tz="Not/AZone"),  # unknown: the configured zone
    ]
    departments = [DepartmentInfo(n, None, ()) for n in ("A", "B", "C", "D", "E")]
    p = plan(people, departments, window=window)
    at = {a.slack_user_id: a.send_at for a in p.asks}
    assert at["U0001"] == NOW and at["U0004"] == NOW and at["U0005"] == NOW
    assert at["U0002"] == datetime(2026, 11, 3, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert at["U0003"] == datetime(2026, 11, 4, 0, 0, tzinfo=UTC)  # Wed 09:00 JST


def test_working_days_skip_the_weekend_in_local_time() -> None:
    window = SendWindow(quiet_start=time(18, 0), quiet_end=time(9, 0))
    friday_evening = datetime(2026, 11, 6, 19, 0, tzinfo=UTC)  # Fri 20:00 Berlin
    got = nps.next_allowed_moment(friday_evening, BERLIN, window)
    assert got == datetime(2026, 11, 9, 8, 0, tzinfo=UTC)  # Monday 09:00 Berlin
    # Saturday already in Auckland (UTC+13) while Friday in UTC: wait for their Monday.
    got = nps.next_allowed_moment(
        datetime(2026, 11, 6, 12, 0, tzinfo=UTC), ZoneInfo("Pacific/Auckland"), window
    )
    assert got.astimezone(ZoneInfo("Pacific/Auckland")) == datetime(
        2026, 11, 9, 9, 0, tzinfo=ZoneInfo("Pacific/Auckland")
    )


def test_quiet_hours_across_a_dst_change() -> None:
    window = SendWindow(quiet_start=time(18, 0), quiet_end=time(9, 0))
    # Saturday 28 March 2026 evening in Berlin; Monday 30 March is summer time (UTC+2).
    got = nps.next_allowed_moment(datetime(2026, 3, 28, 20, 0, tzinfo=UTC), BERLIN, window)
    assert got == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_enps_and_ci_against_hand_computed_values() -> None:
    # n=10: 5 promoters, 3 passives, 2 detractors. P-D = 0.3;
    # Var = (0.5 + 0.2 - 0.09) / 10 = 0.061; SE = 0.246982; 1.96 SE = 0.484075.
    r = nps.enps_result([10, 9, 9, 10, 9, 8, 7, 7, 3, 6])
    assert r is not None
    assert (r.n, r.promoters, r.passives, r.detractors) == (10, 5, 3, 2)
    assert r.enps == pytest.approx(30.0)
    assert r.ci_low == pytest.approx(-18.41, abs=0.01)
    assert r.ci_high == pytest.approx(78.41, abs=0.01)
    # All promoters: variance 0, the interval is the point.
    r = nps.enps_result([10] * 6)
    assert r is not None and (r.enps, r.ci_low, r.ci_high) == (100.0, 100.0, 100.0)
    # n=4: 1 P, 3 D: P-D=-0.5; Var=(1-0.25)/4=0.1875; 1.96*0.4330=0.8487 -> [-100 (clipped), 34.87]
    r = nps.enps_result([9, 0, 5, 6])
    assert r is not None
    assert r.enps == pytest.approx(-50.0)
    assert r.ci_low == -100.0 and r.ci_high == pytest.approx(34.87, abs=0.01)
    assert nps.enps_result([]) is None


@pytest.mark.parametrize("bad", [-1, 11, "x", "7.5", None])
def test_scores_outside_0_to_10_are_refused(bad: object) -> None:
    with pytest.raises(nps.NpsInputError, match="0 to 10"):
        nps.check_score(bad)


def test_comments_are_kept_unedited_and_limited_to_slacks_length() -> None:
    harsh = "  This department is <b>awful</b> & slow!!  "
    assert nps.check_comment(harsh) == harsh
    assert nps.check_comment("   ") is None
    with pytest.raises(nps.NpsInputError, match="3000"):
        nps.check_comment("x" * 3001)


def test_categories_and_quarters() -> None:
    assert [nps.category(s).value[:3] for s in range(11)] == ["det"] * 7 + ["pas"] * 2 + ["pro"] * 2
    assert nps.quarter_of(NOW.date()) == "2026-Q4"
    assert nps.quarter_bounds("2026-Q4") == (
        datetime(2026, 10, 1).date(),
        datetime(2027, 1, 1).date(),
    )


def test_release_only_cells_at_or_above_the_threshold() -> None:
    decisions = nps.release_cells({"A": 5, "B": 4, "C": 0}, threshold=5)
    assert [(d.department, d.release) for d in decisions] == [("A", True), ("B", False)]


def _cell(name: str, dept: str, p: int, a: int, d: int) -> nps.ReleasedCell:
    return nps.ReleasedCell(
        name, dept, "2026-Q4", name, p, a, d, asked=p + a + d, answered=p + a + d
    )


def test_differencing_any_two_shown_aggregates_never_isolates_a_small_group() -> None:
    """Every filter combination (department subset x period subset) is a union of released
    cells; the difference between any two nested results is itself a union of released cells,
    so its size is 0 or at least the threshold."""
    k = 5
    cells = [
        _cell("r1", "A", 3, 1, 1),
        _cell("r2", "A", 2, 2, 2),
        _cell("r1", "B", 1, 1, 3),
        _cell("pool", "B", 4, 1, 0),
    ]
    queries = []
    for depts in [{"A"}, {"B"}, {"A", "B"}]:
        for periods in [{"r1"}, {"r2"}, {"pool"}, {"r1", "r2"}, {"r1", "r2", "pool"}]:
            chosen = [c for c in cells if c.department in depts and c.cell in periods]
            result = nps.aggregate(chosen, k)
            queries.append((frozenset((c.department, c.cell) for c in chosen), result))
    for (a_cells, a), (b_cells, b) in itertools.permutations(queries, 2):
        if b_cells <= a_cells and a is not None:
            diff = a.n - (b.n if b is not None else 0)
            assert diff == 0 or diff >= k
    with pytest.raises(ValueError, match="below the threshold"):
        nps.aggregate([_cell("r9", "A", 1, 0, 0)], k)
