"""Composition root: the only module that knows which concrete adapters exist.

Commands and the daemon ask this module for ready-to-use services built from ``Settings``;
services never construct their own adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deskbot.adapters.db.directory import StoreDirectory
from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.adapters.slack import notifier as slack_notifier_module
from deskbot.adapters.slack.app import CurrentSettings, build_app, make_client
from deskbot.adapters.slack.digest_blocks import SlackDigestRenderer
from deskbot.adapters.slack.interactions import InteractionRegistry
from deskbot.adapters.slack.notifier import SlackNotifier
from deskbot.adapters.slack.server import SlackHandle, start_slack
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.domain.metrics import Window, parse_period
from deskbot.errors import ZendeskError
from deskbot.log import configure_logging
from deskbot.ports import (
    ActionLedger,
    Clock,
    KpiSource,
    Notifier,
    OutgoingMessage,
    StopEvent,
    SystemClock,
    ZendeskSource,
)
from deskbot.services.digests import DigestOutcome, DigestService, find_digest
from deskbot.services.providers import (
    ConfigReloader,
    ForecastProvider,
    SlackServices,
    SyncTrigger,
)
from deskbot.services.shoutouts import ShoutoutRun, ShoutoutService
from deskbot.services.sync import ProgressCallback, SyncService
from deskbot.settings import Settings, load_settings

if TYPE_CHECKING:
    from slack_sdk import WebClient

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
from deskbot.ports import AdminNotifier

if TYPE_CHECKING:
    from deskbot.daemon import Daemon
    from deskbot.jobs import JobSpec
    from deskbot.services.forecast import ForecastService
    from deskbot.services.forecast_post import ForecastPostOutcome


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


def zendesk_ticket_writer(
    settings: Settings, clock: Clock, stop_event: StopEvent | None = None
) -> ZendeskTicketWriter:
    """The follow-up writer: its calls spend the account budget this process's sync spends
    (same settings, clock and stop event → one shared ``RateLimiter``)."""
    from deskbot.adapters.zendesk.writer import ZendeskTicketWriter

    return ZendeskTicketWriter.from_settings(settings.zendesk, clock, stop_event)


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
    stop_event: StopEvent | None = None,
) -> FollowupService:
    """The follow-up service with real adapters, unless some are given (tests, demo)."""
    from deskbot.adapters.db.followups_store import SqlFollowupStore
    from deskbot.services.followups import FollowupService

    return FollowupService(
        settings,
        SqlFollowupStore(database),
        ledger if ledger is not None else action_ledger(database, clock),
        tickets if tickets is not None else zendesk_ticket_writer(settings, clock, stop_event),
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
    stop_event: StopEvent | None = None,
) -> dict[str, Any]:
    """The job the daemon runs after each sync: one follow-up pass; returns its summary.

    Give the daemon's ``stop_event`` (and clock): the writer then shares the sync's account
    budget and stops waiting on shutdown."""
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
            settings,
            database,
            clock,
            ledger=ledger,
            tickets=tickets,
            notifier=notifier,
            stop_event=stop_event,
        )
    return service.run(dry_run=dry_run).as_dict()


def slack_services(
    database: Database,
    settings: Settings | None = None,
    clock: Clock | None = None,
    *,
    reloader: ConfigReloader | None = None,
    current: Callable[[], Settings] | None = None,
    sync_trigger: SyncTrigger | None = None,
    sync_running: Callable[[], bool] | None = None,
) -> SlackServices:
    """What the Slack app may call: the directory and each sync stream's status (``sync``)
    always; with ``settings``, the KPI numbers (``me``/``stats``), bad ratings with their
    follow-ups (``csat``) and recent shout-outs (``hero``); ``reloader`` (the daemon) answers
    ``config reload``, ``sync_trigger`` (the daemon) ``sync now``, and ``sync_running`` says
    whether a sync is in flight. ``current`` returns the settings in force (after reloads);
    default: ``settings``."""
    from deskbot.services.slack_providers import StoreSyncStatus

    services = SlackServices(
        directory=StoreDirectory(database),
        config_reloader=reloader,
        sync_status=StoreSyncStatus(SqlSyncStore(database), sync_running),
        sync_trigger=sync_trigger,
    )
    if settings is None:
        return services
    from deskbot.adapters.db.followups_store import SqlBadRatings
    from deskbot.services.slack_providers import FollowupCsat, KpiStats, LedgerShoutouts

    clock = clock or SystemClock()
    fixed = settings
    settings_now = current or (lambda: fixed)
    kpi = kpi_source(database)
    services.stats = KpiStats(kpi, settings_now, clock)
    services.csat = FollowupCsat(SqlBadRatings(database, settings.zendesk.subdomain))
    services.shoutouts = LedgerShoutouts(action_ledger(database, clock), kpi, settings_now, clock)
    services.forecast = forecast_provider(database, settings_now, clock)
    return services


def followup_interactions(
    settings: Settings, database: Database, clock: Clock, client: WebClient
) -> InteractionRegistry:
    """The app's button and modal handlers: follow-up Claim / Handled (always registered; a
    click on an alert is answered even when follow-ups have since been switched off)."""
    from deskbot.adapters.db.followups_store import SqlFollowupStore
    from deskbot.adapters.slack.followup_handlers import register_followup_handlers
    from deskbot.adapters.slack.followup_notifier import SlackFollowupNotifier
    from deskbot.services.followups import FollowupService

    # Claims and the Handled modal touch the store and Slack only: no Zendesk credentials.
    service = FollowupService(
        settings,
        SqlFollowupStore(database),
        action_ledger(database, clock),
        None,
        SlackFollowupNotifier(client),
        clock,
    )
    registry = InteractionRegistry()
    register_followup_handlers(registry, service)
    return registry


def start_slack_app(
    settings: Settings,
    services: SlackServices,
    clock: Clock | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    work: BackgroundWork | None = None,
    database: Database | None = None,
    current: CurrentSettings | None = None,
) -> SlackHandle:
    """Build the Slack app and start receiving: Socket Mode or HTTP, as configured.

    Checks the bot token with ``auth.test`` first, so a bad token fails here, loudly.
    ``host``/``port`` override ``slack.http`` (tests use 127.0.0.1 and port 0); ``work`` is the
    pool for work after the acknowledgements (default: 4 threads), shut down by ``stop()``.
    With ``database``, the follow-up buttons and modal are handled too. ``current`` holds the
    settings in force (``set`` it after a reload).
    """
    clock = clock or SystemClock()
    work = work or BackgroundWork()
    client = make_client(settings)
    interactions = (
        followup_interactions(settings, database, clock, client) if database is not None else None
    )
    app = build_app(
        settings, client, services, clock, work=work, interactions=interactions, current=current
    )
    return start_slack(settings, app, host=host, port=port, work=work)


def attach_slack_app(
    daemon: Daemon, *, host: str | None = None, port: int | None = None
) -> SlackHandle | None:
    """``deskbot run``: start the Slack app beside the scheduler when ``slack.enabled``.

    ``/deskbot config reload`` reloads the daemon and ``/deskbot sync now`` runs its sync job
    (through the job runner, without waiting); every reload the daemon applies (SIGHUP,
    file change, the slash command) reaches the app's roles and roster; the app stops when
    the daemon starts shutting down."""
    settings = daemon.settings
    if not settings.slack.enabled:
        return None
    from deskbot.daemon import SYNC_JOB
    from deskbot.services.slack_providers import JobSyncTrigger

    current = CurrentSettings(settings)
    services = slack_services(
        daemon.database,
        settings,
        daemon.clock,
        reloader=daemon,
        current=current.get,
        sync_trigger=JobSyncTrigger(daemon, SYNC_JOB),
        sync_running=lambda: daemon.is_running(SYNC_JOB),
    )
    handle = start_slack_app(
        settings,
        services,
        daemon.clock,
        host=host,
        port=port,
        database=daemon.database,
        current=current,
    )
    daemon.on_reload(current.set)
    daemon.on_stop(handle.stop)
    return handle


class SlackAdminNotifier:
    """``AdminNotifier`` that posts plain text through ``SlackNotifier``."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    def post(self, channel: str, text: str) -> None:
        self._notifier.post_message(channel, OutgoingMessage(text))


