"""The job table and the one runner that owns timing, run history and failure handling.

A job is a small function ``(JobContext) -> dict | None`` (the dict is its summary, stored as
JSON in the run history). Wiring a job into the daemon is one line in ``JOBS``::

    JobSpec("sync", schedule=lambda s: s.schedules.sync, run=sync_job),

``schedule`` reads a 5-field cron string from the settings (``None`` disables the job); it may
also return a mapping ``{variant: cron}`` for a family of jobs, one per configured item::

    JobSpec("digest", schedule=lambda s: {d.name: d.schedule for d in s.digests}, run=digest_job),

which schedules ``digest:<name>`` for every digest; ``ctx.variant`` says which one is running.
Cron strings are evaluated in ``settings.timezone``.

Packages outside deskbot can add jobs through the ``deskbot.jobs`` entry-point group (each entry
point names a ``JobSpec`` or a sequence of them).

``JobRunner`` (Home Assistant's update-coordinator idiom) is the only code that starts a job:
it takes the job's mutex (``job_mutex``: one run of a job at a time across every process,
expiry on the database's clock, a fence through ``ctx.stop``), claims the trigger in the
shared ``JobLedger`` (so a trigger runs once across replicas),
keeps the claim's lease alive, records the outcome, logs once when a job starts failing and once
when it recovers, and alerts the admin channel after ``daemon.failure_alert_after`` consecutive
failures. A job honours shutdown by checking ``ctx.stop`` (or calling ``ctx.check_stop()``,
which raises ``JobInterrupted``); the run is then recorded as ``abandoned``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from deskbot import metrics_registry as metrics
from deskbot.errors import DeskbotError, StoreError
from deskbot.log import get_logger, redact_text
from deskbot.ports import AdminNotifier, Clock, JobClaim, JobLedger, StopEvent
from deskbot.settings import Settings

if TYPE_CHECKING:  # imported where used: `deskbot report`/`health` never load APScheduler
    from apscheduler.triggers.cron import CronTrigger

    from deskbot.adapters.db.job_mutex import FencedStop, SqlJobMutex
    from deskbot.adapters.db.store import Database

log = get_logger(__name__)

ENTRY_POINT_GROUP = "deskbot.jobs"
# An interrupted trigger is run again by the next instance only if it fired this recently: after
# a long outage, yesterday's digest or sync is stale, and the schedule's next fire does better.
TAKEOVER_WINDOW = timedelta(hours=24)
_MAX_ERROR_CHARS = 2000


class JobInterrupted(Exception):
    """Raised by a job that stops early because the daemon is shutting down."""


@dataclass(frozen=True)
class JobContext:
    """Everything a job may use. Jobs build their services from ``settings`` and ``database``."""

    job: str  # the scheduled job's id, e.g. "sync" or "digest:daily-ops"
    variant: str | None  # for a family of jobs: which item (e.g. the digest's name)
    settings: Settings
    database: Database
    clock: Clock
    stop: StopEvent
    fire_time: datetime  # the scheduled time this run stands for (aware)
    trigger_key: str
    notifier: AdminNotifier
    # Runs another scheduled job right now, through the runner (claim, lease, one at a time,
    # run history); ``None`` when that job is not scheduled under the current settings. Set
    # when the runner knows the job table (the daemon, ``deskbot jobs run``).
    run_job: Callable[[str], RunResult | None] | None = None

    def check_stop(self) -> None:
        """Raise ``JobInterrupted`` if shutdown was requested (call between units of work)."""
        if self.stop.is_set():
            from deskbot.adapters.db.job_mutex import FencedStop

            if isinstance(self.stop, FencedStop) and self.stop.lost.is_set():
                raise JobInterrupted(
                    f"{self.job} stopped: it lost its job mutex (another process took it over)"
                )
            raise JobInterrupted(f"{self.job} stopped: the daemon is shutting down")


JobFunction = Callable[[JobContext], Mapping[str, Any] | None]
ScheduleFunction = Callable[[Settings], str | Mapping[str, str] | None]


@dataclass(frozen=True)
class JobSpec:
    """One row of the job table: a name, where its schedule comes from, and what it runs."""

    name: str
    schedule: ScheduleFunction
    run: JobFunction
    description: str = ""


@dataclass(frozen=True)
class ScheduledJob:
    """A job table row resolved against the current settings: one cron trigger."""

    id: str
    spec: JobSpec
    cron: str
    variant: str | None = None

    def trigger(self, tz: ZoneInfo) -> CronTrigger:
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.cron, timezone=tz)


# --------------------------------------------------------------------------------------------
# Triggers and keys
# --------------------------------------------------------------------------------------------


def resolve_jobs(table: Iterable[JobSpec], settings: Settings) -> list[ScheduledJob]:
    """The jobs these settings enable, in table order. Duplicate ids are an error."""
    out: list[ScheduledJob] = []
    for spec in table:
        schedule = spec.schedule(settings)
        if schedule is None:
            continue
        if isinstance(schedule, str):
            out.append(ScheduledJob(spec.name, spec, schedule))
        else:
            out.extend(
                ScheduledJob(f"{spec.name}:{variant}", spec, cron, variant)
                for variant, cron in schedule.items()
            )
    seen: set[str] = set()
    for job in out:
        if job.id in seen:
            raise DeskbotError(f"two scheduled jobs are both called {job.id!r}; rename one")
        seen.add(job.id)
    return out


def is_fixed_time(cron: str) -> bool:
    """True when the cron names fixed minutes *and* hours (like ``30 2 * * *``).

    As in Vixie cron, a fixed-time job runs once per wall-clock time: when the clocks go back
    and 02:30 happens twice, it runs the first time only. A job with a wildcard or step in its
    minute or hour field (``*/5 * * * *``) runs by elapsed time, in both copies of the hour.
    """
    minute, hour = cron.split()[:2]
    return not any(c in minute + hour for c in "*/")


def trigger_key(cron: str, fire_time: datetime, tz: ZoneInfo) -> str:
    """The identity of one scheduled fire, identical on every replica with the same config."""
    if is_fixed_time(cron):
        local = fire_time.astimezone(tz).replace(tzinfo=None)
        return f"{local.isoformat(timespec='minutes')}[{tz.key}]"
    return fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_fire_time(trigger: CronTrigger, now: datetime, grace_seconds: float) -> datetime:
    """The scheduled time a run started at ``now`` stands for: the latest fire time not after
    ``now`` within the misfire grace window (APScheduler does not pass it to the function).
    Coalesced misfires collapse onto the latest one, as APScheduler runs them."""
    cursor = now - timedelta(seconds=grace_seconds)
    latest: datetime | None = None
    previous: datetime | None = None
    candidate = trigger.get_next_fire_time(None, cursor)
    while candidate is not None and candidate <= now:
        latest = previous = candidate
        candidate = trigger.get_next_fire_time(previous, candidate)
    return latest or now.replace(second=0, microsecond=0)


def next_fire_times(job: ScheduledJob, tz: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after`` (for ``deskbot jobs``)."""
    trigger = job.trigger(tz)
    out: list[datetime] = []
    previous: datetime | None = None
    now = after + timedelta(microseconds=1)
    while len(out) < count:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        out.append(fire)
        previous = now = fire
    return out


