"""Synthetic ticket histories for the forecast tests and benchmark (seeded, reproducible)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Ticket
from deskbot.domain.forecast import Floats, SlotGrid, slot_grid

WEEKDAY = np.array([1.0, 1.1, 1.0, 0.95, 0.9, 0.35, 0.25])


def seasonal_rate(grid: SlotGrid, per_day: float, trend_per_year: float = 0.2) -> Floats:
    """Expected tickets per half hour: weekday x office-hours profile x linear trend."""
    hour = grid.wall / 2
    intraday = np.exp(-(((hour - 13) / 3.5) ** 2)) + 0.05
    intraday = intraday / intraday.mean() / 48
    trend = 1 + trend_per_year * grid.day / 365
    rate: Floats = per_day * WEEKDAY[grid.weekday] * intraday * trend
    return rate


def poisson_counts(rate: Floats, seed: int) -> Floats:
    return np.random.default_rng(seed).poisson(rate).astype(np.float64)


def ticket_rows(
    grid: SlotGrid, counts: Floats, channel: str, first_id: int, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """One ticket row per count, at a random second inside its half hour."""
    rng = np.random.default_rng(seed)
    tid = first_id
    for i in np.nonzero(counts)[0]:
        for _ in range(int(counts[i])):
            created = datetime.fromtimestamp(int(grid.utc[i]) + int(rng.integers(0, 1800)), UTC)
            yield _row(tid, created, channel)
            tid += 1


def _row(tid: int, created: datetime, channel: str, group: int | None = None) -> dict[str, Any]:
    return {
        "id": tid,
        "created_at": created,
        "updated_at": created,
        "generated_timestamp": int(created.timestamp()),
        "status": "solved",
        "is_deleted": False,
        "channel": channel,
        "group_id": group,
        "tags": "",
        "raw": "{}",
        "synced_at": created,
    }


def insert(database: Database, rows: Iterator[dict[str, Any]], batch: int = 20_000) -> int:
    table = Ticket.__table__  # type: ignore[attr-defined]
    total = 0
    chunk: list[dict[str, Any]] = []
    with database.engine.begin() as conn:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                conn.execute(table.insert(), chunk)
                total += len(chunk)
                chunk = []
        if chunk:
            conn.execute(table.insert(), chunk)
            total += len(chunk)
    return total


def history_grid(today: date, days: int, tz: str) -> SlotGrid:
    return slot_grid(today - timedelta(days=days), today, tz)
