"""Composition root: the only module that knows which concrete adapters exist.

Commands and the daemon ask this module for ready-to-use services built from ``Settings``;
services never construct their own adapters.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack.blocks import SlackDigestRenderer
from deskbot.adapters.slack.notifier import SlackNotifier, make_client
from deskbot.domain.metrics import Window, parse_period
from deskbot.log import configure_logging
from deskbot.ports import ActionLedger, Clock, KpiSource, Notifier, SystemClock
from deskbot.services.digests import DigestOutcome, DigestService, find_digest
from deskbot.services.shoutouts import ShoutoutRun, ShoutoutService
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


def action_ledger(database: Database, clock: Clock | None = None) -> ActionLedger:
    """The action ledger over this store."""
    return SqlActionLedger(database, clock)


def slack_notifier(settings: Settings, clock: Clock | None = None) -> Notifier:
    """Slack through slack_sdk, at ``slack.base_url`` when set (the sandbox)."""
    token = settings.slack.require_bot_token()
    client = make_client(token, settings.slack.base_url, clock=clock)
    return SlackNotifier(
        client, clock=clock, messages_per_second=settings.slack.messages_per_second_per_channel
    )


def digest_service(
    settings: Settings,
    database: Database,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
) -> DigestService:
    """Digests for these settings; ``notifier`` defaults to Slack (needs the bot token)."""
    return DigestService(
        settings,
        kpi_source(database),
        action_ledger(database, clock),
        notifier if notifier is not None else slack_notifier(settings, clock),
        SlackDigestRenderer(),
    )


def run_digest(
    settings: Settings,
    name: str,
    now: datetime | None = None,
    *,
    database: Database | None = None,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
    period: str | None = None,
) -> DigestOutcome:
    """Scheduler entry point: post the digest ``name`` (or channel) for the period that ended
    most recently before ``now`` (or ``period``, e.g. ``2026-11-01..2026-11-07``); a no-op when
    it was already posted. A scheduled run (no ``period``) first finishes earlier periods that a
    crash or a Slack failure left unfinished in the last week."""
    clock = clock or SystemClock()
    own = database is None
    database = database or open_database(settings)
    try:
        service = digest_service(settings, database, notifier, clock)
        config = find_digest(settings, name)
        when = now or clock.now()
        if period is None:
            service.resume_unfinished(config, when)
        return service.post(config, when, period)
    finally:
        if own:
            database.dispose()


def parse_window(settings: Settings, period: str, now: datetime) -> Window:
    """A period typed by a person, in the configured timezone (raises ``PeriodError``)."""
    return parse_period(period, now, settings.tz)


def shoutout_service(
    settings: Settings,
    database: Database,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
) -> ShoutoutService:
    """Shout-outs for these settings; ``notifier`` defaults to Slack (needs the bot token)."""
    return ShoutoutService(
        settings,
        kpi_source(database),
        action_ledger(database, clock),
        notifier if notifier is not None else slack_notifier(settings, clock),
        SlackDigestRenderer(),
    )


def run_shoutouts(
    settings: Settings,
    now: datetime | None = None,
    *,
    database: Database | None = None,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
) -> ShoutoutRun:
    """Scheduler entry point (``schedules.shoutouts``): celebrate new good ratings."""
    clock = clock or SystemClock()
    own = database is None
    database = database or open_database(settings)
    try:
        return shoutout_service(settings, database, notifier, clock).run_ratings(now or clock.now())
    finally:
        if own:
            database.dispose()


def run_hero_of_the_week(
    settings: Settings,
    now: datetime | None = None,
    *,
    database: Database | None = None,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
) -> ShoutoutRun:
    """Scheduler entry point (``schedules.hero_of_the_week``): last week's best CSAT."""
    clock = clock or SystemClock()
    own = database is None
    database = database or open_database(settings)
    try:
        return shoutout_service(settings, database, notifier, clock).run_hero_of_the_week(
            now or clock.now()
        )
    finally:
        if own:
            database.dispose()