# --------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    job: str
    trigger_key: str
    # ok / failed / abandoned: the run happened and is recorded. claimed_elsewhere / busy /
    # running_elsewhere (another process holds the job's mutex) / stopping: it did not start.
    # lease_lost / store_unavailable: it ran, could not be recorded.
    outcome: str
    run_id: int | None = None
    summary: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass
class _Active:
    claim: JobClaim
    done: threading.Event = field(default_factory=threading.Event)


def default_instance_name() -> str:
    """``host:pid:random`` — unique per process, readable in the run history."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobRunner:
    """Runs scheduled jobs: claim, lease, run, record, log transitions, alert."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        ledger: JobLedger,
        clock: Clock,
        stop: StopEvent,
        notifier: AdminNotifier,
        instance: str | None = None,
        heartbeat: bool = True,
        heartbeat_seconds: float | None = None,
        jobs: Callable[[], Mapping[str, ScheduledJob]] | None = None,
        mutex: SqlJobMutex | None = None,
    ) -> None:
        self.settings = settings
        # One run of a job at a time across processes (issue 13), on the database's clock.
        if mutex is None:
            from deskbot.adapters.db.job_mutex import SqlJobMutex

            mutex = SqlJobMutex(database)
        self.mutex = mutex
        self._jobs = jobs  # the scheduled jobs in force (for ``JobContext.run_job``)
        self.database = database
        self.ledger = ledger
        self.clock = clock
        self.stop = stop
        self.notifier = notifier
        self.instance = instance or default_instance_name()
        self._heartbeat_enabled = heartbeat
        # Renew well before expiry: a third of the lease leaves two missed beats of slack.
        self._heartbeat_seconds = heartbeat_seconds
        self._lock = threading.Lock()
        self._job_locks: dict[str, threading.Lock] = {}
        self._active: dict[int, _Active] = {}
        self._store_failing: set[str] = set()

    def update_settings(self, settings: Settings) -> None:
        """Use new settings for runs that start from now on (hot reload)."""
        self.settings = settings

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.daemon.lease_seconds)

    def active_runs(self) -> list[JobClaim]:
        with self._lock:
            return [a.claim for a in self._active.values()]

    # -- entry points -----------------------------------------------------------------------

    def run_scheduled(self, job: ScheduledJob) -> RunResult:
        """Called by the scheduler when ``job`` fires: works out which fire this is, runs it."""
        from deskbot import fire_time as scheduled  # APScheduler: only when a job runs

        fire = scheduled.current()  # APScheduler's scheduled_run_time: the same on every replica
        if fire is None:  # called outside the scheduler's executor: work it out from the clock
            fire = scheduled_fire_time(
                job.trigger(self.settings.tz),
                self.clock.now(),
                self.settings.daemon.misfire_grace_seconds,
            )
        return self.run(job, fire)

    def run_now(self, job: ScheduledJob) -> RunResult:
        """An unscheduled run (``deskbot run --now``, ``deskbot jobs run``): its own trigger."""
        now = self.clock.now()
        key = f"manual:{now.strftime('%Y-%m-%dT%H:%M:%S')}:{uuid.uuid4().hex[:8]}"
        return self.run(job, now, key)

    def _run_follow_on(self, job_id: str) -> RunResult | None:
        """``JobContext.run_job``: run the scheduled job ``job_id`` now, in this thread."""
        job = self._jobs().get(job_id) if self._jobs is not None else None
        return self.run_now(job) if job is not None else None

    def take_over_expired(self, jobs: Mapping[str, ScheduledJob]) -> list[RunResult]:
        """Run triggers whose holder died or was stopped before finishing.

        Every unfinished trigger is a candidate; the job mutex decides: a live holder (by the
        database's clock, or its process still there) keeps it, and the candidate is left
        alone (``running_elsewhere``). A holder killed with -9 frees the mutex at once."""
        results = []
        now = self.clock.now()
        mine = {(c.job, c.trigger_key) for c in self.active_runs()}
        for job_id, key, fire_time in self.ledger.unfinished_leases(now - TAKEOVER_WINDOW):
            job = jobs.get(job_id)
            if job is None or self.stop.is_set() or (job_id, key) in mine:
                continue
            results.append(self.run(job, fire_time, key, sweep=True))
        return results

    def run(
        self,
        job: ScheduledJob,
        fire_time: datetime,
        key: str | None = None,
        *,
        sweep: bool = False,
    ) -> RunResult:
        """Run ``job`` for one trigger, unless another replica has it or the job is already
        running here or in any other process (its job mutex, issue 13)."""
        key = key or trigger_key(job.cron, fire_time, self.settings.tz)
        if self.stop.is_set():
            return RunResult(job.id, key, "stopping")
        with self._lock:
            job_lock = self._job_locks.setdefault(job.id, threading.Lock())
        if not job_lock.acquire(blocking=False):
            if sweep:  # an older unfinished trigger while the job runs here: next sweep
                log.debug("job.busy", job=job.id, trigger=key)
                return RunResult(job.id, key, "busy")
            log.info("job.busy", job=job.id, trigger=key)
            metrics.JOB_SKIPPED.labels(job=job.id).inc()
            return RunResult(job.id, key, "busy")
        try:
            return self._run_exclusive(job, fire_time, key, sweep)
        finally:
            job_lock.release()

    def _run_exclusive(
        self, job: ScheduledJob, fire_time: datetime, key: str, sweep: bool
    ) -> RunResult:
        """Under the job's mutex: one run of the job at a time across every process."""
        from deskbot.adapters.db.job_mutex import MutexHolder

        holder = MutexHolder(
            self.mutex,
            job.id,
            self.instance,
            self.settings.daemon.lease_seconds,
            self.stop,
            renew_seconds=self._heartbeat_seconds,
            beat=self._heartbeat_enabled,
        )
        try:
            holder.__enter__()
        except StoreError as exc:
            self._store_trouble(job.id, exc)
            return RunResult(job.id, key, "store_unavailable", error=str(exc))
        if holder.hold is None:
            (log.debug if sweep else log.info)("job.running_elsewhere", job=job.id, trigger=key)
            if sweep:
                return RunResult(job.id, key, "running_elsewhere")
            metrics.JOB_SKIPPED.labels(job=job.id).inc()
            try:
                info = self.mutex.holder(job.id)
            except Exception:  # only for the message
                info = None
            where = f" ({info.holder})" if info is not None else ""
            return RunResult(
                job.id,
                key,
                "running_elsewhere",
                error=f"a {job.id} run is already in progress in another process{where}",
            )
        try:
            return self._run_claimed(job, fire_time, key, holder.stop)
        finally:
            holder.__exit__()

    # -- the run itself ---------------------------------------------------------------------

    def _run_claimed(
        self, job: ScheduledJob, fire_time: datetime, key: str, stop: FencedStop
    ) -> RunResult:
        claim = self._claim(job, fire_time, key)
        if isinstance(claim, RunResult):
            return claim
        active = _Active(claim)
        with self._lock:
            self._active[claim.run_id] = active
        beat = None
        if self._heartbeat_enabled:
            beat = threading.Thread(
                target=self._heartbeat, args=(active,), name=f"lease:{job.id}", daemon=True
            )
            beat.start()
        log.info("job.started", job=job.id, trigger=key, run_id=claim.run_id)
        started = self.clock.monotonic()
        context = JobContext(
            job=job.id,
            variant=job.variant,
            settings=self.settings,
            database=self.database,
            clock=self.clock,
            stop=stop,
            fire_time=fire_time,
            trigger_key=key,
            notifier=self.notifier,
            run_job=self._run_follow_on if self._jobs is not None else None,
        )
        try:
            outcome, summary, error, failure = self._execute(job, context, stop)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: record, then let it go
            active.done.set()
            self._record(claim, "abandoned", f"interrupted by {type(exc).__name__}", None)
            raise
        finally:
            active.done.set()
            if beat is not None:
                beat.join(timeout=5)
        recorded = self._record(claim, outcome, error, summary)
        duration = self.clock.monotonic() - started
        metrics.JOB_DURATION.labels(job=job.id).set(duration)
        if recorded != "recorded":
            return RunResult(job.id, key, recorded, claim.run_id, summary, error)
        metrics.JOB_RUNS.labels(job=job.id, outcome=outcome).inc()
        if outcome == "abandoned":
            log.warning("job.abandoned", job=job.id, trigger=key, reason=error)
        else:
            self._after_run(job.id, outcome, error, failure, duration)
        return RunResult(job.id, key, outcome, claim.run_id, summary, error)

    def _claim(self, job: ScheduledJob, fire_time: datetime, key: str) -> JobClaim | RunResult:
        """The claim on this trigger, or the result saying why the run does not start."""
        now = self.clock.now()
        try:
            claim = self.ledger.claim(
                job.id,
                key,
                fire_time=fire_time,
                instance=self.instance,
                now=now,
                expires_at=now + self.lease,
                # We hold the job's mutex: whoever else left this trigger unfinished is gone.
                takeover=True,
            )
        except StoreError as exc:
            self._store_trouble(job.id, exc)
            return RunResult(job.id, key, "store_unavailable", error=str(exc))
        self._store_fine(job.id)
        if claim is None:
            log.debug("job.claimed_elsewhere", job=job.id, trigger=key)
            metrics.JOB_SKIPPED.labels(job=job.id).inc()
            return RunResult(job.id, key, "claimed_elsewhere")
        if claim.took_over_from:
            log.warning("job.taken_over", job=job.id, trigger=key, previous=claim.took_over_from)
        return claim

    def _record(
        self,
        claim: JobClaim,
        outcome: str,
        error: str | None,
        summary: Mapping[str, Any] | None,
    ) -> str:
        """Write the run's end: ``recorded``, ``lease_lost`` or ``store_unavailable``."""
        detail = json.dumps(summary, default=str, sort_keys=True) if summary else None
        try:
            recorded = self.ledger.finish(claim, outcome, self.clock.now(), error, detail)
        except StoreError as exc:
            # The lease will expire unrenewed and the trigger be run again: better twice than
            # a run nobody can account for.
            self._store_trouble(claim.job, exc)
            return "store_unavailable"
        finally:
            with self._lock:
                self._active.pop(claim.run_id, None)
        if recorded:
            return "recorded"
        log.warning(
            "job.lease_lost",
            job=claim.job,
            trigger=claim.trigger_key,
            outcome=outcome,
            hint="the run was already recorded (abandoned at shutdown) or another replica "
            "took the trigger over; raise daemon.lease_seconds if this job can block longer "
            "than the lease",
        )
        return "lease_lost"

    def _execute(
        self, job: ScheduledJob, context: JobContext, stop: StopEvent
    ) -> tuple[str, Mapping[str, Any] | None, str | None, Exception | None]:
        """(outcome, summary, error text, exception) of one call of the job's function."""
        try:
            return "ok", job.spec.run(context), None, None
        except JobInterrupted as exc:
            return "abandoned", None, str(exc), None
        except Exception as exc:  # any failure of a job is recorded, never fatal to the daemon
            error = redact_text(f"{type(exc).__name__}: {exc}")[:_MAX_ERROR_CHARS]
            # A failure caused by shutdown (closed connection, cancelled wait) is not the job's.
            return ("abandoned" if stop.is_set() else "failed"), None, error, exc

    def _store_trouble(self, job: str, exc: StoreError) -> None:
        """The database is away: said once (per job) until it answers again."""
        with self._lock:
            first = job not in self._store_failing
            self._store_failing.add(job)
        if first:
            log.error("job.store_unavailable", job=job, error=str(exc))
        else:
            log.debug("job.store_still_unavailable", job=job)

    def _store_fine(self, job: str) -> None:
        with self._lock:
            was_failing = job in self._store_failing
            self._store_failing.discard(job)
        if was_failing:
            log.info("job.store_recovered", job=job)

    def _after_run(
        self,
        job: str,
        outcome: str,
        error: str | None,
        failure: BaseException | None,
        duration: float,
    ) -> None:
        alert_after = self.settings.daemon.failure_alert_after
        try:
            streak, before = self.ledger.failure_streak(job, alert_after)
        except StoreError as exc:
            self._store_trouble(job, exc)
            return
        metrics.JOB_FAILING.labels(job=job).set(streak)
        if outcome == "ok":
            metrics.JOB_LAST_SUCCESS.labels(job=job).set(self.clock.now().timestamp())
            if before:
                log.info("job.recovered", job=job, after_failures=before)
                if before >= alert_after:
                    self._tell_admins(f":white_check_mark: deskbot job `{job}` works again.")
            else:
                log.info("job.finished", job=job, seconds=round(duration, 3))
            return
        if before == 0:
            # Logged once, with the traceback, when a job starts failing; not on every retry.
            log.error("job.failing", job=job, error=error, exc_info=failure)
        else:
            log.debug("job.still_failing", job=job, consecutive=streak, error=error)
        if streak >= alert_after > before:
            self._tell_admins(
                f":warning: deskbot job `{job}` has failed {streak} times in a row. "
                f"Last error: {error}"
            )

    def _tell_admins(self, text: str) -> None:
        tell_admins(self.settings, self.notifier, text)

    def _heartbeat(self, active: _Active) -> None:
        interval = self._heartbeat_seconds or max(1.0, self.lease.total_seconds() / 3)
        claim = active.claim
        while not active.done.wait(interval):
            try:
                renewed = self.ledger.renew(
                    claim.job, claim.trigger_key, claim.instance, self.clock.now() + self.lease
                )
            except Exception as exc:  # a database blip: try again at the next beat
                log.warning("job.lease_renew_failed", job=claim.job, error=str(exc))
                continue
            if not renewed:
                log.warning("job.lease_lost", job=claim.job, trigger=claim.trigger_key)
                return

    # -- shutdown ---------------------------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """Wait (real time) until no run is active; ``True`` if that happened in time."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [a.done for a in self._active.values()]
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pending[0].wait(min(remaining, 0.1))

    def abandon_active(self, reason: str) -> int:
        """Record every run still in flight as abandoned (used when a job ignores the stop)."""
        count = 0
        for claim in self.active_runs():
            try:
                recorded = self.ledger.finish(claim, "abandoned", self.clock.now(), reason)
            except StoreError as exc:  # its lease expires; another instance runs it again
                log.error("job.record_failed", job=claim.job, error=str(exc))
                continue
            if recorded:
                metrics.JOB_RUNS.labels(job=claim.job, outcome="abandoned").inc()
                log.warning(
                    "job.abandoned", job=claim.job, trigger=claim.trigger_key, reason=reason
                )
                count += 1
        return count