def make_notifier(settings: Settings, clock: Clock | None = None) -> AdminNotifier:
    """Where admin notices (job failure alerts, rejected config reloads) go: the admin channel
    on Slack when Slack is enabled with a bot token, else the log (``admin.notice`` events)."""
    if settings.slack.enabled and settings.slack.bot_token is not None:
        return SlackAdminNotifier(slack_notifier(settings, clock))
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
    from deskbot.adapters.db.sync_store import SqlSyncStore
    from deskbot.daemon import Daemon
    from deskbot.jobs import job_table
    from deskbot.services.sync import stream_states

    def sync_freshness() -> datetime | None:
        """The stalest stream's last success: the sync is only as fresh as that."""
        times = [s.last_success_at for s in stream_states(SqlSyncStore(database))]
        return None if not times or None in times else min(t for t in times if t is not None)

    return Daemon(
        config_path=Path(config_path),
        settings=settings,
        database=database,
        sync_freshness=sync_freshness,
        ledger=SqlJobLedger(database),
        notifier=make_notifier(settings, clock),
        table=job_table() if table is None else table,
        clock=clock,
    )


@contextmanager
def using_database(settings: Settings, database: Database | None) -> Iterator[Database]:
    """``database`` as given, or one opened for ``settings`` and disposed of afterwards."""
    if database is not None:
        yield database
        return
    opened = open_database(settings)
    try:
        yield opened
    finally:
        opened.dispose()


