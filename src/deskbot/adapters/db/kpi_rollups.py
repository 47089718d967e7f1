"""KPI answers from the per-day rollups (issue 19): days x (group, assignee) cells, not tickets.

``SqlKpiSource`` asks here first; each function answers exactly what its direct-SQL twin in
``adapters/db/kpi.py`` answers (``tests/test_rollups.py`` compares them on random windows,
scopes and timezones, DST days included), and only when the rollups are built for the
window's timezone (``read_state(...).ready_for(window.tz)``) — otherwise the caller reads the
tickets. The direct SQL stays the reference definition.

A window is whole local days, so it is the cells with ``start_day <= day < end_day``; a scope
is ``group_id = g`` and/or ``assignee_id = a`` on the cells (ticket group/assignee for ticket
figures, the rating's for CSAT — as the direct SQL scopes them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.engine import Connection

from deskbot.adapters.db.rollups import DAYS, LABELS
from deskbot.domain.metrics import (
    AgentStats,
    BacklogMethod,
    Scope,
    SeriesPoint,
    Window,
    WindowStats,
)
from deskbot.domain.rollups import DURATIONS, TEAM, Histogram, distinct_values


class _Rows:
    """Conditions on a rollup table, phrased so SQLite's planner (which has no statistics
    for these tables) drives each query by the right index: the day range (primary key) for
    the whole team's per-assignee rows, ``(group_id, day)`` / ``(assignee_id, day)`` for a
    group or an agent. A term that must not drive is written ``+column`` on SQLite, its
    documented "do not use an index for this term"."""

    def __init__(self, conn: Connection, table: Any) -> None:
        self.t = table
        self._sqlite = conn.dialect.name == "sqlite"

    def plain(self, name: str) -> Any:
        column = self.t.c[name]
        if self._sqlite:
            return literal_column(f"+{self.t.name}.{name}", type_=column.type)
        return column

    def days(self, window: Window) -> list[ColumnElement[bool]]:
        return [self.t.c.day >= window.start_day, self.t.c.day < window.end_day]

    def scope(self, scope: Scope) -> list[ColumnElement[bool]]:
        """The rows that sum to the scope's figures: the team rows for the whole team."""
        if scope.group_id is None and scope.agent_id is None:
            return [self.t.c.group_id == TEAM]
        return self.each(scope)

    def each(self, scope: Scope) -> list[ColumnElement[bool]]:
        """The scope's (group, assignee) rows, never a team row."""
        conditions: list[ColumnElement[bool]] = [self.plain("group_id") != TEAM]
        if scope.group_id is not None:
            conditions.append(self.t.c.group_id == scope.group_id)
        if scope.agent_id is not None:
            column = self.t.c.assignee_id if scope.group_id is None else self.plain("assignee_id")
            conditions.append(column == scope.agent_id)
        return conditions


_SUMMED = (
    "created",
    "solved",
    "with_replies",
    "one_touch",
    "with_reopens",
    "reopened",
    "good",
    "bad",
    "offered",
)


