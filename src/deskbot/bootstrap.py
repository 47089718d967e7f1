"""Composition root: the only module that knows which concrete adapters exist.

Commands and the daemon ask this module for ready-to-use services built from ``Settings``;
services never construct their own adapters.
"""

from __future__ import annotations

from pathlib import Path

from deskbot.adapters.db.directory import StoreDirectory
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack.app import build_app, make_client
from deskbot.adapters.slack.server import SlackHandle, start_slack
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.log import configure_logging
from deskbot.ports import Clock, SystemClock
from deskbot.services.providers import SlackServices
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


def slack_services(database: Database) -> SlackServices:
    """What the Slack app may call. More providers are wired here as their services land
    (KPI stats, CSAT follow-ups, shout-outs, sync status and trigger, config reload)."""
    return SlackServices(directory=StoreDirectory(database))


def start_slack_app(
    settings: Settings,
    services: SlackServices,
    clock: Clock | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    work: BackgroundWork | None = None,
) -> SlackHandle:
    """Build the Slack app and start receiving: Socket Mode or HTTP, as configured.

    Checks the bot token with ``auth.test`` first, so a bad token fails here, loudly.
    ``host``/``port`` override ``slack.http`` (tests use 127.0.0.1 and port 0); ``work`` is the
    pool for work after the acknowledgements (default: 4 threads), shut down by ``stop()``.
    """
    work = work or BackgroundWork()
    app = build_app(settings, make_client(settings), services, clock or SystemClock(), work=work)
    return start_slack(settings, app, host=host, port=port, work=work)
