"""The KPI queries the Slack answers need, and nothing more (``services.perf_stats``).

``/deskbot me`` and ``/deskbot stats`` show a few headline numbers for a window and the
previous one, and the workload flags of the window's agents. ``SqlKpiSource.window_stats`` and
``build_report`` compute much more (backlog reconstruction, channels, business-hour and p90
durations, customers in need, team tags). ``SqlHeadlines`` runs the *same* SQL conditions as
``SqlKpiSource`` (it reuses its scope helpers) for the shown figures only, so each figure is
identical to the report's; ``tests/test_perf_stats.py`` compares them.

``data_version()`` changes whenever the sync commits a page: every page updates its stream's
``sync_state`` row in the same transaction (``SqlSyncStore.apply_page``). Answers cached under
one version are therefore never served after the data they summarise changed.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Table, case, func, select
from sqlalchemy.engine import Connection

from deskbot.adapters.db import kpi_rollups
from deskbot.adapters.db.kpi import M, R, SqlKpiSource, T, _bad, _good
from deskbot.adapters.db.tables_copy import SyncState
from deskbot.domain.metrics import AgentStats, Scope, Window, WindowStats, percentile_sorted

S: Table = SyncState.__table__  # type: ignore[attr-defined]


class SqlHeadlines(SqlKpiSource):
    """``services.perf_stats.HeadlineSource`` on SQLite or PostgreSQL."""

    def data_version(self) -> Hashable:
        with self._db.engine.connect() as conn:
            rows = conn.execute(
                select(
                    S.c.stream, S.c.pages_total, S.c.rows_total, S.c.position, S.c.updated_at
                ).order_by(S.c.stream)
            ).all()
        return tuple(tuple(row) for row in rows)

    def headline(
        self, window: Window, scope: Scope, agents: bool = False
    ) -> tuple[WindowStats, list[AgentStats]]:
        """created, solved, good, bad, one_touch, with_replies, FRT and resolution medians —
        the numbers ``window_stats`` gives for these fields (backlog, channels, p90s and
        business-hour figures are left at their defaults) — and, with ``agents``, each
        assignee's solved, replies, customers, FRT median and name as ``agent_stats`` counts
        them (ratings per agent are not counted: no workload flag reads them).

        The window's solved tickets are read once (one row each: a few integer columns) and
        counted here, instead of one scan per aggregate — or, when the per-day rollups are
        built for the window's timezone, summed from them. Agents come in id order."""
        ts = self._ticket_scope(scope)
        with self._db.engine.connect() as conn:
            if self._rollups_for(conn, window):
                return self._rolled_up(conn, window, scope, agents)
            created = conn.execute(
                select(func.count())
                .select_from(T)
                .where(T.c.created_at >= window.start, T.c.created_at < window.end, *ts)
            ).scalar_one()
            columns: list[Any] = [
                M.c.replies,
                M.c.reply_time_calendar,
                M.c.full_resolution_calendar,
            ]
            if agents:
                columns += [T.c.assignee_id, T.c.requester_id]
            solved = with_replies = one_touch = 0
            frt: list[int] = []
            res: list[int] = []
            work: dict[int, _Work] = {}
            for row in conn.execute(
                select(*columns)
                .select_from(M.join(T, T.c.id == M.c.ticket_id))
                .where(*self._solved_in(window), *ts)
            ):
                replies, reply, resolution = row[0], row[1], row[2]
                solved += 1
                if replies is not None:
                    with_replies += 1
                    if replies <= 1:
                        one_touch += 1
                if reply is not None:
                    frt.append(reply)
                if resolution is not None:
                    res.append(resolution)
                if agents and row[3] is not None:
                    agent = work.get(row[3])
                    if agent is None:
                        agent = work[row[3]] = _Work()
                    agent.solved += 1
                    if replies is not None:
                        agent.replies += replies
                    if row[4] is not None:
                        agent.customers.add(row[4])
                    if reply is not None:
                        agent.frt.append(reply)
            frt.sort()
            res.sort()
            ratings = {
                str(row.kind): int(row.n)
                for row in conn.execute(
                    select(
                        case((_good(), "good"), (_bad(), "bad"), else_=R.c.score).label("kind"),
                        func.count().label("n"),
                    )
                    .where(
                        R.c.created_at >= window.start,
                        R.c.created_at < window.end,
                        _good() | _bad(),
                        *self._rating_scope(scope),
                    )
                    .group_by("kind")
                )
            }
            names = self._user_names(conn, (int(a) for a in work)) if work else {}
        stats = WindowStats(
            created=int(created),
            solved=solved,
            good=ratings.get("good", 0),
            bad=ratings.get("bad", 0),
            one_touch=one_touch,
            with_replies=with_replies,
            frt_median=percentile_sorted(frt, 0.5),
            resolution_median=percentile_sorted(res, 0.5),
        )
        rows = [
            AgentStats(
                agent_id=int(agent_id),
                name=names.get(int(agent_id)),
                solved=w.solved,
                replies=w.replies,
                customers=len(w.customers),
                frt_median=percentile_sorted(sorted(w.frt), 0.5),
            )
            for agent_id, w in sorted(work.items())
        ]
        return stats, rows

    def _rolled_up(
        self, conn: Connection, window: Window, scope: Scope, agents: bool
    ) -> tuple[WindowStats, list[AgentStats]]:
        stats = kpi_rollups.headline(conn, window, scope)
        if not agents:
            return stats, []
        solvers = [
            replace(a, good=0, bad=0)
            for a in kpi_rollups.agent_work(conn, window, scope)
            if a.solved
        ]
        names = self._user_names(conn, (a.agent_id for a in solvers))
        solvers.sort(key=lambda a: a.agent_id)
        return stats, [replace(a, name=names.get(a.agent_id)) for a in solvers]


@dataclass
class _Work:
    solved: int = 0
    replies: int = 0
    customers: set[int] = field(default_factory=set)
    frt: list[int] = field(default_factory=list)
