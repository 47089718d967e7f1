"""Composition root: the only module that knows which concrete adapters exist.

Commands and the daemon ask this module for ready-to-use services built from ``Settings``;
services never construct their own adapters.
"""

from __future__ import annotations

from pathlib import Path

from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.store import Database
from deskbot.log import configure_logging
from deskbot.ports import KpiSource
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


def kpi_source(database: Database) -> KpiSource:
    """The KPI queries over this store."""
    return SqlKpiSource(database)
