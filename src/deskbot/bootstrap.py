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

from deskbot.domain.metrics import Window, parse_period
from deskbot.errors import DeskbotError
from deskbot.log import configure_logging
from deskbot.ports import (
    ActionLedger,
    Clock,
    KpiSource,
    Notifier,
    OutgoingMessage,
    PeopleDirectory,
    StopEvent,
    SystemClock,
    ZendeskSource,
)
from deskbot.settings import Settings, load_settings

# Vendor adapters (slack_bolt, slack_sdk, zenpy, APScheduler, SQLAlchemy) are imported inside
# the functions that build them, so that a short command (`deskbot health`, `report`, `jobs`)
# pays only for what it uses. Annotations only: TYPE_CHECKING.
if TYPE_CHECKING:
    from slack_sdk import WebClient

    from deskbot.adapters.db.store import Database
    from deskbot.adapters.slack.app import CurrentSettings
    from deskbot.adapters.slack.digest_blocks import SlackDigestRenderer
    from deskbot.adapters.slack.interactions import InteractionRegistry
    from deskbot.adapters.slack.server import SlackHandle
    from deskbot.adapters.slack.work import BackgroundWork
    from deskbot.services.digests import DigestOutcome, DigestService
    from deskbot.services.providers import ConfigReloader, SlackServices, SyncTrigger
    from deskbot.services.shoutouts import ShoutoutRun, ShoutoutService
    from deskbot.services.sync import ProgressCallback, SyncService

if TYPE_CHECKING:
    from deskbot.adapters.slack.followup_notifier import SlackFollowupNotifier
    from deskbot.adapters.zendesk.writer import ZendeskTicketWriter
    from deskbot.ports import PeopleDirectory
    from deskbot.services.followups import (
        FollowupNotifier,
        FollowupService,
        Ledger,
        TicketWriter,
    )
from deskbot.ports import AdminNotifier

if TYPE_CHECKING:
    from deskbot.daemon import Daemon
    from deskbot.jobs import JobSpec
    from deskbot.ports import PeopleDirectory
    from deskbot.services.calibration import CalibrationService
    from deskbot.services.calibration_dispatch import CalibrationDispatcher
    from deskbot.services.forecast import ForecastService
    from deskbot.services.forecast_post import ForecastPostOutcome
    from deskbot.services.nps import NpsService
    from deskbot.services.people import PeopleService, PeopleSource, RefreshResult
    from deskbot.services.providers import ForecastProvider
    from deskbot.services.qa import QaService


def load(config_path: Path | str, configure_logs: bool = False) -> Settings:
    """Load and validate the configuration (raises ``ConfigError`` listing every problem)."""
    settings = load_settings(config_path)
    if configure_logs:
        configure_logging(settings.logging.level, settings.logging.format)
    return settings