def tell_admins(settings: Settings, notifier: AdminNotifier, text: str) -> None:
    """Post to ``slack.channels.admin`` when one is configured; the notifier logs either way."""
    channel = settings.slack.channels.admin
    if channel is None:
        log.warning("admin.no_channel", message=text, hint="set slack.channels.admin")
        return
    try:
        notifier.post(channel, text)
    except Exception as exc:  # telling the admins must never take the daemon down
        log.error("admin.notify_failed", channel=channel, error=str(exc))


# --------------------------------------------------------------------------------------------
# Jobs that live here (the database's own housekeeping)
# --------------------------------------------------------------------------------------------


def db_maintenance(ctx: JobContext) -> dict[str, Any]:
    """Prune old job history; refresh planner statistics (and checkpoint the WAL on SQLite)."""
    keep = timedelta(days=ctx.settings.daemon.job_history_days)
    from deskbot.adapters.db.job_ledger import SqlJobLedger
    from deskbot.adapters.db.maintenance import optimize

    runs, leases = SqlJobLedger(ctx.database).prune(ctx.clock.now() - keep)
    ctx.check_stop()
    return {"pruned_runs": runs, "pruned_leases": leases, **optimize(ctx.database)}


def followups_schedule(s: Settings) -> str | None:
    return s.schedules.followups if s.followups.enabled else None


