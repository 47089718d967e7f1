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

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from sqlalchemy import Table, case, func, select

from deskbot.adapters.db.kpi import M, R, SqlKpiSource, T, _bad, _good
from deskbot.adapters.db.tables import SyncState
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

    def headline(self, window: Window, scope: Scope) -> WindowStats:
        """created, solved, ratings, one-touch, FRT and resolution medians: the numbers
        ``window_stats`` gives for these fields (backlog, channels, p90s and business-hour
        figures are left at their defaults)."""
        ts = self._ticket_scope(scope)
        with self._db.engine.connect() as conn:
            created = conn.execute(
                select(func.count())
                .select_from(T)
                .where(T.c.created_at >= window.start, T.c.created_at < window.end, *ts)
            ).scalar_one()
            solved_from = M.join(T, T.c.id == M.c.ticket_id)
            solved_where = [*self._solved_in(window), *ts]
            agg = conn.execute(
                select(
                    func.count().label("solved"),
                    func.count(M.c.replies).label("with_replies"),
                    func.coalesce(func.sum(case((M.c.replies <= 1, 1), else_=0)), 0).label(
                        "one_touch"
                    ),
                )
                .select_from(solved_from)
                .where(*solved_where)
            ).one()
            frt: list[int] = []
            res: list[int] = []
            for reply, resolution in conn.execute(
                select(M.c.reply_time_calendar, M.c.full_resolution_calendar)
                .select_from(solved_from)
                .where(*solved_where)
            ):
                if reply is not None:
                    frt.append(reply)
                if resolution is not None:
                    res.append(resolution)
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
        return WindowStats(
            created=int(created),
            solved=int(agg.solved),
            good=ratings.get("good", 0),
            bad=ratings.get("bad", 0),
            one_touch=int(agg.one_touch),
            with_replies=int(agg.with_replies),
            frt_median=percentile_sorted(frt, 0.5),
            resolution_median=percentile_sorted(res, 0.5),
        )

    def agent_workload(self, window: Window, scope: Scope) -> list[AgentStats]:
        """Per assignee of the window's solved tickets: solved, replies, customers and name, as
        ``agent_stats`` counts them (``frt_median`` not computed: see ``agent_frt_medians``;
        ratings not counted: no workload flag reads them)."""
        ts = self._ticket_scope(scope)
        with self._db.engine.connect() as conn:
            rows = conn.execute(
                select(
                    T.c.assignee_id,
                    func.count().label("solved"),
                    func.coalesce(func.sum(M.c.replies), 0).label("replies"),
                    func.count(func.distinct(T.c.requester_id)).label("customers"),
                )
                .select_from(M.join(T, T.c.id == M.c.ticket_id))
                .where(*self._solved_in(window), *ts, T.c.assignee_id.is_not(None))
                .group_by(T.c.assignee_id)
            ).all()
            names = self._user_names(conn, (int(r.assignee_id) for r in rows))
        return [
            AgentStats(
                agent_id=int(r.assignee_id),
                name=names.get(int(r.assignee_id)),
                solved=int(r.solved),
                replies=int(r.replies),
                customers=int(r.customers),
            )
            for r in rows
        ]

    def agent_frt_medians(
        self, window: Window, scope: Scope, agent_ids: Iterable[int]
    ) -> Mapping[int, float | None]:
        """The median first reply time of each given agent's solved tickets in the window."""
        ids = sorted(set(agent_ids))
        if not ids:
            return {}
        values: dict[int, list[int]] = defaultdict(list)
        with self._db.engine.connect() as conn:
            for row in conn.execute(
                select(T.c.assignee_id, M.c.reply_time_calendar)
                .select_from(M.join(T, T.c.id == M.c.ticket_id))
                .where(
                    *self._solved_in(window),
                    *self._ticket_scope(scope),
                    T.c.assignee_id.in_(ids),
                    M.c.reply_time_calendar.is_not(None),
                )
            ):
                values[int(row.assignee_id)].append(int(row.reply_time_calendar))
        out: dict[int, float | None] = {}
        for agent_id in ids:
            found: Any = sorted(values.get(agent_id, []))
            out[agent_id] = percentile_sorted(found, 0.5)
        return out
