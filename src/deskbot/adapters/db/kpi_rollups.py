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
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Table, case, func, literal_column, select
from sqlalchemy.engine import Connection

from deskbot.adapters.db.rollups import DAYS, LABELS, MONTHS
from deskbot.domain.metrics import (
    AgentStats,
    BacklogMethod,
    Scope,
    SeriesPoint,
    Window,
    WindowStats,
)
from deskbot.domain.rollups import (
    COUNTS,
    DURATIONS,
    TEAM,
    Histogram,
    distinct_values,
    next_month,
)


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
        """The window's rows of a table with one row per day (the labels)."""
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


def _spans(first: date, end: date) -> list[tuple[Table, date, date]]:
    """``[first, end)`` as (table, from, to) parts: its whole calendar months from the month
    cells, its ragged ends from the day cells."""
    months_from = first if first.day == 1 else next_month(first)
    months_to = end.replace(day=1)
    if months_from >= months_to:
        return [(DAYS, first, end)]
    parts = [(DAYS, first, months_from)] if first < months_from else []
    parts.append((MONTHS, months_from, months_to))
    if months_to < end:
        parts.append((DAYS, months_to, end))
    return parts


def _cells(
    conn: Connection,
    columns: Sequence[str],
    first: date,
    end: date,
    scope: Scope,
    *,
    each: bool = False,
    solved_only: bool = False,
) -> list[Any]:
    """The cells of ``[first, end)`` for the scope (``each``: one row per (group, assignee),
    assignees only, never the team row), with ``columns``."""
    rows: list[Any] = []
    for table, since, until in _spans(first, end):
        r = _Rows(conn, table)
        where = [table.c.day >= since, table.c.day < until]
        where += [*r.each(scope), r.plain("assignee_id") > 0] if each else r.scope(scope)
        if solved_only:
            where.append(r.plain("solved") != 0)
        rows.extend(conn.execute(select(*[table.c[c] for c in columns]).where(*where)))
    return rows


# The counts a window sums (the rest of ``COUNTS`` is read by the agents' table and the backlog).
_SUMMED = tuple(n for n in COUNTS if n not in ("replies", "backlog_in", "backlog_out"))
_MIN_DAY = date(1970, 1, 1)


def _window_sums(
    conn: Connection, window: Window, scope: Scope, durations: Sequence[str]
) -> tuple[dict[str, int], dict[str, Histogram]]:
    """The window's summed counts and the histograms of ``durations``."""
    sums = dict.fromkeys(_SUMMED, 0)
    blobs: dict[str, list[bytes]] = {name: [] for name in durations}
    solved = _SUMMED.index("solved")
    for row in _cells(conn, [*_SUMMED, *durations], window.start_day, window.end_day, scope):
        for i, name in enumerate(_SUMMED):
            sums[name] += row[i]
        if row[solved]:
            for j, name in enumerate(durations, start=len(_SUMMED)):
                blobs[name].append(row[j])
    return sums, {name: Histogram(blobs[name]) for name in durations}


def window_stats(
    conn: Connection, window: Window, scope: Scope, backlog: tuple[int, BacklogMethod] | None
) -> WindowStats:
    """The window's figures; ``backlog`` is given when it is the current one (the caller
    counts open tickets now), else reconstructed from the cells before the window's end."""
    sums, hist = _window_sums(conn, window, scope, DURATIONS)
    labels = _Rows(conn, LABELS)
    channels = {
        str(r.label): int(r.n)
        for r in conn.execute(
            select(LABELS.c.label, func.sum(LABELS.c.n).label("n"))
            .where(LABELS.c.kind == "channel", *labels.days(window), *labels.scope(scope))
            .group_by(labels.plain("label"))
        )
        if r.n
    }
    frt, frt_b = hist["frt"], hist["frt_business"]
    res, res_b = hist["resolution"], hist["resolution_business"]
    method: BacklogMethod
    if backlog is None:
        before = _cells(conn, ["backlog_in", "backlog_out"], _MIN_DAY, window.end_day, scope)
        count, method = sum(r[0] - r[1] for r in before), "reconstructed"
    else:
        count, method = backlog
    return WindowStats(
        created=sums["created"],
        solved=sums["solved"],
        backlog=count,
        backlog_method=method,
        good=sums["good"],
        bad=sums["bad"],
        offered=sums["offered"],
        one_touch=sums["one_touch"],
        with_replies=sums["with_replies"],
        reopened=sums["reopened"],
        with_reopens=sums["with_reopens"],
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
    sums, hist = _window_sums(conn, window, scope, ("frt", "resolution"))
    return WindowStats(
        created=sums["created"],
        solved=sums["solved"],
        good=sums["good"],
        bad=sums["bad"],
        one_touch=sums["one_touch"],
        with_replies=sums["with_replies"],
        frt_median=hist["frt"].percentile(0.5),
        resolution_median=hist["resolution"].percentile(0.5),
    )


def agent_work(conn: Connection, window: Window, scope: Scope) -> list[AgentStats]:
    """Each assignee's solved, replies, distinct customers, FRT median, good and bad — as
    ``SqlKpiSource.agent_stats`` counts them; names are left empty for the caller."""
    columns = ["assignee_id", "solved", "replies", "good", "bad", "frt", "requesters"]
    totals: dict[int, list[int]] = {}
    frt: dict[int, list[bytes]] = defaultdict(list)
    customers: dict[int, list[bytes]] = defaultdict(list)
    for agent, solved, replies, good, bad, frt_blob, requesters in _cells(
        conn, columns, window.start_day, window.end_day, scope, each=True
    ):
        sums = totals.get(agent)
        if sums is None:
            sums = totals[agent] = [0, 0, 0, 0]
        sums[0] += solved
        sums[1] += replies
        sums[2] += good
        sums[3] += bad
        if solved:
            frt[agent].append(frt_blob)
            customers[agent].append(requesters)
    out: list[AgentStats] = []
    for agent_id, (solved, replies, good, bad) in totals.items():
        if not solved and not good and not bad:
            continue  # only created, offered or backlog shares: not in the agents' table
        out.append(
            AgentStats(
                agent_id=agent_id,
                name=None,
                solved=solved,
                replies=replies if solved else 0,
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
    rows = _cells(conn, ["frt"], window.start_day, window.end_day, scope, solved_only=True)
    return Histogram(r[0] for r in rows).expanded()


class BadCustomer(NamedTuple):
    organization_id: int | None
    req: int | None
    n: int


def bad_customers(conn: Connection, window: Window, scope: Scope, limit: int) -> list[BadCustomer]:
    """``SqlKpiSource._bad_customers`` from the label rows: most bad ratings first, then the
    organisation and the requester, "none" first (labels are zero-padded ids, so they sort
    like the numbers)."""
    labels = _Rows(conn, LABELS)
    n = func.sum(LABELS.c.n)
    kind = labels.plain("kind")
    rank = case((kind == "bad_nobody", 0), (kind == "bad_requester", 1), else_=2)
    rows: list[BadCustomer] = []
    for name, label, count in conn.execute(
        select(LABELS.c.kind, LABELS.c.label, n)
        .where(
            LABELS.c.kind.in_(("bad_org", "bad_requester", "bad_nobody")),
            *labels.days(window),
            *labels.scope(scope),
        )
        .group_by(kind, labels.plain("label"))
        .having(n != 0)
        .order_by(n.desc(), rank, labels.plain("label"))
        .limit(limit)
    ):
        org = int(label) if name == "bad_org" else None
        req = int(label) if name == "bad_requester" else None
        rows.append(BadCustomer(org, req, int(count)))
    return rows
