"""Half-hourly created counts per channel for the staffing forecast (``ForecastSource``).

One grouped query per scope: the database turns each ticket's ``created_at`` into the index of
its half hour since an origin (local midnight of the first day, so the buckets are the local
wall-clock half hours in any timezone, DST included) and counts per (channel, half hour). Over
two years that is at most ~35,000 buckets per channel coming back, however many tickets there
are; the range filter uses ``ix_tickets_created`` (``ix_tickets_group_created`` for a group).
Deleted tickets never count; a ticket without a channel counts as ``unknown``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Table, cast, false, func, select

from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Ticket

T: Table = Ticket.__table__  # type: ignore[attr-defined]
SLOT_SECONDS = 1800


class SqlForecastSource:
    """Created counts by channel and half hour, on SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def resolve_group(self, text: str) -> tuple[int, str]:
        """A Zendesk group by id or name (``ScopeError`` with suggestions when unknown)."""
        scope = SqlKpiSource(self._db).resolve_scope(group=text)
        assert scope.group_id is not None
        return scope.group_id, scope.group_name or text

    def _where(
        self, since: datetime, until: datetime, group_id: int | None
    ) -> list[ColumnElement[bool]]:
        where = [T.c.created_at >= since, T.c.created_at < until, T.c.is_deleted == false()]
        if group_id is not None:
            where.append(T.c.group_id == group_id)
        return where

    def first_created(
        self, since: datetime, until: datetime, group_id: int | None = None
    ) -> dict[str, datetime]:
        """Each channel's first ticket in ``[since, until)``."""
        channel = func.coalesce(T.c.channel, "unknown").label("channel")
        query = (
            select(channel, func.min(T.c.created_at).label("first"))
            .where(*self._where(since, until, group_id))
            .group_by(channel)
        )
        with self._db.engine.connect() as conn:
            out = {}
            for row in conn.execute(query):
                first = row.first
                if isinstance(first, str):  # SQLite returns text from an aggregate
                    first = datetime.fromisoformat(first)
                out[str(row.channel)] = (
                    first.replace(tzinfo=UTC) if first.tzinfo is None else first.astimezone(UTC)
                )
            return out

    def created_counts(
        self, origin: datetime, until: datetime, group_id: int | None = None
    ) -> dict[str, dict[int, int]]:
        """``{channel: {half hours since origin: tickets created}}`` for ``[origin, until)``."""
        start = int(origin.timestamp())
        slot: Any
        if self._db.dialect == "sqlite":
            epoch: ColumnElement[int] = cast(func.strftime("%s", T.c.created_at), BigInteger)
            slot = ((epoch - start) // SLOT_SECONDS).label("slot")
        else:
            seconds = func.extract("epoch", T.c.created_at) - start
            slot = cast(func.floor(seconds / SLOT_SECONDS), BigInteger).label("slot")
        channel = func.coalesce(T.c.channel, "unknown").label("channel")
        query = (
            select(channel, slot, func.count().label("n"))
            .where(*self._where(origin, until, group_id))
            .group_by(channel, slot)
        )
        out: dict[str, dict[int, int]] = defaultdict(dict)
        with self._db.engine.connect() as conn:
            for row in conn.execute(query):
                out[str(row.channel)][int(row.slot)] = int(row.n)
        return dict(out)