def kpi_source(database: Database) -> KpiSource:
    """The KPI queries over this store."""
    return SqlKpiSource(database)


def action_ledger(database: Database, clock: Clock | None = None) -> ActionLedger:
    """The action ledger over this store."""
    return SqlActionLedger(database, clock)


def slack_notifier(settings: Settings, clock: Clock | None = None) -> Notifier:
    """Slack through slack_sdk, at ``slack.base_url`` when set (the sandbox)."""
    token = settings.slack.require_bot_token()
    client = slack_notifier_module.make_client(token, settings.slack.base_url, clock=clock)
    return SlackNotifier(
        client, clock=clock, messages_per_second=settings.slack.messages_per_second_per_channel
    )


def _posting_parts(
    settings: Settings, database: Database, notifier: Notifier | None, clock: Clock | None
) -> tuple[KpiSource, ActionLedger, Notifier, SlackDigestRenderer]:
    """What digests and shout-outs post with: KPIs, the ledger, Slack and the renderer."""
    return (
        kpi_source(database),
        action_ledger(database, clock),
        notifier if notifier is not None else slack_notifier(settings, clock),
        SlackDigestRenderer(),
    )


def digest_service(
    settings: Settings,
    database: Database,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
) -> DigestService:
    """Digests for these settings; ``notifier`` defaults to Slack (needs the bot token)."""
    return DigestService(settings, *_posting_parts(settings, database, notifier, clock))


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
    with using_database(settings, database) as store:
        service = digest_service(settings, store, notifier, clock)
        config = find_digest(settings, name)
        when = now or clock.now()
        if period is None:
            service.resume_unfinished(config, when)
        return service.post(config, when, period)


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
    return ShoutoutService(settings, *_posting_parts(settings, database, notifier, clock))


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
    with using_database(settings, database) as store:
        return shoutout_service(settings, store, notifier, clock).run_ratings(now or clock.now())


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
    with using_database(settings, database) as store:
        return shoutout_service(settings, store, notifier, clock).run_hero_of_the_week(
            now or clock.now()
        )


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


def forecast_service(settings: Settings, database: Database) -> ForecastService:
    """The staffing forecast over the local copy (``deskbot forecast``, Slack, weekly post)."""
    from deskbot.adapters.db.forecast_store import SqlForecastSource
    from deskbot.services.forecast import ForecastService

    return ForecastService(SqlForecastSource(database), settings)


def run_forecast_post(
    settings: Settings,
    now: datetime | None = None,
    *,
    database: Database | None = None,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
) -> ForecastPostOutcome:
    """Scheduler entry point: post this week's forecast once (a no-op when already posted)."""
    from deskbot.adapters.slack.forecast_blocks import SlackForecastRenderer
    from deskbot.services.forecast_post import ForecastPoster

    clock = clock or SystemClock()
    with using_database(settings, database) as store:
        poster = ForecastPoster(
            forecast_service(settings, store),
            action_ledger(store, clock),
            notifier or slack_notifier(settings, clock),
            SlackForecastRenderer(settings.tz),
            settings,
        )
        return poster.post(now or clock.now())


def forecast_provider(
    database: Database, settings: Callable[[], Settings], clock: Clock
) -> ForecastProvider:
    """``/deskbot forecast``: the forecast on the settings in force."""
    from deskbot.adapters.db.forecast_store import SqlForecastSource
    from deskbot.services.forecast import StoreForecast

    return StoreForecast(SqlForecastSource(database), settings, clock)