def open_database(settings: Settings, migrate: bool = True) -> Database:
    """The store for these settings, migrated to the current schema unless told otherwise."""
    from deskbot.adapters.db.store import Database

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
        stop_event=stop_event,
        people=people_directory(settings, database),
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
    from deskbot.adapters.db.directory import StoreDirectory
    from deskbot.adapters.db.sync_store import SqlSyncStore
    from deskbot.services.providers import SlackServices
    from deskbot.services.slack_providers import StoreSyncStatus

    people: PeopleDirectory | None = None
    if current is not None:  # roles resolved at every read from the settings in force
        people = people_directory(current, database)
    elif settings is not None:
        people = people_directory(settings, database)
    services = SlackServices(
        directory=StoreDirectory(database),
        people=people,
        config_reloader=reloader,
        sync_status=StoreSyncStatus(SqlSyncStore(database), sync_running),
        sync_trigger=sync_trigger,
    )
    if settings is None:
        return services
    from deskbot.adapters.db.followups_store import SqlBadRatings
    from deskbot.adapters.db.perf_kpi import SqlHeadlines
    from deskbot.services.perf_stats import HeadlineKpiStats
    from deskbot.services.slack_providers import FollowupCsat, LedgerShoutouts

    clock = clock or SystemClock()
    fixed = settings
    settings_now = current or (lambda: fixed)
    kpi = kpi_source(database)
    # me/stats: only the figures shown, identical questions share one computation (perf)
    services.stats = HeadlineKpiStats(SqlHeadlines(database), settings_now, clock)
    services.csat = FollowupCsat(SqlBadRatings(database, settings.zendesk.api_root))
    services.shoutouts = LedgerShoutouts(
        action_ledger(database, clock), kpi, settings_now, clock, services.people
    )
    calibration = calibration_service(settings, database, clock)
    services.calibration = calibration
    if settings.slack.enabled and settings.slack.bot_token is not None:
        posters: list[CalibrationDispatcher] = []

        def poster() -> CalibrationDispatcher:
            if not posters:  # built on first use: one notifier, one pacing memory
                posters.append(
                    calibration_dispatcher(settings, database, clock, service=calibration)
                )
            return posters[0]

        services.calibration_poster = poster
    from deskbot.adapters.db.qa_store import SqlQaStore
    from deskbot.services.qa import QaService

    services.qa = QaService(  # reports and task lists only: no Slack or Zendesk needed
        settings,
        SqlQaStore(database),
        services.people or people_directory(settings, database),
        action_ledger(database, clock),
        clock,
    )
    services.forecast = forecast_provider(database, settings_now, clock)
    if settings.nps.enabled:
        try:
            services.nps = nps_service(settings, database, clock, with_slack=False)
        except DeskbotError as exc:  # no sealing secret: /deskbot nps says "not available"
            log_nps_unavailable(str(exc))
    return services


def followup_interactions(
    settings: Settings,
    database: Database,
    clock: Clock,
    client: WebClient,
    people: PeopleDirectory | None = None,
) -> InteractionRegistry:
    """The app's button and modal handlers: follow-up Claim / Handled (always registered; a
    click on an alert is answered even when follow-ups have since been switched off).
    ``people`` resolves the clicking users (default: ``people_directory(settings, …)``)."""
    from deskbot.adapters.db.followups_store import SqlFollowupStore
    from deskbot.adapters.slack.followup_handlers import register_followup_handlers
    from deskbot.adapters.slack.followup_notifier import SlackFollowupNotifier
    from deskbot.adapters.slack.interactions import InteractionRegistry
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
    register_followup_handlers(
        registry, service, people if people is not None else people_directory(settings, database)
    )
    from deskbot.adapters.slack.calibration_handlers import register_calibration_handlers
    from deskbot.adapters.slack.notifier import SlackNotifier as _Notifier

    calibration = calibration_service(settings, database, clock)
    # One poster (and one notifier) for every click: its per-channel pacing must see them all.
    poster = calibration_dispatcher(
        settings, database, clock, notifier=_Notifier(client, clock=clock), service=calibration
    )
    register_calibration_handlers(registry, calibration, lambda: poster, settings.zendesk.api_root)
    from deskbot.adapters.slack.qa_handlers import register_qa_handlers

    register_qa_handlers(registry, qa_service(settings, database, clock, client=client))
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
    from deskbot.adapters.slack.app import build_app, make_client
    from deskbot.adapters.slack.server import start_slack
    from deskbot.adapters.slack.work import BackgroundWork

    clock = clock or SystemClock()
    work = work or BackgroundWork()
    client = make_client(settings)
    from deskbot.adapters.slack.scopes import log_missing_scopes

    log_missing_scopes(client)  # once per start: a missing scope is named, not discovered later
    people = services.people
    if people is None and database is not None:
        held = current
        people = people_directory(held.get if held is not None else settings, database)
        services.people = people  # commands and buttons resolve actors alike
    interactions = (
        followup_interactions(settings, database, clock, client, people)
        if database is not None
        else None
    )
    if interactions is not None and database is not None and settings.nps.enabled:
        nps_interactions(interactions, settings, database, clock, client)
    # Replay and retry keys shared by every replica on this database (issue 13).
    replay_store = None
    if database is not None:
        from deskbot.adapters.db.replay_store import SqlReplayStore

        replay_store = SqlReplayStore(database)
    app = build_app(
        settings,
        client,
        services,
        clock,
        work=work,
        interactions=interactions,
        current=current,
        replay_store=replay_store,
    )
    return start_slack(settings, app, host=host, port=port, work=work, clock=clock)


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
    from deskbot.adapters.slack.app import CurrentSettings
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
    from deskbot.adapters.log_notifier import LogNotifier

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

    daemon = Daemon(
        config_path=Path(config_path),
        settings=settings,
        database=database,
        sync_freshness=sync_freshness,
        ledger=SqlJobLedger(database),
        notifier=make_notifier(settings, clock),
        table=job_table() if table is None else table,
        clock=clock,
    )
    # Departments and overrides may have changed: refresh the people directory (when scheduled).
    daemon.on_reload(lambda _new: refresh_people_after_reload(daemon))
    return daemon