def window_stats(
    conn: Connection, window: Window, scope: Scope, backlog: tuple[int, BacklogMethod] | None
) -> WindowStats:
    """The window's figures; ``backlog`` is given when it is the current one (the caller
    counts open tickets now), else reconstructed from the cells before the window's end."""
    d, labels = _Rows(conn, DAYS), _Rows(conn, LABELS)
    where = [*d.days(window), *d.scope(scope)]
    sums = conn.execute(
        select(*[func.coalesce(func.sum(DAYS.c[n]), 0).label(n) for n in _SUMMED]).where(*where)
    ).one()
    channels = {
        str(r.label): int(r.n)
        for r in conn.execute(
            select(LABELS.c.label, func.sum(LABELS.c.n).label("n"))
            .where(LABELS.c.kind == "channel", *labels.days(window), *labels.scope(scope))
            .group_by(labels.plain("label"))
        )
        if r.n
    }
    blobs: dict[str, list[bytes]] = {name: [] for name in DURATIONS}
    for row in conn.execute(
        select(*[DAYS.c[n] for n in DURATIONS]).where(*where, DAYS.c.solved != 0)
    ):
        for i, name in enumerate(DURATIONS):
            blobs[name].append(row[i])
    frt = Histogram(blobs["frt"])
    frt_b = Histogram(blobs["frt_business"])
    res = Histogram(blobs["resolution"])
    res_b = Histogram(blobs["resolution_business"])
    method: BacklogMethod
    if backlog is None:
        total = conn.execute(
            select(
                func.coalesce(func.sum(DAYS.c.backlog_in), 0)
                - func.coalesce(func.sum(DAYS.c.backlog_out), 0)
            ).where(DAYS.c.day < window.end_day, *d.scope(scope))
        ).scalar_one()
        count, method = int(total), "reconstructed"
    else:
        count, method = backlog
    return WindowStats(
        created=int(sums.created),
        solved=int(sums.solved),
        backlog=count,
        backlog_method=method,
        good=int(sums.good),
        bad=int(sums.bad),
        offered=int(sums.offered),
        one_touch=int(sums.one_touch),
        with_replies=int(sums.with_replies),
        reopened=int(sums.reopened),
        with_reopens=int(sums.with_reopens),
        frt_median=frt.percentile(0.5),
        frt_p90=frt.percentile(0.9),
        frt_business_median=frt_b.percentile(0.5),
        frt_business_p90=frt_b.percentile(0.9),
        resolution_median=res.percentile(0.5),
        resolution_business_median=res_b.percentile(0.5),
        channels=channels,
    )


def headline(conn: Connection, window: Window, scope: Scope) -> WindowStats:
    """What ``SqlHeadlines.headline`` shows: created, solved, good, bad, one-touch, with
    replies, FRT and resolution medians (the rest left at their defaults)."""
    d = _Rows(conn, DAYS)
    where = [*d.days(window), *d.scope(scope)]
    sums = conn.execute(
        select(
            *[
                func.coalesce(func.sum(DAYS.c[n]), 0).label(n)
                for n in ("created", "solved", "good", "bad", "one_touch", "with_replies")
            ]
        ).where(*where)
    ).one()
    frt: list[bytes] = []
    res: list[bytes] = []
    for frt_blob, res_blob in conn.execute(
        select(DAYS.c.frt, DAYS.c.resolution).where(*where, DAYS.c.solved != 0)
    ):
        frt.append(frt_blob)
        res.append(res_blob)
    return WindowStats(
        created=int(sums.created),
        solved=int(sums.solved),
        good=int(sums.good),
        bad=int(sums.bad),
        one_touch=int(sums.one_touch),
        with_replies=int(sums.with_replies),
        frt_median=Histogram(frt).percentile(0.5),
        resolution_median=Histogram(res).percentile(0.5),
    )


def agent_work(conn: Connection, window: Window, scope: Scope) -> list[AgentStats]:
    """Each assignee's solved, replies, distinct customers, FRT median, good and bad — as
    ``SqlKpiSource.agent_stats`` counts them; names are left empty for the caller."""
    d = _Rows(conn, DAYS)
    where = [*d.days(window), *d.each(scope), d.plain("assignee_id") > 0]
    totals = {
        int(r.assignee_id): r
        for r in conn.execute(
            select(
                DAYS.c.assignee_id,
                func.sum(DAYS.c.solved).label("solved"),
                func.sum(DAYS.c.replies).label("replies"),
                func.sum(DAYS.c.good).label("good"),
                func.sum(DAYS.c.bad).label("bad"),
            )
            .where(*where)
            .group_by(d.plain("assignee_id"))
        )
    }
    frt: dict[int, list[bytes]] = defaultdict(list)
    customers: dict[int, list[bytes]] = defaultdict(list)
    for agent, frt_blob, requesters in conn.execute(
        select(DAYS.c.assignee_id, DAYS.c.frt, DAYS.c.requesters).where(*where, DAYS.c.solved != 0)
    ):
        frt[agent].append(frt_blob)
        customers[agent].append(requesters)
    out: list[AgentStats] = []
    for agent_id, row in totals.items():
        solved, good, bad = int(row.solved or 0), int(row.good or 0), int(row.bad or 0)
        if not solved and not good and not bad:
            continue  # only created, offered or backlog shares: not in the agents' table
        out.append(
            AgentStats(
                agent_id=agent_id,
                name=None,
                solved=solved,
                replies=int(row.replies or 0) if solved else 0,
                customers=distinct_values(customers[agent_id]) if solved else 0,
                good=good,
                bad=bad,
                frt_median=Histogram(frt[agent_id]).percentile(0.5) if solved else None,
            )
        )
    return out