def digest_schedules(s: Settings) -> dict[str, str] | None:
    return {d.name: d.schedule for d in s.digests} if s.slack.enabled else None


def _shoutouts_on(s: Settings) -> bool:
    channel = s.shoutouts.channel or s.slack.channels.shoutouts
    return s.slack.enabled and s.shoutouts.enabled and channel is not None


def shoutouts_schedule(s: Settings) -> str | None:
    return s.schedules.shoutouts if _shoutouts_on(s) else None


def hero_schedule(s: Settings) -> str | None:
    return s.schedules.hero_of_the_week if _shoutouts_on(s) else None


def sync_schedule(s: Settings) -> str | None:
    return s.schedules.sync


def sync_job(ctx: JobContext) -> dict[str, Any]:
    """One incremental sync pass (``bootstrap.run_sync``), then a follow-up pass.

    PRODUCT: follow-ups run after each sync, so a new bad rating is acted on minutes after it
    is synced, not at the next ``schedules.followups`` fire. The pass goes through the runner
    as the ``followups`` job (claim, lease, never two at once, its own run history), so it
    cannot race the scheduled one; ``summary["followups"]`` says how it went. A failing
    follow-up pass does not fail the sync (its own history and alerts report it).
    A sync stopped by shutdown is recorded as abandoned, not as a success.
    """
    from deskbot import bootstrap

    ctx.check_stop()
    summary = dict(bootstrap.run_sync(ctx.settings, ctx.database, ctx.clock, ctx.stop))
    if summary.get("stopped"):
        raise JobInterrupted(f"sync stopped after {summary.get('rows', 0)} rows: shutting down")
    if not ctx.settings.followups.enabled:
        summary["followups"] = {"outcome": "disabled"}
    elif ctx.run_job is None:
        summary["followups"] = {"outcome": "not run", "reason": "no job table in this runner"}
    else:
        result = ctx.run_job("followups")
        summary["followups"] = (
            {"outcome": "not scheduled"}
            if result is None
            else {"outcome": result.outcome, "run_id": result.run_id, "error": result.error}
        )
    return summary


