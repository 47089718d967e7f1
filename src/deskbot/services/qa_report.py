"""The QA report: per agent and team — the stratified score with its 95% interval, n, the
unweighted mean beside it, per-competency scores, the trend over cycles, hero bonuses and
disputes; per reviewer — tasks, done, on time, mean given vs. the team.

Several cycles combine as one stratified sample whose strata are (cycle, stratum): each cycle's
population weighs by its size. The team combines every agent the same way (strata are
(agent, cycle, stratum)), so the team score is the mean QA score over all sampled tickets'
populations. Per-competency scores use the same estimator on that competency's 0-100 value
(reviews where it is N/A leave it out).

Who sees what: ``scope_agents`` limits the per-agent rows (the agent sees their own; a lead
their agents; QA owners and admins everyone); team and reviewer rows are team-level.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from deskbot.domain.qa import Estimate, ScoredUnit, stratified_estimate
from deskbot.domain.scorecard import COMPETENCY_KEYS, normalise
from deskbot.services.qa_types import CycleRecord, TaskView


@dataclass
class AgentRow:
    agent_id: int
    name: str
    slack_id: str | None
    estimate: Estimate
    competencies: dict[str, float | None]
    trend: list[tuple[str, float | None]]
    hero: int
    disputes: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "name": self.name,
            **self.estimate.to_json(),
            "competencies": {k: _r(v) for k, v in self.competencies.items()},
            "trend": [{"cycle": c, "score": _r(v)} for c, v in self.trend],
            "hero_bonuses": self.hero,
            "disputes": self.disputes,
        }


@dataclass
class ReviewerRow:
    reviewer: str
    name: str
    tasks: int
    done: int
    on_time: int
    mean_given: float | None
    vs_team: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "name": self.name,
            "tasks": self.tasks,
            "done": self.done,
            "on_time": self.on_time,
            "mean_given": _r(self.mean_given),
            "vs_team": _r(self.vs_team),
        }


@dataclass
class QaReport:
    cycles: list[str]
    team: Estimate
    team_competencies: dict[str, float | None]
    agents: list[AgentRow]
    reviewers: list[ReviewerRow]
    disputes: dict[str, int]
    hero: int
    tasks: int
    done: int
    hidden_agents: int = 0  # agents outside the viewer's scope (not listed)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "team": {
                **self.team.to_json(),
                "competencies": {k: _r(v) for k, v in self.team_competencies.items()},
                "tasks": self.tasks,
                "done": self.done,
                "hero_bonuses": self.hero,
                "disputes": self.disputes,
            },
            "agents": [a.to_json() for a in self.agents],
            "reviewers": [r.to_json() for r in self.reviewers],
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _units(tasks: Sequence[TaskView], prefix: str, competency: str | None) -> list[ScoredUnit]:
    out = []
    for t in tasks:
        s = t.sample
        score: float | None = None
        if t.review is not None:
            if competency is None:
                score = t.review.score
            else:
                v = t.review.scores.get(competency)
                score = None if v is None else normalise(v)
        out.append(
            ScoredUnit(
                f"{prefix}{s.cycle_key}:{s.stratum}", s.stratum_size, s.stratum_sample, score
            )
        )
    return out


def _team_units(tasks: Sequence[TaskView], competency: str | None) -> list[ScoredUnit]:
    out: list[ScoredUnit] = []
    by_agent: dict[int, list[TaskView]] = {}
    for t in tasks:
        by_agent.setdefault(t.sample.agent_id, []).append(t)
    for agent, ts in by_agent.items():
        out += _units(ts, f"{agent}:", competency)
    return out


def _disputes(tasks: Sequence[TaskView]) -> dict[str, int]:
    out = {"opened": 0, "open": 0, "upheld": 0, "changed": 0}
    for t in tasks:
        if t.dispute is not None:
            out["opened"] += 1
            out[t.dispute.state] = out.get(t.dispute.state, 0) + 1
    return out


def build_report(
    cycles: Sequence[CycleRecord],
    tasks: Sequence[TaskView],
    *,
    names: dict[int, str],
    slack_ids: dict[int, str | None],
    reviewer_names: dict[str, str],
    scope_agents: Collection[int] | None = None,
    agent: int | None = None,
) -> QaReport:
    """``tasks`` of ``cycles`` (oldest first); ``scope_agents`` None: every agent."""
    keys = [c.key for c in cycles]
    team = stratified_estimate(_team_units(tasks, None))
    team_comp = {k: stratified_estimate(_team_units(tasks, k)).estimate for k in COMPETENCY_KEYS}
    by_agent: dict[int, list[TaskView]] = {}
    for t in tasks:
        by_agent.setdefault(t.sample.agent_id, []).append(t)
    rows: list[AgentRow] = []
    hidden = 0
    for agent_id in sorted(by_agent, key=lambda a: (names.get(a, ""), a)):
        if agent is not None and agent_id != agent:
            continue
        if scope_agents is not None and agent_id not in scope_agents:
            hidden += 1
            continue
        ts = by_agent[agent_id]
        overall = stratified_estimate(_units(ts, "", None))
        trend = [(keys[0], overall.estimate)] if len(keys) == 1 else []
        for key in keys if len(keys) > 1 else ():
            in_cycle = [t for t in ts if t.cycle_key == key]
            trend.append((key, stratified_estimate(_units(in_cycle, "", None)).estimate))
        rows.append(
            AgentRow(
                agent_id=agent_id,
                name=names.get(agent_id, f"agent {agent_id}"),
                slack_id=slack_ids.get(agent_id),
                estimate=overall,
                competencies={
                    k: stratified_estimate(_units(ts, "", k)).estimate for k in COMPETENCY_KEYS
                },
                trend=trend,
                hero=sum(1 for t in ts if t.review is not None and t.review.hero),
                disputes=_disputes(ts),
            )
        )
    team_mean = team.unweighted_mean
    by_reviewer: dict[str, list[TaskView]] = {}
    for t in tasks:
        by_reviewer.setdefault(t.reviewer, []).append(t)
    reviewers = []
    for reviewer, ts in sorted(by_reviewer.items()):
        given = [t.review.score for t in ts if t.review is not None and t.review.score is not None]
        mean = sum(given) / len(given) if given else None
        reviewers.append(
            ReviewerRow(
                reviewer=reviewer,
                name=reviewer_names.get(reviewer, reviewer),
                tasks=len(ts),
                done=sum(1 for t in ts if t.review is not None),
                on_time=sum(
                    1
                    for t in ts
                    if t.review is not None and t.done_at is not None and t.done_at <= t.due_at
                ),
                mean_given=mean,
                vs_team=None if mean is None or team_mean is None else mean - team_mean,
            )
        )
    return QaReport(
        cycles=keys,
        team=team,
        team_competencies=team_comp,
        agents=rows,
        reviewers=reviewers,
        disputes=_disputes(tasks),
        hero=sum(1 for t in tasks if t.review is not None and t.review.hero),
        tasks=len(tasks),
        done=sum(1 for t in tasks if t.review is not None),
        hidden_agents=hidden,
    )


def _ci(est: Estimate) -> str:
    if est.ci_low is None or est.ci_high is None:
        return "no CI"
    return f"95% CI {est.ci_low:.1f}-{est.ci_high:.1f}"


def _score(est: Estimate) -> str:
    if est.estimate is None:
        return "no score"
    unweighted = "" if est.unweighted_mean is None else f", unweighted {est.unweighted_mean:.1f}"
    return f"{est.estimate:.1f} ({_ci(est)}, n={est.n}{unweighted})"


def render_text(report: QaReport) -> str:
    """The report as plain text (``deskbot qa report``, ``/deskbot qa report``)."""
    from deskbot.domain.scorecard import COMPETENCIES

    short = {c.key: c.label.split(" /")[0] for c in COMPETENCIES}
    lines = [f"QA report: {', '.join(report.cycles) or 'no cycles drawn'}"]
    d = report.disputes
    lines.append(
        f"Team: {_score(report.team)}; reviews {report.done}/{report.tasks}, hero bonuses "
        f"{report.hero}, disputes {d['opened']} (upheld {d['upheld']}, changed "
        f"{d['changed']}, open {d['open']})"
    )
    comp = ", ".join(
        f"{short[k]} {'-' if v is None else f'{v:.0f}'}"
        for k, v in report.team_competencies.items()
    )
    lines.append(f"  competencies: {comp}")
    if report.agents:
        lines.append("Agents:")
    for a in report.agents:
        lines.append(f"  {a.name}: {_score(a.estimate)}")
        comp = ", ".join(
            f"{short[k]} {'-' if v is None else f'{v:.0f}'}" for k, v in a.competencies.items()
        )
        lines.append(f"    competencies: {comp}")
        if len(a.trend) > 1:
            trend = " → ".join(f"{c} {'-' if v is None else f'{v:.0f}'}" for c, v in a.trend)
            lines.append(f"    trend: {trend}")
        lines.append(
            f"    hero bonuses {a.hero}, disputes {a.disputes['opened']} "
            f"(upheld {a.disputes['upheld']}, changed {a.disputes['changed']})"
        )
    if report.hidden_agents:
        lines.append(f"  ({report.hidden_agents} other agents are not shown to you)")
    if report.reviewers:
        lines.append("Reviewers:")
    for r in report.reviewers:
        mean = "-" if r.mean_given is None else f"{r.mean_given:.1f}"
        vs = "" if r.vs_team is None else f" ({r.vs_team:+.1f} vs team)"
        lines.append(
            f"  {r.name}: {r.done}/{r.tasks} done, {r.on_time} on time, mean given {mean}{vs}"
        )
    return "\n".join(lines)
