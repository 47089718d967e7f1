"""KPI queries over the local copy (implements ``deskbot.ports.KpiSource``).

Counts and sums are computed in SQL over indexed ranges (``ix_tickets_created``,
``ix_ticket_metrics_solved``, ``ix_ratings_created``, ``ix_tickets_status``); medians and p90
come from one query that fetches the window's duration columns (a few int columns of the
solved tickets in the window, never the whole table) and are computed with
``deskbot.domain.metrics`` — the one definition of each number. Deleted tickets never count.

Backlog "at the window's end":
- when the window ends now or later, it is the tickets whose *current* status is new, open,
  pending or hold;
- for a past window it is reconstructed: tickets created before the end that had not been
  solved by then — their metric set's ``solved_at`` is empty or at/after the end — and whose
  current status is open, or that were solved (``solved_at``) after the end. Zendesk keeps only
  the latest ``solved_at``, so a ticket solved before the end and reopened after it is counted
  although it was solved at the end: the reconstruction over-counts by such tickets. The report
  says which method it used (``backlog_method``).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.engine import Connection

from deskbot.adapters.db import kpi_rollups
from deskbot.adapters.db.rollups import read_state
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables_copy import (
    Group,
    Organization,
    SatisfactionRating,
    Ticket,
    TicketMetric,
    TicketTag,
    User,
)
from deskbot.domain.metrics import (
    OPEN_STATUSES,
    AgentStats,
    BacklogMethod,
    Customer,
    CustomersInNeed,
    Scope,
    SeriesPoint,
    Window,
    WindowStats,
    agent_order,
    percentile_sorted,
)
from deskbot.domain.shoutouts import Praise
from deskbot.errors import DeskbotError

T: Table = Ticket.__table__  # type: ignore[attr-defined]
M: Table = TicketMetric.__table__  # type: ignore[attr-defined]
R: Table = SatisfactionRating.__table__  # type: ignore[attr-defined]
TT: Table = TicketTag.__table__  # type: ignore[attr-defined]
U: Table = User.__table__  # type: ignore[attr-defined]
G: Table = Group.__table__  # type: ignore[attr-defined]
ORG: Table = Organization.__table__  # type: ignore[attr-defined]


class ScopeError(DeskbotError):
    """A --group or --agent that matches nothing (or too much) in the local copy."""


def _good() -> ColumnElement[bool]:
    return R.c.score.like("good%")


def _bad() -> ColumnElement[bool]:
    return R.c.score.like("bad%")


def _not_deleted_ticket() -> ColumnElement[bool]:
    """Ratings of deleted tickets never count (a rating whose ticket is not synced does)."""
    t = T.alias("t_deleted")
    deleted = select(literal(1)).where(t.c.id == R.c.ticket_id, t.c.is_deleted == true())
    return ~exists(deleted)


class SqlKpiSource:
    """KPI aggregates on SQLite or PostgreSQL."""

    def __init__(self, database: Database, *, rollups: bool = True) -> None:
        self._db = database
        self._use_rollups = rollups

    def _rollups_for(self, conn: Connection, *windows: Window) -> bool:
        """Whether the per-day rollups answer for these windows (built, current version, the
        windows' timezone); else the queries below read the tickets."""
        if not self._use_rollups:
            return False
        state = read_state(conn)
        return state is not None and all(state.ready_for(w.tz) for w in windows)

    def uses_rollups(self, *windows: Window) -> bool:
        with self._db.engine.connect() as conn:
            return self._rollups_for(conn, *windows)

    # -- scope --------------------------------------------------------------------------------

    def resolve_scope(self, group: str | None = None, agent: str | None = None) -> Scope:
        with self._db.engine.connect() as conn:
            group_id, group_name = self._resolve_group(conn, group) if group else (None, None)
            agent_id, agent_name = self._resolve_agent(conn, agent) if agent else (None, None)
        return Scope(group_id, group_name, agent_id, agent_name)

    def _resolve_group(self, conn: Connection, text: str) -> tuple[int, str | None]:
        text = text.strip()
        if text.isdigit():
            row = conn.execute(select(G.c.id, G.c.name).where(G.c.id == int(text))).first()
            if row is not None:
                return int(row.id), row.name
            raise ScopeError(
                f"group id {text} is not in the local copy; run 'deskbot sync' first or check "
                "the id in Zendesk (Admin > People > Groups)"
            )
        rows = conn.execute(
            select(G.c.id, G.c.name).where(func.lower(G.c.name) == text.lower())
        ).all()
        if len(rows) == 1:
            return int(rows[0].id), rows[0].name
        if len(rows) > 1:
            ids = ", ".join(str(r.id) for r in rows)
            raise ScopeError(f"several groups are named {text!r} (ids {ids}); pass the id")
        names = [r.name for r in conn.execute(select(G.c.name).order_by(G.c.name))]
        close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
        hint = (
            f"did you mean {', '.join(repr(c) for c in close)}?"
            if close
            else (f"known groups: {', '.join(names[:10])}" if names else "no groups are synced yet")
        )
        raise ScopeError(f"no group named {text!r}; {hint}")

    def _resolve_agent(self, conn: Connection, text: str) -> tuple[int, str | None]:
        text = text.strip().removeprefix("@")
        if text.isdigit():
            condition: ColumnElement[bool] = U.c.id == int(text)
        elif "@" in text:
            condition = func.lower(U.c.email) == text.lower()
        else:
            condition = func.lower(U.c.name) == text.lower()
        rows = conn.execute(
            select(U.c.id, U.c.name, U.c.role, U.c.active, U.c.suspended).where(condition)
        ).all()
        if len(rows) > 1:
            # End-users often share an agent's name: agents win, then active unsuspended ones.
            agents = [r for r in rows if r.role in ("agent", "admin")]
            working = [r for r in agents if r.active and not r.suspended]
            rows = working if len(working) == 1 else (agents or rows)
        if len(rows) == 1:
            return int(rows[0].id), rows[0].name
        if len(rows) > 1:
            ids = ", ".join(str(r.id) for r in rows)
            raise ScopeError(f"several users match {text!r} (ids {ids}); pass the id or e-mail")
        if text.isdigit():
            raise ScopeError(
                f"user id {text} is not in the local copy; run 'deskbot sync' first or check the id"
            )
        names = [
            r.name
            for r in conn.execute(
                select(U.c.name).where(U.c.role.in_(("agent", "admin")), U.c.name.is_not(None))
            )
        ]
        close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ScopeError(f"no agent matches {text!r} (by id, name or e-mail){hint}")

    def _ticket_scope(self, scope: Scope, drive: bool = True) -> list[ColumnElement[bool]]:
        """Conditions for the scope; ``drive=False`` when another index (status, solve time)
        must drive the plan rather than (group_id, created_at)."""
        group = T.c.group_id if drive else self._unindexed(T.c.group_id)
        assignee = T.c.assignee_id if drive else self._unindexed(T.c.assignee_id)
        conditions: list[ColumnElement[bool]] = [T.c.is_deleted == false()]
        if scope.group_id is not None:
            conditions.append(group == scope.group_id)
        if scope.agent_id is not None:
            conditions.append(assignee == scope.agent_id)
        return conditions

    @staticmethod
    def _rating_scope(scope: Scope) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [_not_deleted_ticket()]
        if scope.group_id is not None:
            conditions.append(R.c.group_id == scope.group_id)
        if scope.agent_id is not None:
            conditions.append(R.c.assignee_id == scope.agent_id)
        return conditions

    @staticmethod
    def _solved_in(window: Window) -> list[ColumnElement[bool]]:
        return [M.c.solved_at >= window.start, M.c.solved_at < window.end]

    def _unindexed(self, column: Any) -> Any:
        """``column`` for a condition that must not drive the query plan.

        Without histogram statistics SQLite's planner rates ``created_at < end`` (nearly the
        whole table) as selective as ``status IN (open…)`` or ``solved_at >= end`` (a few
        thousand rows) and picks the wrong index; the unary ``+`` is SQLite's documented way to
        say "do not use an index for this term". PostgreSQL plans from real statistics."""
        if self._db.dialect == "sqlite":
            return literal_column(f"+{column.table.name}.{column.name}", type_=column.type)
        return column

    # -- headline -------------------------------------------------------------------------------

    def window_stats(self, window: Window, scope: Scope, now: datetime) -> WindowStats:
        ts = self._ticket_scope(scope)
        with self._db.engine.connect() as conn:
            if self._rollups_for(conn, window):
                current = self._backlog(conn, window, scope, now) if window.end >= now else None
                return kpi_rollups.window_stats(conn, window, scope, current)
            created_in = [T.c.created_at >= window.start, T.c.created_at < window.end, *ts]
            channels: dict[str, int] = defaultdict(int)
            for row in conn.execute(
                select(T.c.channel, func.count().label("n"))
                .where(*created_in)
                .group_by(T.c.channel)
            ):
                channels[row.channel if row.channel is not None else "unknown"] += int(row.n)
            solved_from = M.join(T, T.c.id == M.c.ticket_id)
            solved_where = [*self._solved_in(window), *ts]
            agg = conn.execute(
                select(
                    func.count().label("solved"),
                    func.count(M.c.replies).label("with_replies"),
                    func.coalesce(func.sum(case((M.c.replies <= 1, 1), else_=0)), 0).label(
                        "one_touch"
                    ),
                    func.count(M.c.reopens).label("with_reopens"),
                    func.coalesce(func.sum(case((M.c.reopens > 0, 1), else_=0)), 0).label(
                        "reopened"
                    ),
                )
                .select_from(solved_from)
                .where(*solved_where)
            ).one()
            durations = conn.execute(
                select(
                    M.c.reply_time_calendar,
                    M.c.reply_time_business,
                    M.c.full_resolution_calendar,
                    M.c.full_resolution_business,
                )
                .select_from(solved_from)
                .where(*solved_where)
            ).all()
            columns: list[list[int]] = [[], [], [], []]
            for row in durations:
                for i, value in enumerate(row):
                    if value is not None:
                        columns[i].append(value)
            for col in columns:
                col.sort()
            frt, frt_b, res, res_b = columns

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
                        R.c.score.in_(("offered",)) | _good() | _bad(),
                        *self._rating_scope(scope),
                    )
                    .group_by("kind")
                )
            }
            backlog, method = self._backlog(conn, window, scope, now)
        return WindowStats(
            created=sum(channels.values()),
            solved=int(agg.solved),
            backlog=backlog,
            backlog_method=method,
            good=ratings.get("good", 0),
            bad=ratings.get("bad", 0),
            offered=ratings.get("offered", 0),
            one_touch=int(agg.one_touch),
            with_replies=int(agg.with_replies),
            reopened=int(agg.reopened),
            with_reopens=int(agg.with_reopens),
            frt_median=percentile_sorted(frt, 0.5),
            frt_p90=percentile_sorted(frt, 0.9),
            frt_business_median=percentile_sorted(frt_b, 0.5),
            frt_business_p90=percentile_sorted(frt_b, 0.9),
            resolution_median=percentile_sorted(res, 0.5),
            resolution_business_median=percentile_sorted(res_b, 0.5),
            channels=dict(channels),
        )

    def _backlog(
        self, conn: Connection, window: Window, scope: Scope, now: datetime
    ) -> tuple[int, BacklogMethod]:
        ts = self._ticket_scope(scope, drive=False)
        is_open = T.c.status.in_(OPEN_STATUSES)
        if window.end >= now:
            n = conn.execute(select(func.count()).select_from(T).where(is_open, *ts)).scalar_one()
            return int(n), "current_status"
        end = window.end
        created_before = self._unindexed(T.c.created_at) < end
        still_open = conn.execute(
            select(func.count())
            .select_from(T.outerjoin(M, M.c.ticket_id == T.c.id))
            .where(
                is_open,
                created_before,
                or_(M.c.solved_at.is_(None), M.c.solved_at >= end),
                *ts,
            )
        ).scalar_one()
        solved_later = conn.execute(
            select(func.count())
            .select_from(M.join(T, T.c.id == M.c.ticket_id))
            .where(M.c.solved_at >= end, ~is_open, created_before, *ts)
        ).scalar_one()
        return int(still_open) + int(solved_later), "reconstructed"

    # -- breakdowns -----------------------------------------------------------------------------

    def agent_stats(self, window: Window, scope: Scope) -> list[AgentStats]:
        ts = self._ticket_scope(scope)
        solved_from = M.join(T, T.c.id == M.c.ticket_id)
        solved_where = [*self._solved_in(window), *ts, T.c.assignee_id.is_not(None)]
        work: dict[int, dict[str, Any]] = defaultdict(dict)
        with self._db.engine.connect() as conn:
            if self._rollups_for(conn, window):
                rows = kpi_rollups.agent_work(conn, window, scope)
                names = self._user_names(conn, (a.agent_id for a in rows))
                return sorted(
                    (replace(a, name=names.get(a.agent_id)) for a in rows), key=agent_order
                )
            for row in conn.execute(
                select(
                    T.c.assignee_id,
                    func.count().label("solved"),
                    func.coalesce(func.sum(M.c.replies), 0).label("replies"),
                    func.count(func.distinct(T.c.requester_id)).label("customers"),
                )
                .select_from(solved_from)
                .where(*solved_where)
                .group_by(T.c.assignee_id)
            ):
                work[int(row.assignee_id)].update(
                    solved=int(row.solved), replies=int(row.replies), customers=int(row.customers)
                )
            frt: dict[int, list[int]] = defaultdict(list)
            for row in conn.execute(
                select(T.c.assignee_id, M.c.reply_time_calendar)
                .select_from(solved_from)
                .where(*solved_where, M.c.reply_time_calendar.is_not(None))
            ):
                frt[int(row.assignee_id)].append(int(row.reply_time_calendar))
            for values in frt.values():
                values.sort()
            for row in conn.execute(
                select(
                    R.c.assignee_id,
                    func.coalesce(func.sum(case((_good(), 1), else_=0)), 0).label("good"),
                    func.coalesce(func.sum(case((_bad(), 1), else_=0)), 0).label("bad"),
                )
                .where(
                    R.c.created_at >= window.start,
                    R.c.created_at < window.end,
                    R.c.assignee_id.is_not(None),
                    _good() | _bad(),
                    *self._rating_scope(scope),
                )
                .group_by(R.c.assignee_id)
            ):
                work[int(row.assignee_id)].update(good=int(row.good), bad=int(row.bad))
            names = self._user_names(conn, work)
        agents = [
            AgentStats(
                agent_id=agent_id,
                name=names.get(agent_id),
                solved=values.get("solved", 0),
                replies=values.get("replies", 0),
                customers=values.get("customers", 0),
                good=values.get("good", 0),
                bad=values.get("bad", 0),
                frt_median=percentile_sorted(frt.get(agent_id, []), 0.5),
            )
            for agent_id, values in work.items()
        ]
        agents.sort(key=agent_order)
        return agents

    def customers_in_need(self, window: Window, scope: Scope, limit: int) -> CustomersInNeed:
        ts = self._ticket_scope(scope, drive=False)
        # Grouping by an unindexed expression keeps SQLite on ix_tickets_status (the open
        # tickets) instead of walking the whole (organization_id, status) index.
        org = self._unindexed(T.c.organization_id)
        requester = case((T.c.organization_id.is_(None), T.c.requester_id), else_=None)
        with self._db.engine.connect() as conn:
            open_rows = conn.execute(
                select(
                    org.label("organization_id"), requester.label("req"), func.count().label("n")
                )
                .where(T.c.status.in_(OPEN_STATUSES), *ts)
                .group_by(org, requester)
                .order_by(
                    func.count().desc(), org.asc().nulls_first(), requester.asc().nulls_first()
                )
                .limit(limit)
            ).all()
            bad_rows = (
                kpi_rollups.bad_customers(conn, window, scope, limit)
                if self._rollups_for(conn, window)
                else self._bad_customers(conn, window, scope, limit)
            )
            org_ids = {int(r.organization_id) for r in [*open_rows, *bad_rows] if r.organization_id}
            user_ids = {int(r.req) for r in [*open_rows, *bad_rows] if r.req is not None}
            orgs = (
                {
                    int(r.id): r.name
                    for r in conn.execute(select(ORG.c.id, ORG.c.name).where(ORG.c.id.in_(org_ids)))
                }
                if org_ids
                else {}
            )
            users = self._user_names(conn, user_ids)

        def customer(row: Any, **counts: int) -> Customer | None:
            if row.organization_id is not None:
                oid = int(row.organization_id)
                return Customer("organization", oid, orgs.get(oid), **counts)
            if row.req is not None:
                uid = int(row.req)
                return Customer("requester", uid, users.get(uid), **counts)
            return None  # no requester at all: nobody to reach out to

        most_open = [customer(r, open_tickets=int(r.n)) for r in open_rows]
        bad = [customer(r, bad_ratings=int(r.n)) for r in bad_rows]
        return CustomersInNeed(
            tuple(c for c in most_open if c is not None), tuple(c for c in bad if c is not None)
        )

    def _bad_customers(
        self, conn: Connection, window: Window, scope: Scope, limit: int
    ) -> list[Any]:
        """The customers with the most bad ratings in the window: (organization_id, req, n)
        rows — a rating's organisation is its ticket's (falling back to the requester)."""
        r_org = T.c.organization_id
        r_req = case((T.c.organization_id.is_(None), R.c.requester_id), else_=None)
        return list(
            conn.execute(
                select(r_org.label("organization_id"), r_req.label("req"), func.count().label("n"))
                .select_from(R.outerjoin(T, T.c.id == R.c.ticket_id))
                .where(
                    R.c.created_at >= window.start,
                    R.c.created_at < window.end,
                    _bad(),
                    *self._rating_scope(scope),
                )
                .group_by(r_org, r_req)
                .order_by(func.count().desc(), r_org.asc().nulls_first(), r_req.asc().nulls_first())
                .limit(limit)
            ).all()
        )

    def team_tag_counts(
        self, window: Window, scope: Scope, tags: Sequence[str]
    ) -> dict[tuple[int | None, str], int]:
        if not tags:
            return {}
        query = (
            select(T.c.assignee_id, TT.c.tag, func.count().label("n"))
            .select_from(
                M.join(T, T.c.id == M.c.ticket_id).join(
                    TT, and_(TT.c.ticket_id == T.c.id, TT.c.tag.in_(list(tags)))
                )
            )
            .where(*self._solved_in(window), *self._ticket_scope(scope))
            .group_by(T.c.assignee_id, TT.c.tag)
        )
        with self._db.engine.connect() as conn:
            if self._rollups_for(conn, window):
                return kpi_rollups.team_tag_counts(conn, window, scope, tags)
            return {
                (int(r.assignee_id) if r.assignee_id is not None else None, str(r.tag)): int(r.n)
                for r in conn.execute(query)
            }

    def user_names(self, ids: Iterable[int]) -> dict[int, str | None]:
        with self._db.engine.connect() as conn:
            return self._user_names(conn, ids)

    @staticmethod
    def _user_names(conn: Connection, ids: Iterable[int]) -> dict[int, str | None]:
        wanted = sorted(set(ids))
        out: dict[int, str | None] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            out.update(
                {
                    int(r.id): r.name
                    for r in conn.execute(select(U.c.id, U.c.name).where(U.c.id.in_(chunk)))
                }
            )
        return out

    # -- charts ---------------------------------------------------------------------------------

    def series(self, buckets: Sequence[Window], scope: Scope) -> list[SeriesPoint]:
        if not buckets:
            return []
        start, end = buckets[0].start, buckets[-1].end
        bounds = [b.end for b in buckets]

        def bucket_of(column: Any) -> Any:
            return case(*[(column < bound, i) for i, bound in enumerate(bounds)], else_=-1)

        created = [0] * len(buckets)
        good = [0] * len(buckets)
        bad = [0] * len(buckets)
        t_bucket = bucket_of(T.c.created_at).label("b")
        r_bucket = bucket_of(R.c.created_at).label("b")
        with self._db.engine.connect() as conn:
            if self._rollups_for(conn, *buckets):
                return kpi_rollups.series(conn, buckets, scope)
            for row in conn.execute(
                select(t_bucket, func.count().label("n"))
                .where(T.c.created_at >= start, T.c.created_at < end, *self._ticket_scope(scope))
                .group_by(t_bucket)
            ):
                if row.b >= 0:
                    created[row.b] = int(row.n)
            for row in conn.execute(
                select(
                    r_bucket,
                    func.coalesce(func.sum(case((_good(), 1), else_=0)), 0).label("good"),
                    func.coalesce(func.sum(case((_bad(), 1), else_=0)), 0).label("bad"),
                )
                .where(
                    R.c.created_at >= start,
                    R.c.created_at < end,
                    _good() | _bad(),
                    *self._rating_scope(scope),
                )
                .group_by(r_bucket)
            ):
                if row.b >= 0:
                    good[row.b], bad[row.b] = int(row.good), int(row.bad)
        return [
            SeriesPoint(window, created[i], good[i], bad[i]) for i, window in enumerate(buckets)
        ]

    def frt_sample(self, window: Window, scope: Scope) -> list[int]:
        query = (
            select(M.c.reply_time_calendar)
            .select_from(M.join(T, T.c.id == M.c.ticket_id))
            .where(
                *self._solved_in(window),
                *self._ticket_scope(scope),
                M.c.reply_time_calendar.is_not(None),
            )
            .order_by(M.c.reply_time_calendar)
        )
        with self._db.engine.connect() as conn:
            if self._rollups_for(conn, window):
                return kpi_rollups.frt_sample(conn, window, scope)
            return [int(v) for v in conn.execute(query).scalars()]

    # -- shout-outs -----------------------------------------------------------------------------

    def praise(self, since: datetime, until: datetime, limit: int = 200) -> list[Praise]:
        """Good ratings with a comment created in ``[since, until)``, oldest first."""
        customer = U.alias("customer")
        agent = U.alias("agent")
        query = (
            select(
                R.c.id,
                R.c.ticket_id,
                R.c.assignee_id,
                agent.c.name.label("agent_name"),
                R.c.comment,
                customer.c.name.label("customer_name"),
                ORG.c.name.label("org_name"),
                R.c.created_at,
            )
            .select_from(
                R.outerjoin(customer, customer.c.id == R.c.requester_id)
                .outerjoin(agent, agent.c.id == R.c.assignee_id)
                .outerjoin(T, T.c.id == R.c.ticket_id)
                .outerjoin(
                    ORG, ORG.c.id == func.coalesce(T.c.organization_id, customer.c.organization_id)
                )
            )
            .where(
                R.c.created_at >= since,
                R.c.created_at < until,
                _good(),
                R.c.comment.is_not(None),
                func.length(func.trim(R.c.comment)) > 0,
                _not_deleted_ticket(),
            )
            .order_by(R.c.created_at, R.c.id)
            .limit(limit)
        )
        with self._db.engine.connect() as conn:
            return [
                Praise(
                    rating_id=int(r.id),
                    ticket_id=int(r.ticket_id) if r.ticket_id is not None else None,
                    agent_id=int(r.assignee_id) if r.assignee_id is not None else None,
                    agent_name=r.agent_name,
                    comment=str(r.comment),
                    customer_name=r.customer_name,
                    organization_name=r.org_name,
                    created_at=r.created_at,
                )
                for r in conn.execute(query)
            ]
