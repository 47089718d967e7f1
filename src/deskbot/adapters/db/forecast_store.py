"""Half-hourly created counts per channel for the staffing forecast (``ForecastSource``).

One grouped query per scope: the database turns each ticket's ``created_at`` into the index of
its half hour since an origin (local midnight of the first day, so the buckets are the local
wall-clock half hours in any timezone, DST included) and counts per (channel, half hour). Over
two years that is at most ~35,000 buckets per channel coming back, however many tickets there
are. The range filter uses ``ix_tickets_created`` (``ix_tickets_group_created`` for a group)
unless, on SQLite, the window holds most of the table: then one sequential scan is faster.
A channel's first ticket is its first non-empty half hour.
Deleted tickets never count; a ticket without a channel counts as ``unknown``.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection

from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.adapters.db.tables import Ticket
from deskbot.domain.sync import TICKETS

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

    def synced_until(self) -> datetime | None:
        """How far the local copy of tickets reaches (the ticket stream's position)."""
        position = SqlSyncStore(self._db).state(TICKETS).position
        return None if position is None else datetime.fromtimestamp(position, UTC)

    def last_created(self) -> datetime | None:
        """The newest ticket's creation time (any ticket; one index lookup)."""
        with self._db.engine.connect() as conn:
            value = conn.execute(select(func.max(T.c.created_at))).scalar_one_or_none()
        if value is None:
            return None
        if isinstance(value, str):  # SQLite without type processing on an aggregate
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def _where(
        self, since: datetime, until: datetime, group_id: int | None, conn: Connection
    ) -> list[ColumnElement[bool]]:
        created: ColumnElement[Any] = T.c.created_at
        if self._db.dialect == "sqlite" and group_id is None and self._mostly(conn, since, until):
            # When the window holds most of the table, one sequential scan beats a lookup per
            # index entry (about 2x on 1M tickets); "+column" tells SQLite not to use the index.
            created = type_coerce(literal_column(f"+{T.name}.created_at"), T.c.created_at.type)
        where = [created >= since, created < until, T.c.is_deleted == false()]
        if group_id is not None:
            where.append(T.c.group_id == group_id)
        return where

    @staticmethod
    def _mostly(conn: Connection, since: datetime, until: datetime) -> bool:
        """Whether ``[since, until)`` holds at least half of the tickets (two index counts)."""
        inside = conn.execute(
            select(func.count()).where(T.c.created_at >= since, T.c.created_at < until)
        ).scalar_one()
        outside = conn.execute(
            select(func.count()).where(or_(T.c.created_at < since, T.c.created_at >= until))
        ).scalar_one()
        return bool(inside >= outside)

    def created_counts(
        self, origin: datetime, until: datetime, group_id: int | None = None
    ) -> dict[str, dict[int, int]]:
        """``{channel: {half hours since origin: tickets created}}`` for ``[origin, until)``."""
        start = int(origin.timestamp())
        slot: Any
        if self._db.dialect == "sqlite":
            # unixepoch() (SQLite 3.38+) is about twice as fast as strftime('%s')
            epoch: ColumnElement[int] = (
                func.unixepoch(T.c.created_at)
                if sqlite3.sqlite_version_info >= (3, 38)
                else cast(func.strftime("%s", T.c.created_at), BigInteger)
            )
            slot = ((epoch - start) // SLOT_SECONDS).label("slot")
        else:
            seconds = func.extract("epoch", T.c.created_at) - start
            slot = cast(func.floor(seconds / SLOT_SECONDS), BigInteger).label("slot")
        channel = func.coalesce(T.c.channel, "unknown").label("channel")
        out: dict[str, dict[int, int]] = defaultdict(dict)
        with self._db.engine.connect() as conn:
            query = (
                select(channel, slot, func.count().label("n"))
                .where(*self._where(origin, until, group_id, conn))
                .group_by(channel, slot)
            )
            for row in conn.execute(query):
                out[str(row.channel)][int(row.slot)] = int(row.n)
        return dict(out)
