"""Composition root: the only module that knows which concrete adapters exist.

Commands and the daemon ask this module for ready-to-use services built from ``Settings``;
services never construct their own adapters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.errors import ZendeskError
from deskbot.log import configure_logging
from deskbot.ports import Clock, StopEvent, ZendeskSource
from deskbot.services.sync import ProgressCallback, SyncService
from deskbot.settings import Settings, load_settings


def load(config_path: Path | str, configure_logs: bool = False) -> Settings:
    """Load and validate the configuration (raises ``ConfigError`` listing every problem)."""
    settings = load_settings(config_path)
    if configure_logs:
        configure_logging(settings.logging.level, settings.logging.format)
    return settings


def open_database(settings: Settings, migrate: bool = True) -> Database:
    """The store for these settings, migrated to the current schema unless told otherwise."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(
        settings.database_url,
        busy_timeout_ms=settings.storage.busy_timeout_ms,
        pool_size=settings.storage.pool_size,
    )
    if migrate:
        database.upgrade()
    return database


def sync_service(
    settings: Settings,
    database: Database,
    clock: Clock,
    stop_event: StopEvent | None = None,
    client: ZendeskSource | None = None,
) -> SyncService:
    """The sync use case wired to zenpy (paced, retried) and the store."""
    source = client or ZendeskClient.from_settings(settings.zendesk, clock, stop_event)
    return SyncService(
        source,
        SqlSyncStore(database),
        clock,
        page_size=settings.sync.page_size,
        start_date=settings.sync.start_date,
        ratings_overlap_minutes=settings.sync.ratings_overlap_minutes,
        stop_event=stop_event,
    )


def run_sync(
    settings: Settings,
    database: Database,
    clock: Clock,
    stop_event: StopEvent | None = None,
    *,
    full: bool = False,
    progress: ProgressCallback | None = None,
    raise_on_error: bool = True,
) -> dict[str, Any]:
    """The sync job: one incremental pass over every stream; returns ``SyncResult.summary()``.

    Raises ``ZendeskError`` (after recording it in ``sync_state``) when a stream failed, so the
    daemon's runner logs the failure; pass ``raise_on_error=False`` to get the summary instead
    (``summary["ok"]`` is False). A stop request ends the pass after the last committed page
    (``summary["stopped"]``).
    """
    result = sync_service(settings, database, clock, stop_event).run(full=full, progress=progress)
    summary = result.summary()
    if raise_on_error and not result.ok:
        failed = "; ".join(f"{s.stream}: {s.error}" for s in result.streams if s.error)
        raise ZendeskError(f"sync failed: {failed}")
    return summary
