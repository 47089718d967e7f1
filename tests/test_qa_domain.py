"""Pure QA domain: cycles, strata, seeded sampling, the stratified estimator, assignment."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, date, datetime

import pytest

from deskbot.domain.qa import (
    AssignmentError,
    Candidate,
    CycleError,
    ScoredUnit,
    StrataRules,
    TaskToAssign,
    allocate,
    assign_reviewers,
    cycle_containing,
    last_complete_cycle,
    parse_cycle,
    sample_agent,
    sample_key,
    stratified_estimate,
    stratum_of,
    t_quantile_975,
)

RULES = StrataRules(long_resolution_hours=72, many_replies=6)
QUOTAS = {"bad_csat": 4, "reopened": 4, "long_resolution": 3, "many_replies": 3}


def test_weekly_cycle_is_a_local_iso_week() -> None:
    c = parse_cycle("2026-W49", "Europe/Berlin")
    assert (c.start_day, c.end_day) == (date(2026, 11, 30), date(2026, 12, 7))
    assert c.start == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert c.next().key == "2026-W50" and c.previous().key == "2026-W48"
    assert c.next().index == c.index + 1


def test_monthly_cycle_and_dst() -> None:
    c = parse_cycle("2026-03", "Europe/Berlin")
    assert c.start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert c.end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # summer time from 29 March
    assert c.next().key == "2026-04" and c.previous().key == "2026-02"
    assert parse_cycle("2026-12", "UTC").next().key == "2027-01"


def test_last_complete_cycle_is_the_one_before_now_in_local_time() -> None:
    # Monday 00:30 in Berlin is still Sunday in UTC: the week that just ended is W49
    now = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert last_complete_cycle("weekly", now, "Europe/Berlin").key == "2026-W49"
    assert last_complete_cycle("weekly", now, "UTC").key == "2026-W48"
    assert last_complete_cycle("monthly", now, "UTC").key == "2026-11"


@pytest.mark.parametrize("bad", ["2026-W54", "2026-13", "last week", "26-W01"])
def test_bad_cycle_keys_are_refused(bad: str) -> None:
    with pytest.raises(CycleError):
        parse_cycle(bad, "UTC")


def test_strata_priority_is_fixed() -> None:
    everything = Candidate(1, bad_csat=True, reopens=2, full_resolution_minutes=10**6, replies=50)
    assert stratum_of(everything, RULES) == "bad_csat"
    assert stratum_of(Candidate(2, reopens=1, replies=50), RULES) == "reopened"
    assert stratum_of(Candidate(3, full_resolution_minutes=72 * 60 + 1, replies=9), RULES) == (
        "long_resolution"
    )
    assert stratum_of(Candidate(4, full_resolution_minutes=72 * 60, replies=6), RULES) == (
        "many_replies"
    )
    assert stratum_of(Candidate(5, replies=5), RULES) == "rest"


def test_allocation_fills_quotas_then_rest_then_shortfall() -> None:
    sizes = {"bad_csat": 1, "reopened": 10, "long_resolution": 0, "many_replies": 5, "rest": 2}
    n = allocate(sizes, QUOTAS, 12)
    # quotas (bad CSAT short by 3), the 2 rest tickets, then the shortfall from reopened
    assert n == {"bad_csat": 1, "reopened": 6, "long_resolution": 0, "many_replies": 3, "rest": 2}
    n = allocate(sizes, QUOTAS, 8)
    # one place is kept for the rest stratum, so the quotas of the last strata give way
    assert n == {"bad_csat": 1, "reopened": 4, "long_resolution": 0, "many_replies": 2, "rest": 1}
    assert allocate({**sizes, "rest": 0}, QUOTAS, 8)["many_replies"] == 3
    assert sum(allocate(sizes, QUOTAS, 100).values()) == 18  # everyone when the sample is large


def _population(seed: int = 1, size: int = 200) -> list[Candidate]:
    rng = random.Random(seed)
    return [
        Candidate(
            1000 + i,
            bad_csat=rng.random() < 0.08,
            reopens=int(rng.random() < 0.1),
            full_resolution_minutes=rng.expovariate(1 / 2000),
            replies=rng.randint(1, 9),
        )
        for i in range(size)
    ]


def _sample(pop: list[Candidate], seed: int = 3, cycle: str = "2026-W49") -> list:  # type: ignore[type-arg]
    return sample_agent(
        pop, agent_id=7, cycle=cycle, seed=seed, samples_per_agent=12, quotas=QUOTAS, rules=RULES
    )


def test_sampling_is_reproducible_and_independent_of_row_order() -> None:
    pop = _population()
    shuffled = list(pop)
    random.Random(9).shuffle(shuffled)
    first = _sample(pop)
    assert first == _sample(shuffled)
    assert len(first) == 12
    assert first != _sample(pop, seed=4)
    assert first != _sample(pop, cycle="2026-W50")


def test_sample_records_strata_sizes_and_uses_the_smallest_hash_keys() -> None:
    pop = _population()
    sample = _sample(pop)
    by_stratum: dict[str, list[int]] = {}
    for c in pop:
        by_stratum.setdefault(stratum_of(c, RULES), []).append(c.ticket_id)
    for s in sample:
        ids = by_stratum[s.stratum]
        assert s.stratum_size == len(ids)
        assert s.population == len(pop)
        chosen = sorted(ids, key=lambda t: sample_key(3, "2026-W49", 7, t))[: s.stratum_sample]
        assert s.ticket_id in chosen
    got = {h: sum(1 for s in sample if s.stratum == h) for h in by_stratum}
    assert got["bad_csat"] == min(4, len(by_stratum["bad_csat"]))
    assert got["reopened"] == min(4, len(by_stratum["reopened"]))
    assert all(s.stratum_sample == got[s.stratum] for s in sample)


def test_estimate_is_the_weighted_mean_with_fpc_variance() -> None:
    units = [
        ScoredUnit("bad_csat", 10, 2, 20.0),
        ScoredUnit("bad_csat", 10, 2, 40.0),
        ScoredUnit("rest", 90, 3, 80.0),
        ScoredUnit("rest", 90, 3, 90.0),
        ScoredUnit("rest", 90, 3, 100.0),
    ]
    e = stratified_estimate(units)
    assert e.estimate == pytest.approx(0.1 * 30 + 0.9 * 90)
    assert e.unweighted_mean == pytest.approx(66.0)
    var = 0.01 * (1 - 2 / 10) * 200 / 2 + 0.81 * (1 - 3 / 90) * 100 / 3
    assert e.std_error == pytest.approx(var**0.5)
    # Satterthwaite: V² / Σ v_h² / (k_h - 1), rounded down; the interval uses that t quantile
    v1, v2 = 0.01 * (1 - 2 / 10) * 200 / 2, 0.81 * (1 - 3 / 90) * 100 / 3
    df = int((v1 + v2) ** 2 / (v1**2 / 1 + v2**2 / 2))
    assert e.df == df
    assert e.ci_low == pytest.approx(e.estimate - t_quantile_975(df) * var**0.5)
    assert e.n == 5 and e.coverage == 1.0


def test_single_review_stratum_borrows_the_pooled_variance() -> None:
    units = [
        ScoredUnit("bad_csat", 5, 1, 25.0),
        ScoredUnit("rest", 50, 3, 50.0),
        ScoredUnit("rest", 50, 3, 75.0),
        ScoredUnit("rest", 50, 3, 100.0),
    ]
    e = stratified_estimate(units)
    s2 = statistics.variance([50.0, 75.0, 100.0])
    w1, w2 = 5 / 55, 50 / 55
    var = w1**2 * (1 - 1 / 5) * s2 / 1 + w2**2 * (1 - 3 / 50) * s2 / 3
    assert e.std_error == pytest.approx(var**0.5)
    # one review in all: a point estimate, no interval
    one = stratified_estimate([ScoredUnit("rest", 9, 1, 50.0)])
    assert one.estimate == 50.0 and one.ci_low is None
    # a census (n_h = N_h) has no sampling error
    census = stratified_estimate([ScoredUnit("rest", 2, 2, 50.0), ScoredUnit("rest", 2, 2, 100.0)])
    assert census.std_error == 0.0 and census.ci_low == census.ci_high == 75.0


def test_unscored_strata_are_left_out_and_reported_as_coverage() -> None:
    e = stratified_estimate(
        [
            ScoredUnit("bad_csat", 20, 1, None),
            ScoredUnit("rest", 80, 2, 50.0),
            ScoredUnit("rest", 80, 2, 100.0),
        ]
    )
    assert e.estimate == 75.0 and e.coverage == 0.8 and e.sampled == 3
    assert stratified_estimate([ScoredUnit("rest", 3, 1, None)]).estimate is None


def test_t_quantile() -> None:
    assert t_quantile_975(1) == pytest.approx(12.706, abs=0.001)
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=0.0002)
    assert t_quantile_975(30) == pytest.approx(2.042, abs=0.002)
    assert t_quantile_975(10_000) == pytest.approx(1.96, abs=0.001)


def test_simulation_weighted_is_unbiased_unweighted_is_not_ci_covers() -> None:
    """Lower true scores in risky strata, oversampled by quotas; 2,000 seeded draws."""
    rng = random.Random(7)
    spec = [
        ("bad_csat", 30, [0, 25, 50, 75], [3, 3, 3, 1]),
        ("reopened", 30, [25, 50, 75, 100], [2, 3, 3, 2]),
        ("long_resolution", 25, [25, 50, 75, 100], [1, 2, 4, 3]),
        ("many_replies", 25, [50, 75, 100], [2, 4, 4]),
        ("rest", 190, [50, 75, 100], [1, 3, 6]),
    ]
    pop: list[Candidate] = []
    true: dict[int, float] = {}
    for h, size, values, weights in spec:
        for _ in range(size):
            tid = len(pop) + 1
            pop.append(
                Candidate(
                    tid,
                    bad_csat=h == "bad_csat",
                    reopens=int(h == "reopened"),
                    full_resolution_minutes=6000 if h == "long_resolution" else 60,
                    replies=8 if h == "many_replies" else 2,
                )
            )
            true[tid] = float(rng.choices(values, weights)[0])
    truth = sum(true.values()) / len(true)
    weighted, unweighted, covered = [], [], 0
    for seed in range(2000):
        sample = sample_agent(
            pop, agent_id=1, cycle="2026-W01", seed=seed, samples_per_agent=24,
            quotas=QUOTAS, rules=RULES,
        )  # fmt: skip
        e = stratified_estimate(
            ScoredUnit(s.stratum, s.stratum_size, s.stratum_sample, true[s.ticket_id])
            for s in sample
        )
        assert e.estimate is not None and e.unweighted_mean is not None
        assert e.ci_low is not None and e.ci_high is not None
        weighted.append(e.estimate)
        unweighted.append(e.unweighted_mean)
        covered += e.ci_low <= truth <= e.ci_high
    assert abs(statistics.fmean(weighted) - truth) < 0.5
    assert truth - statistics.fmean(unweighted) > 4  # visibly biased downwards
    assert 0.93 <= covered / 2000 <= 0.97


def _tasks(counts: dict[str, int]) -> list[TaskToAssign]:
    out: list[TaskToAssign] = []
    for agent, k in sorted(counts.items()):
        for _ in range(k):
            out.append(TaskToAssign(len(out) + 1, agent))
    return out


def test_assignment_is_balanced_and_never_self_review() -> None:
    tasks = _tasks({"UA": 7, "UB": 5, "UC": 5, "UX": 3})
    reviewers = ["UA", "UB", "UC"]
    got = assign_reviewers(tasks, reviewers, cycle_index=3)
    assert set(got) == {t.key for t in tasks}
    agent = {t.key: t.agent for t in tasks}
    assert all(agent[k] != r for k, r in got.items())
    loads = [list(got.values()).count(r) for r in reviewers]
    assert max(loads) - min(loads) <= 1


def test_assignment_is_balanced_across_many_random_cases() -> None:
    rng = random.Random(5)
    for case in range(200):
        reviewers = [f"R{i}" for i in range(rng.randint(2, 6))]
        agents = reviewers[: rng.randint(0, len(reviewers))] + [f"A{i}" for i in range(4)]
        tasks = _tasks({a: rng.randint(0, 6) for a in agents})
        got = assign_reviewers(tasks, reviewers, cycle_index=case)
        agent = {t.key: t.agent for t in tasks}
        assert all(agent[k] != r for k, r in got.items())
        loads = [list(got.values()).count(r) for r in reviewers]
        # exact balance is only impossible when one reviewer's own tickets exceed the rest
        if tasks and max(sum(1 for t in tasks if t.agent == r) for r in reviewers) <= len(
            tasks
        ) // len(reviewers):
            assert max(loads) - min(loads) <= 1, (case, loads)


def test_pairings_rotate_across_cycles() -> None:
    tasks = [TaskToAssign(1, "A1"), TaskToAssign(2, "A2"), TaskToAssign(3, "A3")]
    reviewers = ["R1", "R2", "R3"]
    seen: dict[str, set[str]] = {"A1": set(), "A2": set(), "A3": set()}
    previous: dict[str, list[str]] = {}
    for cycle in range(3):
        got = assign_reviewers(tasks, reviewers, cycle_index=cycle, previous=previous)
        previous = {t.agent: [got[t.key]] for t in tasks}
        for t in tasks:
            seen[t.agent].add(got[t.key])
    assert all(len(rs) == 3 for rs in seen.values())  # every agent met every reviewer


def test_reassignment_balances_against_held_loads_and_refuses_self_only() -> None:
    got = assign_reviewers(
        [TaskToAssign(1, "A"), TaskToAssign(2, "A")], ["R1", "R2"], cycle_index=0,
        loads={"R1": 3, "R2": 1},
    )  # fmt: skip
    assert list(got.values()) == ["R2", "R2"]
    with pytest.raises(AssignmentError):
        assign_reviewers([TaskToAssign(1, "R1")], ["R1"], cycle_index=0)
    with pytest.raises(AssignmentError):
        assign_reviewers([TaskToAssign(1, "A")], [], cycle_index=0)


def test_cycle_containing_month_end() -> None:
    assert cycle_containing("monthly", date(2024, 2, 29), "UTC").end_day == date(2024, 3, 1)