def followups_job(ctx: JobContext) -> dict[str, Any]:
    """One bad-CSAT follow-up pass (``bootstrap.run_followups``)."""
    from deskbot import bootstrap

    ctx.check_stop()
    return bootstrap.run_followups(ctx.settings, ctx.database, ctx.clock, stop_event=ctx.stop)


def digest_job(ctx: JobContext) -> dict[str, Any]:
    """Post the digest ``ctx.variant`` for the period that ended before this fire."""
    from deskbot import bootstrap

    ctx.check_stop()
    assert ctx.variant is not None  # scheduled as a family: one per settings.digests[]
    outcome = bootstrap.run_digest(
        ctx.settings, ctx.variant, ctx.fire_time, database=ctx.database, clock=ctx.clock
    )
    return dataclasses.asdict(outcome)


def shoutouts_job(ctx: JobContext) -> dict[str, Any]:
    """Celebrate new good ratings with a comment."""
    from deskbot import bootstrap

    ctx.check_stop()
    run = bootstrap.run_shoutouts(ctx.settings, database=ctx.database, clock=ctx.clock)
    return dataclasses.asdict(run)


def hero_of_the_week_job(ctx: JobContext) -> dict[str, Any]:
    """Last week's best CSAT, once a week."""
    from deskbot import bootstrap

    ctx.check_stop()
    run = bootstrap.run_hero_of_the_week(
        ctx.settings, ctx.fire_time, database=ctx.database, clock=ctx.clock
    )
    return dataclasses.asdict(run)


