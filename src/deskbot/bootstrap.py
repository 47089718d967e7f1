"""Composition root: the only module that knows which concrete adapters exist.

Commands and the daemon ask this module for ready-to-use services built from ``Settings``;
services never construct their own adapters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deskbot.adapters.db.store import Database
from deskbot.adapters.log_notifier import LogNotifier
from deskbot.log import configure_logging
from deskbot.ports import Clock, Notifier
from deskbot.settings import Settings, load_settings

if TYPE_CHECKING:
    from deskbot.daemon import Daemon
    from deskbot.jobs import JobSpec


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


def make_notifier(settings: Settings) -> Notifier:
    """Where admin notices (job failure alerts, rejected config reloads) go.

    The Slack adapter plugs in here: when a Slack notifier exists and Slack is enabled, return
    it instead (one line); until then notices are logged as ``admin.notice`` events.
    """
    _ = settings
    return LogNotifier()


def make_daemon(
    config_path: Path | str,
    settings: Settings,
    database: Database,
    clock: Clock | None = None,
    table: Sequence[JobSpec] | None = None,
) -> Daemon:
    """The ``deskbot run`` process: job table, run ledger, notifier and scheduler."""
    from deskbot.adapters.db.job_ledger import SqlJobLedger
    from deskbot.daemon import Daemon
    from deskbot.jobs import job_table

    return Daemon(
        config_path=Path(config_path),
        settings=settings,
        database=database,
        ledger=SqlJobLedger(database),
        notifier=make_notifier(settings),
        table=job_table() if table is None else table,
        clock=clock,
    )