def refresh_people_after_reload(daemon: Daemon) -> None:
    from deskbot.jobs import PEOPLE_JOB

    if PEOPLE_JOB in daemon.jobs:
        daemon.run_job_now(PEOPLE_JOB, "config reload")


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
    from deskbot.adapters.db.kpi import SqlKpiSource

    return SqlKpiSource(database)


def action_ledger(database: Database, clock: Clock | None = None) -> ActionLedger:
    """The action ledger over this store."""
    from deskbot.adapters.db.ledger import SqlActionLedger

    return SqlActionLedger(database, clock)


def slack_notifier(settings: Settings, clock: Clock | None = None) -> Notifier:
    """Slack through slack_sdk, at ``slack.base_url`` when set (the sandbox)."""
    from deskbot.adapters.slack import notifier as slack_notifier_module
    from deskbot.adapters.slack.notifier import SlackNotifier

    token = settings.slack.require_bot_token()
    client = slack_notifier_module.make_client(token, settings.slack.base_url, clock=clock)
    return SlackNotifier(
        client, clock=clock, messages_per_second=settings.slack.messages_per_second_per_channel
    )


def _posting_parts(
    settings: Settings, database: Database, notifier: Notifier | None, clock: Clock | None
) -> tuple[KpiSource, ActionLedger, Notifier, SlackDigestRenderer]:
    """What digests and shout-outs post with: KPIs, the ledger, Slack and the renderer."""
    from deskbot.adapters.slack.digest_blocks import SlackDigestRenderer

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
    from deskbot.csat_wiring import csat_unavailable_reader
    from deskbot.services.digests import DigestService

    return DigestService(
        settings,
        *_posting_parts(settings, database, notifier, clock),
        csat_unavailable=csat_unavailable_reader(database),
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
    from deskbot.services.digests import find_digest

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
    """Shout-outs for these settings; ``notifier`` defaults to Slack (needs the bot token).
    Agents' Slack users come from the people directory (``roster.agents`` winning)."""
    from deskbot.services.shoutouts import ShoutoutService

    return ShoutoutService(
        settings,
        *_posting_parts(settings, database, notifier, clock),
        people=people_directory(settings, database),
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
    from deskbot.adapters.db.rollups import SqlRollups
    from deskbot.adapters.db.sync_store import SqlSyncStore
    from deskbot.adapters.zendesk.client import ZendeskClient
    from deskbot.services.sync import SyncService

    source = client or ZendeskClient.from_settings(settings.zendesk, clock, stop_event)
    service = SyncService(
        source,
        SqlSyncStore(database),
        clock,
        page_size=settings.sync.page_size,
        start_date=settings.sync.start_date,
        ratings_overlap_minutes=settings.sync.ratings_overlap_minutes,
        stop_event=stop_event,
        rollups=SqlRollups(database),
        timezone=settings.timezone,
    )
    if isinstance(source, ZendeskClient):  # a fake ZendeskSource keeps the legacy stream only
        from deskbot.csat_wiring import csat_sync

        service.csat = csat_sync(settings, database, source, clock, service.start_time, stop_event)
    return service


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
    from deskbot.errors import ZendeskError

    result = sync_service(settings, database, clock, stop_event).run(full=full, progress=progress)
    summary = result.summary()
    if raise_on_error and not result.ok:
        failed = "; ".join(f"{s.stream}: {s.error}" for s in result.streams if s.error)
        raise ZendeskError(f"sync failed: {failed}")
    return summary


# --------------------------------------------------------------------------------------------
# QA calibration
# --------------------------------------------------------------------------------------------


def calibration_service(settings: Settings, database: Database, clock: Clock) -> CalibrationService:
    """``CalibrationService`` over the SQL store, the directory and ``qa.calibration``."""
    from deskbot.adapters.db.calibration_store import SqlCalibrationStore, SqlCalibrationTickets
    from deskbot.services.calibration import CalibrationOptions
    from deskbot.services.calibration import CalibrationService as Service

    qa = settings.qa
    options = CalibrationOptions(
        tickets=qa.calibration_tickets,
        calibrators=tuple(qa.calibrators),
        calibrators_department=qa.calibration.department,
        deadline_days=qa.calibration.deadline_days,
        acceptable_variance=qa.calibration.acceptable_variance,
        lookback_days=qa.calibration.lookback_days,
        seed=qa.seed,
        bootstrap_draws=qa.calibration.bootstrap_draws,
    )
    return Service(
        SqlCalibrationStore(database),
        SqlCalibrationTickets(database),
        people_directory(settings, database),
        clock,
        options,
    )


def calibration_dispatcher(
    settings: Settings,
    database: Database,
    clock: Clock,
    *,
    notifier: Notifier | None = None,
    service: CalibrationService | None = None,
) -> CalibrationDispatcher:
    """Posts invitations, results and lessons exactly once (``CalibrationDispatcher``)."""
    from deskbot.adapters.slack.calibration_handlers import SlackCalibrationRenderer
    from deskbot.services.calibration_dispatch import CalibrationDispatcher

    channel = settings.qa.calibration.channel or settings.slack.channels.digests
    service = service or calibration_service(settings, database, clock)
    directory = service.directory

    def name_of(slack_id: str) -> str:
        person = directory.by_slack_id(slack_id)
        return person.name if person is not None else slack_id

    return CalibrationDispatcher(
        service,
        action_ledger(database, clock),
        notifier or slack_notifier(settings, clock),
        SlackCalibrationRenderer(settings.zendesk.api_root, name_of),
        channel,
    )


def run_calibration(
    settings: Settings,
    database: Database,
    clock: Clock,
    *,
    notifier: Notifier | None = None,
) -> dict[str, int]:
    """The ``qa_calibration`` pass: invitations, closing, results and lessons, each once."""
    return dict(
        calibration_dispatcher(settings, database, clock, notifier=notifier).run().summary()
    )


def start_scheduled_calibration(
    settings: Settings, database: Database, clock: Clock, fire_time: datetime
) -> dict[str, Any]:
    """The ``qa_calibration_session`` job: one session per scheduled fire time (across
    replicas), facilitated by ``qa.calibration.facilitator`` (default the first calibrator)."""
    from deskbot.services.calibration import CalibrationError

    service = calibration_service(settings, database, clock)
    key = f"scheduled:{fire_time.astimezone(settings.tz):%Y-%m-%dT%H:%M}"
    try:
        session, created = service.start(
            None,
            schedule_key=key,
            facilitator=settings.qa.calibration.facilitator,
            title=f"Calibration {fire_time.astimezone(settings.tz):%B %Y}",
        )
    except CalibrationError as exc:
        return {"created": False, "skipped": str(exc)}
    return {"created": created, "session": session.id, "tickets": len(session.tickets)}


# People directory
# --------------------------------------------------------------------------------------------


def people_directory(
    settings: Settings | Callable[[], Settings], database: Database
) -> PeopleDirectory:
    """Who is who: the synced directory (``people`` tables) once a refresh has filled it.

    Before the first refresh (empty table), or with ``people.enabled: false``, the YAML roster
    alone answers (``services.roster_directory``), so existing configurations keep working.
    ``settings`` may be a callable returning the settings in force (after reloads): roles are
    resolved from it at every read.
    """
    from deskbot.adapters.db.people_store import SqlPeopleDirectory, SqlPeopleStore
    from deskbot.services.people import FallbackDirectory

    fixed = settings
    current: Callable[[], Settings] = fixed if callable(fixed) else lambda: fixed
    return FallbackDirectory(
        SqlPeopleDirectory(database, current), SqlPeopleStore(database).is_empty, current
    )


def people_service(
    settings: Settings, database: Database, clock: Clock, source: PeopleSource | None = None
) -> PeopleService:
    """The directory refresh wired to Slack (``slack.base_url`` honoured) and the store; with
    Zendesk credentials it lists the agents live from Zendesk (else the sync's local copy)."""
    from deskbot.adapters.db.people_store import SqlPeopleStore
    from deskbot.services.people import PeopleService

    if source is None:
        from deskbot.adapters.slack.people_source import SlackPeopleSource

        source = SlackPeopleSource.from_token(
            settings.slack.require_bot_token(),
            settings.slack.base_url,
            clock,
            settings.people.page_size,
        )
    staff = None
    if settings.zendesk.email is not None and settings.zendesk.api_token is not None:
        from deskbot.adapters.zendesk.client import ZendeskClient
        from deskbot.adapters.zendesk.people_staff import ZendeskStaffSource

        staff = ZendeskStaffSource(ZendeskClient.from_settings(settings.zendesk, clock))
    return PeopleService(settings, SqlPeopleStore(database), source, clock, staff)


def run_people(settings: Settings, database: Database, clock: Clock | None = None) -> RefreshResult:
    """The ``people`` job and ``deskbot people sync``: one directory refresh."""
    return people_service(settings, database, clock or SystemClock()).refresh()


# -- agent QA (docs/qa.md) -------------------------------------------------------------------


def qa_service(
    settings: Settings,
    database: Database,
    clock: Clock | None = None,
    *,
    client: WebClient | None = None,
    directory: PeopleDirectory | None = None,
    notifier: Notifier | None = None,
    stop_event: StopEvent | None = None,
) -> QaService:
    """The QA service with real adapters: Slack when enabled (``client`` or one from the
    settings), Zendesk comments when credentials are set, shout-outs through their caps."""
    from deskbot.adapters.db.qa_store import SqlQaStore
    from deskbot.services.qa import CommentSource, QaService

    clock = clock or SystemClock()
    people = directory if directory is not None else people_directory(settings, database)
    slack = None
    hero = None
    if settings.slack.enabled and (client is not None or settings.slack.bot_token is not None):
        from deskbot.adapters.slack.app import make_client
        from deskbot.adapters.slack.notifier import SlackNotifier
        from deskbot.adapters.slack.qa_charts import report_chart
        from deskbot.adapters.slack.qa_notifier import SlackQa

        web = client if client is not None else make_client(settings, clock)

        def name_of(agent_id: int) -> str:
            person = people.by_zendesk_id(agent_id)
            return person.name if person is not None else f"agent {agent_id}"

        slack = SlackQa(
            web,
            api_root=settings.zendesk.api_root,
            clock=clock,
            names=name_of,
            messages_per_second=settings.slack.messages_per_second_per_channel,
            chart=lambda report: report_chart(report, team_only=True),
        )
        hero = shoutout_service(
            settings,
            database,
            notifier if notifier is not None else SlackNotifier(web, clock=clock),
            clock,
        )
    comments: CommentSource | None = None
    if settings.zendesk.email is not None and settings.zendesk.api_token is not None:
        from deskbot.adapters.zendesk.qa_comments import ZendeskComments

        comments = ZendeskComments.from_settings(settings.zendesk, clock, stop_event)
    return QaService(
        settings,
        SqlQaStore(database),
        people,
        action_ledger(database, clock),
        clock,
        slack=slack,
        comments=comments,
        hero=hero,
    )


def run_qa_cycle(
    settings: Settings, database: Database, clock: Clock, stop_event: StopEvent | None = None
) -> dict[str, Any]:
    """Scheduler entry point (``schedules.qa_cycle``): draw, DM, remind, digest — each once."""
    service = qa_service(settings, database, clock, stop_event=stop_event)
    return service.run_cycle(service.build)


# --------------------------------------------------------------------------------------------
# Internal NPS
# --------------------------------------------------------------------------------------------


NPS_SECRET_ENV = "DESKBOT_NPS_SECRET"  # noqa: S105 (the variable name, not a secret)


def log_nps_unavailable(reason: str) -> None:
    from deskbot.log import get_logger

    get_logger(__name__).warning("nps.unavailable", reason=reason)


def nps_secret(settings: Settings) -> str:
    """The secret NPS boxes and reply routes are sealed with: ``DESKBOT_NPS_SECRET``, else the
    Slack signing secret, else the bot token (never stored in the database). Changing it while
    a round is open makes that round's sealed answers unreadable (docs/nps.md)."""
    import os

    for value in (
        os.environ.get(NPS_SECRET_ENV),
        settings.slack.signing_secret.get_secret_value() if settings.slack.signing_secret else None,
        settings.slack.bot_token.get_secret_value() if settings.slack.bot_token else None,
    ):
        if value and len(value) >= 16:
            return value
    raise DeskbotError(
        f"internal NPS needs a secret to seal answers: set {NPS_SECRET_ENV} (32+ random "
        "characters) or the Slack signing secret"
    )


def nps_service(
    settings: Settings,
    database: Database,
    clock: Clock | None = None,
    *,
    client: WebClient | None = None,
    directory: PeopleDirectory | None = None,
    ledger: ActionLedger | None = None,
    with_slack: bool = True,
) -> NpsService:
    """The NPS service with its store, directory, ledger and (when Slack is configured) its
    messenger, promoter-story hook and chart renderer."""
    from deskbot.adapters.db.nps_store import Sealer, SqlNpsStore
    from deskbot.adapters.slack.nps_charts import render_nps_chart
    from deskbot.services.nps import NpsService

    clock = clock or SystemClock()
    messenger = None
    stories = None
    if with_slack and settings.slack.enabled and settings.slack.bot_token is not None:
        from deskbot.adapters.slack.app import make_client
        from deskbot.adapters.slack.nps_notifier import SlackNpsMessenger

        messenger = SlackNpsMessenger(client or make_client(settings, clock), clock)
        shout = settings.shoutouts
        if shout.enabled and (shout.channel or settings.slack.channels.shoutouts):
            stories = shoutout_service(settings, database, clock=clock).shout_out_nps_story
    return NpsService(
        settings,
        SqlNpsStore(database, Sealer(nps_secret(settings))),
        directory if directory is not None else people_directory(settings, database),
        ledger if ledger is not None else action_ledger(database, clock),
        clock,
        messenger,
        stories=stories,
        chart=render_nps_chart,
    )


def run_nps_round(
    settings: Settings,
    database: Database,
    clock: Clock,
    fire_time: datetime,
    stop_event: StopEvent | None = None,
) -> dict[str, Any]:
    """The ``nps_round`` job: plan and persist the round for ``fire_time`` (once across
    replicas), then send what is due now (the rest goes out with later ticks)."""
    service = nps_service(settings, database, clock)
    plan, created = service.start_round(fire_time)
    tick = service.tick(stop_event)
    return {
        "round": plan.round_id,
        "created": created,
        "asks": len(plan.asks),
        "per_department": plan.counts(),
        "tick": tick.as_dict(),
    }


def run_nps_tick(
    settings: Settings, database: Database, clock: Clock, stop_event: StopEvent | None = None
) -> dict[str, Any]:
    """The ``nps_reminders`` job: due asks (paced), reminders, expiries, releases."""
    return nps_service(settings, database, clock).tick(stop_event).as_dict()


def run_nps_summary(
    settings: Settings, database: Database, clock: Clock, fire_time: datetime
) -> dict[str, Any]:
    """The ``nps_summary`` job: each department's released results to its owner."""
    return {"posted": nps_service(settings, database, clock).summary_for_owners(fire_time)}


def nps_interactions(
    registry: InteractionRegistry,
    settings: Settings,
    database: Database,
    clock: Clock,
    client: WebClient,
) -> None:
    """Register the NPS buttons and modals (answers, comments, replies, discussed)."""
    from deskbot.adapters.slack.nps_handlers import register_nps_handlers
    from deskbot.adapters.slack.nps_notifier import SlackNpsMessenger

    service = nps_service(settings, database, clock, client=client)
    messenger = service.messenger
    assert isinstance(messenger, SlackNpsMessenger)
    register_nps_handlers(registry, service, messenger)


# --------------------------------------------------------------------------------------------
# Staffing forecast
# --------------------------------------------------------------------------------------------


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