def _calibration_on(s: Settings) -> bool:
    """Calibration runs once someone is named to calibrate (a list or a department)."""
    calibrators = bool(s.qa.calibrators or s.qa.calibration.department)
    return s.qa.enabled and s.slack.enabled and calibrators


def calibration_session_schedule(s: Settings) -> str | None:
    return s.schedules.qa_calibration_session if _calibration_on(s) else None


def calibration_schedule(s: Settings) -> str | None:
    return s.schedules.qa_calibration if _calibration_on(s) else None


def calibration_session_job(ctx: JobContext) -> dict[str, Any]:
    """Start this period's QA calibration session (once per fire time, across replicas)."""
    from deskbot import bootstrap

    ctx.check_stop()
    return bootstrap.start_scheduled_calibration(
        ctx.settings, ctx.database, ctx.clock, ctx.fire_time
    )


def calibration_job(ctx: JobContext) -> dict[str, Any]:
    """Calibration invitations, closing and results (each exactly once)."""
    from deskbot import bootstrap

    ctx.check_stop()
    return bootstrap.run_calibration(ctx.settings, ctx.database, ctx.clock)


PEOPLE_JOB = "people"


def people_schedule(s: Settings) -> str | None:
    return s.schedules.people if s.people.enabled and s.slack.enabled else None


