"""The report's arithmetic: cycles and agents combine as strata; trend; reviewers; scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deskbot.domain.qa import ScoredUnit, stratified_estimate
from deskbot.services.qa_report import build_report, render_text
from deskbot.services.qa_types import (
    CycleRecord,
    DisputeRecord,
    ReviewRecord,
    SampleRecord,
    TaskView,
)

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def cycle(key: str, week: int) -> CycleRecord:
    start = T0 + timedelta(days=7 * week)
    return CycleRecord(
        key,
        "weekly",
        start,
        start + timedelta(days=7),
        start + timedelta(days=10),
        start + timedelta(days=21),
        0,
        start,
    )


def task(
    i: int,
    key: str,
    agent: int,
    stratum: str,
    size: int,
    n: int,
    level: int | None,
    *,
    reviewer: str = "R1",
    late: bool = False,
    dispute: str | None = None,
) -> TaskView:
    due = T0 + timedelta(days=30)
    review = None
    if level is not None:
        review = ReviewRecord(
            i,
            reviewer,
            1,
            dict.fromkeys(
                ("comprehension", "accuracy", "judgment", "communication", "process_integrity"),
                level,
            ),
            level * 25.0,
            level == 4,
            None,
            T0,
        )
    return TaskView(
        SampleRecord(i, key, agent, 1000 + i, stratum, size, n, 0),
        reviewer,
        f"U{agent}",
        "done" if review else "open",
        T0,
        due,
        due + timedelta(days=1) if late else T0 + timedelta(days=1),
        None,
        "s",
        None,
        2,
        0,
        review,
        DisputeRecord(i, f"U{agent}", "why", dispute, T0, None, None, None) if dispute else None,
    )


def test_cycles_and_agents_combine_as_strata() -> None:
    c1, c2 = cycle("2026-W45", 0), cycle("2026-W46", 1)
    tasks = [
        task(1, c1.key, 7, "bad_csat", 4, 2, 1),
        task(2, c1.key, 7, "bad_csat", 4, 2, 2),
        task(3, c1.key, 7, "rest", 36, 2, 4, reviewer="R2"),
        task(4, c1.key, 7, "rest", 36, 2, 3, reviewer="R2", late=True),
        task(5, c2.key, 7, "rest", 10, 2, 4, dispute="upheld"),
        task(6, c2.key, 7, "rest", 10, 2, None),
        task(7, c2.key, 8, "rest", 20, 1, 2),
    ]
    report = build_report(
        [c1, c2], tasks, names={7: "Ada", 8: "Bob"}, slack_ids={}, reviewer_names={"R1": "Rita"}
    )
    ada = next(a for a in report.agents if a.agent_id == 7)
    expected = stratified_estimate(
        ScoredUnit(
            f"{t.cycle_key}:{t.sample.stratum}",
            t.sample.stratum_size,
            t.sample.stratum_sample,
            t.review.score if t.review else None,
        )
        for t in tasks[:6]
    )
    assert ada.estimate == expected
    # W45: 0.1 * 37.5 + 0.9 * 87.5; W46: 100; pooled by population 40 : 10
    assert ada.trend == [("2026-W45", pytest.approx(82.5)), ("2026-W46", pytest.approx(100.0))]
    assert ada.estimate.estimate == pytest.approx((40 * 82.5 + 10 * 100.0) / 50)
    assert ada.hero == 2 and ada.disputes["upheld"] == 1
    assert report.team.n == 6 and report.done == 6 and report.tasks == 7
    r2 = next(r for r in report.reviewers if r.reviewer == "R2")
    assert (r2.tasks, r2.done, r2.on_time) == (2, 2, 1)
    assert r2.mean_given == pytest.approx(87.5)
    scoped = build_report(
        [c1, c2], tasks, names={}, slack_ids={}, reviewer_names={}, scope_agents={8}
    )
    assert [a.agent_id for a in scoped.agents] == [8] and scoped.hidden_agents == 1
    text = render_text(report)
    assert "Ada: 86.0" in text and "trend: 2026-W45 82 → 2026-W46 100" in text
    assert report.to_json()["agents"][0]["trend"][0] == {"cycle": "2026-W45", "score": 82.5}
