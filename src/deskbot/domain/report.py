"""The KPI report: one window's numbers, the previous window's, and the breakdowns — the
single view the CLI, the digests and the slash command render. ``report_to_json`` is the
stable JSON documented in ``docs/report-json.md``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from deskbot.domain.metrics import (
    HEADLINES,
    AgentStats,
    CustomersInNeed,
    Delta,
    Headline,
    Scope,
    TagTrend,
    Window,
    WindowStats,
    headline_value,
)

SCHEMA = "deskbot.report/1"


@dataclass(frozen=True)
class AgentRow:
    stats: AgentStats
    flags: tuple[str, ...]
    days: int

    @property
    def replies_per_day(self) -> float:
        return self.stats.replies / self.days


@dataclass(frozen=True)
class KpiReport:
    window: Window
    previous_window: Window
    scope: Scope
    generated_at: datetime
    current: WindowStats
    previous: WindowStats
    agents: tuple[AgentRow, ...]
    customers: CustomersInNeed
    team_tags: tuple[TagTrend, ...]

    def delta(self, key: str) -> Delta:
        return Delta(headline_value(self.current, key), headline_value(self.previous, key))

    def headlines(self) -> list[tuple[Headline, Delta]]:
        return [(h, self.delta(h.key)) for h in HEADLINES]

    def channels(self) -> list[tuple[str, int, int]]:
        """(channel, tickets, previous tickets), biggest first."""
        names = set(self.current.channels) | set(self.previous.channels)
        rows = [
            (n, self.current.channels.get(n, 0), self.previous.channels.get(n, 0)) for n in names
        ]
        rows.sort(key=lambda r: (-r[1], -r[2], r[0]))
        return rows


def _num(value: float | None, digits: int = 4) -> float | int | None:
    if value is None:
        return None
    if float(value).is_integer():
        return int(value)
    return round(value, digits)


def _window(window: Window) -> dict[str, Any]:
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "first_day": window.start_day.isoformat(),
        "last_day": window.last_day.isoformat(),
        "days": window.days,
    }


def report_to_json(report: KpiReport) -> dict[str, Any]:
    """A plain dict with stable keys (``docs/report-json.md``). Ratios are 0..1, durations are
    minutes, "no data" is ``null``."""
    scope = report.scope
    return {
        "schema": SCHEMA,
        "generated_at": report.generated_at.isoformat(),
        "timezone": report.window.tz,
        "window": _window(report.window),
        "previous_window": _window(report.previous_window),
        "filters": {
            "group": None
            if scope.group_id is None
            else {"id": scope.group_id, "name": scope.group_name},
            "agent": None
            if scope.agent_id is None
            else {"id": scope.agent_id, "name": scope.agent_name},
        },
        "backlog_method": report.current.backlog_method,
        "metrics": {
            h.key: {
                "value": _num(d.current),
                "previous": _num(d.previous),
                "change": _num(d.change),
                "change_pct": _num(d.change_pct, 1),
            }
            for h, d in report.headlines()
        },
        "volume_by_channel": [
            {"channel": name, "tickets": now, "previous": before}
            for name, now, before in report.channels()
        ],
        "agents": [
            {
                "id": row.stats.agent_id,
                "name": row.stats.name,
                "solved": row.stats.solved,
                "public_replies": row.stats.replies,
                "replies_per_day": _num(row.replies_per_day, 2),
                "customers": row.stats.customers,
                "csat": _num(row.stats.csat),
                "csat_good": row.stats.good,
                "csat_bad": row.stats.bad,
                "frt_median_minutes": _num(row.stats.frt_median),
                "flags": list(row.flags),
            }
            for row in report.agents
        ],
        "customers_in_need": {
            "most_open": [
                {"type": c.kind, "id": c.id, "name": c.name, "open_tickets": c.open_tickets}
                for c in report.customers.most_open
            ],
            "bad_ratings": [
                {"type": c.kind, "id": c.id, "name": c.name, "bad_ratings": c.bad_ratings}
                for c in report.customers.bad_ratings
            ],
        },
        "team_tags": [
            {
                "agent_id": t.agent_id,
                "agent_name": t.agent_name,
                "tag": t.tag,
                "count": t.count,
                "previous": t.previous,
                "change": t.count - t.previous,
            }
            for t in report.team_tags
        ],
    }


# --------------------------------------------------------------------------------------------
# Formatting for people (terminal tables and Slack): one place, so both read the same.
# --------------------------------------------------------------------------------------------


def format_minutes(value: float) -> str:
    if value < 10 and not float(value).is_integer():
        return f"{value:.1f} min"
    if value < 90:
        return f"{value:.0f} min"
    if value < 48 * 60:
        return f"{value / 60:.1f} h"
    return f"{value / 1440:.1f} d"


def format_value(unit: str, value: float | None) -> str:
    """'no data' for None; counts with thousands separators, ratios as %, minutes readable."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{100 * value:.1f}%"
    if unit == "minutes":
        return format_minutes(value)
    return f"{value:,.0f}"


def format_change(headline: Headline, delta: Delta) -> str:
    """'+12 (+8.0%)', '-2.5 pts' for ratios, '' when there is nothing to compare."""
    change = delta.change
    if change is None:
        return ""
    if headline.unit == "ratio":
        return f"{100 * change:+.1f} pts"
    if headline.unit == "minutes":
        sign = "+" if change >= 0 else "-"
        text = f"{sign}{format_minutes(abs(change))}"
    else:
        text = f"{change:+,.0f}"
    if delta.change_pct is not None:
        text += f" ({delta.change_pct:+.0f}%)"
    return text


def trend(headline: Headline, delta: Delta) -> Literal["better", "worse", "same", "neutral"]:
    """Whether the change is good news, from the metric's preferred direction."""
    direction = delta.direction
    if direction is None or headline.better == "neutral":
        return "neutral"
    if direction == "flat":
        return "same"
    return "better" if direction == headline.better else "worse"
