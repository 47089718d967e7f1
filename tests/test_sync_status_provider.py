"""``/deskbot sync``'s provider: the same stream states as ``deskbot sync status``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.domain.sync import PageRecords, StreamState
from deskbot.services.slack_providers import StoreSyncStatus
from deskbot.services.sync import stream_states

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_streams_in_sync_order_with_position_and_current_errors_only(db: Database) -> None:
    store = SqlSyncStore(db)
    # Before any sync: both known streams, never synced.
    assert [s.stream for s in stream_states(store)] == ["tickets", "satisfaction_ratings"]
    empty = StoreSyncStatus(store).sync_status()
    assert [(s.name, s.position, s.last_success) for s in empty] == [
        ("tickets", None, None),
        ("satisfaction_ratings", None, None),
    ]
    store.record_error("tickets", "HTTP 503 from /api/v2/incremental", T - timedelta(hours=1))
    store.apply_page(
        PageRecords(),
        StreamState("tickets", position=int(T.timestamp()) - 60, pages_total=1, last_success_at=T),
    )
    store.record_error("satisfaction_ratings", "401 Unauthorized", T)
    running = StoreSyncStatus(store, running=lambda: True).sync_status()
    tickets, ratings = running
    assert tickets.position == T - timedelta(seconds=60) and tickets.last_success == T
    assert tickets.last_error is None  # an error before the last success is history
    assert ratings.last_error == "401 Unauthorized" and ratings.last_success is None
    assert all(s.running for s in running)