def team_tag_counts(
    conn: Connection, window: Window, scope: Scope, tags: Sequence[str]
) -> dict[tuple[int | None, str], int]:
    labels = _Rows(conn, LABELS)
    rows = conn.execute(
        select(LABELS.c.assignee_id, LABELS.c.label, func.sum(LABELS.c.n).label("n"))
        .where(
            LABELS.c.kind == "tag",
            LABELS.c.label.in_(list(tags)),
            *labels.days(window),
            *labels.each(scope),
        )
        .group_by(labels.plain("assignee_id"), labels.plain("label"))
    )
    out: dict[tuple[int | None, str], int] = {}
    for r in rows:
        if r.n:
            key = (int(r.assignee_id) or None, str(r.label))
            out[key] = out.get(key, 0) + int(r.n)
    return out


def series(conn: Connection, buckets: Sequence[Window], scope: Scope) -> list[SeriesPoint]:
    start, end = buckets[0].start_day, buckets[-1].end_day
    per_day = {
        r.day: (int(r.created), int(r.good), int(r.bad))
        for r in conn.execute(
            select(
                DAYS.c.day,
                func.sum(DAYS.c.created).label("created"),
                func.sum(DAYS.c.good).label("good"),
                func.sum(DAYS.c.bad).label("bad"),
            )
            .where(DAYS.c.day >= start, DAYS.c.day < end, *_Rows(conn, DAYS).scope(scope))
            .group_by(DAYS.c.day)
        )
    }
    points: list[SeriesPoint] = []
    for bucket in buckets:
        created = good = bad = 0
        for day, (c, g, b) in per_day.items():
            if bucket.start_day <= day < bucket.end_day:
                created, good, bad = created + c, good + g, bad + b
        points.append(SeriesPoint(bucket, created, good, bad))
    return points


def frt_sample(conn: Connection, window: Window, scope: Scope) -> list[int]:
    blobs = conn.execute(
        select(DAYS.c.frt).where(
            *_Rows(conn, DAYS).days(window), *_Rows(conn, DAYS).scope(scope), DAYS.c.solved != 0
        )
    ).scalars()
    return Histogram(blobs).expanded()


class BadCustomer(NamedTuple):
    organization_id: int | None
    req: int | None
    n: int


def bad_customers(conn: Connection, window: Window, scope: Scope, limit: int) -> list[BadCustomer]:
    """``SqlKpiSource._bad_customers`` from the label rows: most bad ratings first, then the
    organisation and the requester, "none" first."""
    labels = _Rows(conn, LABELS)
    rows: list[BadCustomer] = []
    for kind, label, n in conn.execute(
        select(LABELS.c.kind, LABELS.c.label, func.sum(LABELS.c.n))
        .where(
            LABELS.c.kind.in_(("bad_org", "bad_requester", "bad_nobody")),
            *labels.days(window),
            *labels.scope(scope),
        )
        .group_by(labels.plain("kind"), labels.plain("label"))
    ):
        if not n:
            continue
        org = int(label) if kind == "bad_org" else None
        req = int(label) if kind == "bad_requester" else None
        rows.append(BadCustomer(org, req, int(n)))
    rows.sort(
        key=lambda r: (
            -r.n,
            r.organization_id is not None,
            r.organization_id or 0,
            r.req is not None,
            r.req or 0,
        )
    )
    return rows[:limit]