def people_job(ctx: JobContext) -> dict[str, Any]:
    """Refresh the people directory (``bootstrap.run_people``); a failure keeps the last one."""
    from deskbot import bootstrap

    ctx.check_stop()
    return bootstrap.run_people(ctx.settings, ctx.database, ctx.clock).summary()


def qa_schedule(s: Settings) -> str | None:
    return s.schedules.qa_cycle if s.qa.enabled else None


def qa_cycle_job(ctx: JobContext) -> dict[str, Any]:
    """Agent QA: draw the last complete cycle, DM reviewers, remind, digest (each once)."""
    from deskbot import bootstrap

    ctx.check_stop()
    return bootstrap.run_qa_cycle(ctx.settings, ctx.database, ctx.clock, ctx.stop)


def _nps_on(s: Settings) -> bool:
    return s.nps.enabled and s.slack.enabled


def nps_round_schedule(s: Settings) -> str | None:
    return s.schedules.nps_round if _nps_on(s) else None


def nps_tick_schedule(s: Settings) -> str | None:
    return s.schedules.nps_reminders if _nps_on(s) else None


def nps_summary_schedule(s: Settings) -> str | None:
    return s.nps.summary_schedule if _nps_on(s) else None


def nps_round_job(ctx: JobContext) -> dict[str, Any]:
    """Plan (once) and start the internal NPS round standing for this fire."""
    from deskbot import bootstrap

    ctx.check_stop()
    summary = bootstrap.run_nps_round(
        ctx.settings, ctx.database, ctx.clock, ctx.fire_time, ctx.stop
    )
    if summary["tick"].get("stopped"):
        raise JobInterrupted("nps round stopped while sending: the next tick continues")
    return summary


