"""Build the KPI report for a window: the numbers ``deskbot report``, the digests and the
slash command all show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from deskbot.domain.metrics import (
    Scope,
    Window,
    WorkloadRules,
    tag_trends,
    workload_flags,
)
from deskbot.domain.report import AgentRow, KpiReport
from deskbot.log import get_logger
from deskbot.ports import KpiSource

log = get_logger(__name__)


def build_report(
    source: KpiSource,
    window: Window,
    now: datetime,
    *,
    scope: Scope | None = None,
    workload: WorkloadRules,
    team_tags: Sequence[str] = (),
    top_customers: int = 5,
) -> KpiReport:
    """Compute the report for ``window`` and its previous equal window."""
    scope = scope or Scope()
    previous = window.previous()
    current_stats = source.window_stats(window, scope, now)
    previous_stats = source.window_stats(previous, scope, now)
    agents = source.agent_stats(window, scope)
    rows = tuple(AgentRow(a, workload_flags(a, window.days, workload), window.days) for a in agents)
    tags_now = source.team_tag_counts(window, scope, team_tags)
    tags_before = source.team_tag_counts(previous, scope, team_tags)
    names = {a.agent_id: a.name for a in agents}
    missing = {k[0] for k in (*tags_now, *tags_before) if k[0] is not None and k[0] not in names}
    if missing:
        names.update(source.user_names(missing))
    report = KpiReport(
        window=window,
        previous_window=previous,
        scope=scope,
        generated_at=now,
        current=current_stats,
        previous=previous_stats,
        agents=rows,
        customers=source.customers_in_need(window, scope, top_customers),
        team_tags=tuple(tag_trends(tags_now, tags_before, names)),
    )
    log.info(
        "report.built",
        window=window.label,
        scope=scope.label,
        created=current_stats.created,
        solved=current_stats.solved,
        agents=len(rows),
    )
    return report
