"""Composition root: the only module that knows which concrete adapters exist.

Commands and the daemon ask this module for ready-to-use services built from ``Settings``;
services never construct their own adapters.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deskbot.adapters.db.directory import StoreDirectory
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack.app import build_app, make_client
from deskbot.adapters.slack.server import SlackHandle, start_slack
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.errors import DeskbotError
from deskbot.log import configure_logging
from deskbot.ports import Clock, SystemClock
from deskbot.services.providers import SlackServices
from deskbot.settings import Settings, load_settings

if TYPE_CHECKING:
    from deskbot.adapters.slack.followup_notifier import SlackFollowupNotifier
    from deskbot.adapters.zendesk.writer import ZendeskTicketWriter
    from deskbot.services.followups import (
        FollowupNotifier,
        FollowupService,
        Ledger,
        TicketWriter,
    )
from deskbot.adapters.log_notifier import LogNotifier
from deskbot.ports import Notifier

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


# --------------------------------------------------------------------------------------------
# Bad-CSAT follow-ups
# --------------------------------------------------------------------------------------------


def action_ledger(database: Database, clock: Clock) -> Ledger:
    """The SQL action ledger (``deskbot.adapters.db.ledger``, built on its own branch)."""
    try:
        module = importlib.import_module("deskbot.adapters.db.ledger")
    except ModuleNotFoundError as exc:
        raise DeskbotError(
            "the action ledger (deskbot.adapters.db.ledger) is not part of this build; "
            "follow-ups need it to run"
        ) from exc
    for name in ("Ledger", "SqlLedger", "ActionLedger"):
        factory = getattr(module, name, None)
        if factory is not None:
            ledger: Ledger = factory(database, clock)
            return ledger
    raise DeskbotError("deskbot.adapters.db.ledger has no Ledger class; wire it in bootstrap")


def zendesk_ticket_writer(settings: Settings, clock: Clock) -> ZendeskTicketWriter:
    import requests

    from deskbot.adapters.zendesk.session import BaseUrlSession
    from deskbot.adapters.zendesk.writer import ZendeskTicketWriter

    email, token = settings.zendesk.require_credentials()
    session = (
        BaseUrlSession(settings.zendesk.base_url, settings.zendesk.subdomain)
        if settings.zendesk.base_url
        else requests.Session()
    )
    return ZendeskTicketWriter(
        settings.zendesk.subdomain,
        email,
        token,
        session=session,
        clock=clock,
        timeout=settings.zendesk.request_timeout_seconds,
        max_retries=settings.zendesk.max_retries,
    )


def slack_followup_notifier(settings: Settings) -> SlackFollowupNotifier:
    from deskbot.adapters.slack.followup_notifier import SlackFollowupNotifier

    return SlackFollowupNotifier.from_token(
        settings.slack.require_bot_token(), base_url=settings.slack.base_url
    )


def followup_service(
    settings: Settings,
    database: Database,
    clock: Clock,
    *,
    ledger: Ledger | None = None,
    tickets: TicketWriter | None = None,
    notifier: FollowupNotifier | None = None,
) -> FollowupService:
    """The follow-up service with real adapters, unless some are given (tests, demo)."""
    from deskbot.adapters.db.followups_store import SqlFollowupStore
    from deskbot.services.followups import FollowupService

    return FollowupService(
        settings,
        SqlFollowupStore(database),
        ledger if ledger is not None else action_ledger(database, clock),
        tickets if tickets is not None else zendesk_ticket_writer(settings, clock),
        notifier
        if notifier is not None
        else (slack_followup_notifier(settings) if settings.slack.enabled else None),
        clock,
    )


def run_followups(
    settings: Settings,
    database: Database,
    clock: Clock,
    *,
    dry_run: bool = False,
    ledger: Ledger | None = None,
    tickets: TicketWriter | None = None,
    notifier: FollowupNotifier | None = None,
) -> dict[str, Any]:
    """The job the daemon runs after each sync: one follow-up pass; returns its summary."""
    if not settings.followups.enabled:
        return {"skipped": "followups.enabled is false"}
    if dry_run:
        # A dry run reads the store and the ledger only: no clients, no credentials needed.
        from deskbot.adapters.db.followups_store import SqlFollowupStore
        from deskbot.services.followups import FollowupService

        service = FollowupService(
            settings,
            SqlFollowupStore(database),
            ledger if ledger is not None else action_ledger(database, clock),
            tickets,
            notifier,
            clock,
        )
    else:
        service = followup_service(
            settings, database, clock, ledger=ledger, tickets=tickets, notifier=notifier
        )
    return service.run(dry_run=dry_run).as_dict()


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
