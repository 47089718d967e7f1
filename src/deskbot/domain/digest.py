"""The digest view model: what a KPI digest says, independent of how Slack draws it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from deskbot.domain.metrics import FLAG_LABELS, SeriesPoint
from deskbot.domain.report import KpiReport, format_change, format_value, trend

# The headline numbers a digest shows, in order (the report has a few more).
DIGEST_HEADLINES = (
    "tickets_created",
    "tickets_solved",
    "backlog",
    "csat",
    "csat_response_rate",
    "frt_median_minutes",
    "frt_p90_minutes",
    "resolution_median_minutes",
    "one_touch_rate",
    "reopen_rate",
)

Trend = Literal["better", "worse", "same", "neutral"]


@dataclass(frozen=True)
class HeadlineLine:
    label: str
    value: str
    change: str  # "" when there is nothing to compare with
    direction: Literal["up", "down", "flat"] | None
    trend: Trend


@dataclass(frozen=True)
class WorkloadLine:
    agent: str
    flags: tuple[str, ...]  # human labels
    summary: str  # "42 solved, 63 replies/day, CSAT 91.0%"


@dataclass(frozen=True)
class TagLine:
    tag: str
    agent: str
    count: int
    previous: int


@dataclass(frozen=True)
class ChartData:
    unit: Literal["day", "week"]
    series: tuple[SeriesPoint, ...]
    frt_minutes: tuple[int, ...]  # sorted first reply times of the window's solved tickets


@dataclass(frozen=True)
class Digest:
    name: str
    title: str
    period_label: str
    previous_label: str
    scope_label: str
    sections: tuple[str, ...]
    headline: tuple[HeadlineLine, ...] = ()
    workload: tuple[WorkloadLine, ...] = ()
    customers_open: tuple[str, ...] = ()
    customers_bad: tuple[str, ...] = ()
    team_tags: tuple[TagLine, ...] = ()
    chart: ChartData | None = field(default=None)

    def has(self, section: str) -> bool:
        return section in self.sections


def build_digest(
    report: KpiReport,
    *,
    name: str,
    sections: Sequence[str],
    chart: ChartData | None = None,
    max_agents: int = 15,
    csat_unavailable: str | None = None,
) -> Digest:
    """Turn a report into the lines a digest shows (agents without a flag are left out).

    ``csat_unavailable`` (why no CSAT source can be read) replaces the CSAT numbers with
    "CSAT not available (why)" instead of a misleading 0% or "n/a"."""
    by_key = dict((h.key, (h, d)) for h, d in report.headlines())
    headline = tuple(
        HeadlineLine(
            label=h.label,
            value=format_value(h.unit, d.current),
            change=format_change(h, d),
            direction=d.direction,
            trend=trend(h, d),
        )
        for h, d in (by_key[k] for k in DIGEST_HEADLINES)
    )
    if csat_unavailable:
        missing = f"CSAT not available ({csat_unavailable})"
        headline = tuple(
            HeadlineLine(line.label, missing, "", None, "neutral")
            if key in ("csat", "csat_response_rate")
            else line
            for key, line in zip(DIGEST_HEADLINES, headline, strict=True)
        )
    workload = tuple(
        WorkloadLine(
            agent=row.stats.name or f"agent {row.stats.agent_id}",
            flags=tuple(FLAG_LABELS[f] for f in row.flags),
            summary=(
                f"{row.stats.solved:,} solved, {row.replies_per_day:.1f} replies/day, "
                f"CSAT {format_value('ratio', row.stats.csat)}"
            ),
        )
        for row in report.agents
        if row.flags
    )[:max_agents]
    customers_open = tuple(
        f"{c.name or f'{c.kind} {c.id}'}: {c.open_tickets} open" for c in report.customers.most_open
    )
    customers_bad = tuple(
        f"{c.name or f'{c.kind} {c.id}'}: {c.bad_ratings} bad rating"
        + ("s" if c.bad_ratings != 1 else "")
        for c in report.customers.bad_ratings
    )
    tags = tuple(
        TagLine(
            t.tag,
            t.agent_name or ("unassigned" if t.agent_id is None else str(t.agent_id)),
            t.count,
            t.previous,
        )
        for t in report.team_tags
    )
    window = report.window
    kind = "Daily" if window.days == 1 else ("Weekly" if window.days == 7 else f"{window.days}-day")
    return Digest(
        name=name,
        title=f"{kind} support digest: {window.label}",
        period_label=window.label,
        previous_label=report.previous_window.label,
        scope_label=report.scope.label,
        sections=tuple(sections),
        headline=headline,
        workload=workload,
        customers_open=customers_open,
        customers_bad=customers_bad,
        team_tags=tags,
        chart=chart,
    )