def nps_tick_job(ctx: JobContext) -> dict[str, Any]:
    """Internal NPS: due asks, reminders, expiries, releases."""
    from deskbot import bootstrap

    ctx.check_stop()
    summary = bootstrap.run_nps_tick(ctx.settings, ctx.database, ctx.clock, ctx.stop)
    if summary.get("stopped"):
        raise JobInterrupted("nps tick stopped: the next tick continues")
    return summary


def nps_summary_job(ctx: JobContext) -> dict[str, Any]:
    """Each department's released NPS results to its owner."""
    from deskbot import bootstrap

    ctx.check_stop()
    return bootstrap.run_nps_summary(ctx.settings, ctx.database, ctx.clock, ctx.fire_time)


def forecast_schedule(s: Settings) -> str | None:
    channel = s.forecast.channel or s.slack.channels.digests
    on = s.slack.enabled and s.forecast.enabled and channel is not None
    return s.schedules.forecast if on else None


def forecast_job(ctx: JobContext) -> dict[str, Any]:
    """This week's staffing forecast, posted once per week (ledger key per channel and week)."""
    from deskbot import bootstrap

    ctx.check_stop()
    outcome = bootstrap.run_forecast_post(
        ctx.settings, ctx.fire_time, database=ctx.database, clock=ctx.clock
    )
    return dataclasses.asdict(outcome)


# The job table. One line per job; keep it in the order jobs are described in PRODUCT.md.
JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "db_maintenance",
        schedule=lambda s: s.schedules.db_maintenance,
        run=db_maintenance,
        description="prune old job history, optimise the database",
    ),
    JobSpec("sync", sync_schedule, sync_job, "Zendesk → local store, then follow-ups"),
    JobSpec("followups", followups_schedule, followups_job, "bad-CSAT follow-ups"),
    JobSpec("digest", digest_schedules, digest_job, "KPI digest to Slack"),
    JobSpec("shoutouts", shoutouts_schedule, shoutouts_job, "shout-outs for good ratings"),
    JobSpec("hero_of_the_week", hero_schedule, hero_of_the_week_job, "hero of the week"),
    JobSpec(
        "qa_calibration_session",
        calibration_session_schedule,
        calibration_session_job,
        "start a QA calibration session",
    ),
    JobSpec(
        "qa_calibration",
        calibration_schedule,
        calibration_job,
        "QA calibration invitations, closing and results",
    ),
    JobSpec(PEOPLE_JOB, people_schedule, people_job, "people directory: Zendesk ↔ Slack"),
    JobSpec("qa_cycle", qa_schedule, qa_cycle_job, "agent QA: sample, DMs, reminders, digest"),
    JobSpec("nps_round", nps_round_schedule, nps_round_job, "internal NPS: plan a round"),
    JobSpec(
        "nps_reminders", nps_tick_schedule, nps_tick_job, "internal NPS: send, remind, release"
    ),
    JobSpec("nps_summary", nps_summary_schedule, nps_summary_job, "internal NPS: owner summaries"),
    JobSpec("forecast", forecast_schedule, forecast_job, "weekly staffing forecast to Slack"),
)


def job_table(plugins: bool = True) -> list[JobSpec]:
    """``JOBS`` plus the jobs other installed packages register under ``deskbot.jobs``."""
    table = list(JOBS)
    if not plugins:
        return table
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:
            raise DeskbotError(
                f"cannot load job plugin {ep.name!r} ({ep.value}): {exc}; fix or uninstall the "
                "package that provides it"
            ) from exc
        specs: Sequence[Any] = loaded if isinstance(loaded, list | tuple) else [loaded]
        for spec in specs:
            if not isinstance(spec, JobSpec):
                raise DeskbotError(
                    f"job plugin {ep.name!r} ({ep.value}) must name a JobSpec or a list of "
                    f"them, not {type(spec).__name__}"
                )
            table.append(spec)
    return table
