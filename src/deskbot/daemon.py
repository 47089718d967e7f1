"""``deskbot run``: the scheduler, signals, hot reload, and the health/metrics endpoint.

- APScheduler 3 ``BackgroundScheduler``; one cron trigger per job from the settings, in
  ``settings.timezone``; ``max_instances=1``, ``coalesce=True`` and the configured
  ``misfire_grace_time``. Every fire goes through ``JobRunner`` (run history, leases, alerts).
- SIGTERM / SIGINT: stop starting runs, tell running jobs to stop (``ctx.stop``), wait for them
  up to ``STOP_GRACE_SECONDS``, record any that did not stop as abandoned, exit.
- SIGHUP, or a change of the config file's content (polled): reload. A valid file reschedules
  the jobs in place; an invalid one leaves the running configuration untouched, logs every
  problem with its key path and line, and tells the admin channel.
- ``/healthz`` — liveness (JSON, 200 or 503): the process answers and reaches its database.
  The container's HEALTHCHECK uses it, so a Zendesk outage never restarts a healthy replica.
  ``/readyz`` — readiness/freshness (200 or 503): liveness plus the age of the last successful
  sync (``daemon.health.max_sync_age_minutes``), for alerts and dashboards.
  ``/metrics`` (Prometheus text). All on ``daemon.health.host:port``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from deskbot import metrics_registry as metrics
from deskbot.errors import ConfigError, DeskbotError
from deskbot.jobs import JobRunner, JobSpec, RunResult, ScheduledJob, resolve_jobs, tell_admins
from deskbot.log import configure_logging, get_logger, redact_text
from deskbot.ports import AdminNotifier, Clock, JobLedger, SystemClock
from deskbot.services.providers import ReloadResult, TriggerResult
from deskbot.settings import Settings, load_settings

if TYPE_CHECKING:
    from deskbot.adapters.db.store import Database

log = get_logger(__name__)

SYNC_JOB = "sync"  # the job whose age /readyz watches (when it is configured)
STOP_GRACE_SECONDS = 8.0  # jobs get this long to honour a stop; the process exits within 10 s
_SWEEP_ID = "deskbot:lease-sweep"
# Settings that are read once at start: a change is reported, and applies after a restart.
_RESTART_KEYS = (
    "storage",
    "data_dir",
    "daemon.health",
    "slack.enabled",
    "slack.mode",
    "slack.http",
    "slack.base_url",
)


@dataclass(frozen=True)
class Health:
    status: int  # HTTP status: 200 healthy, 503 not
    body: dict[str, Any]


class Daemon:
    """The long-running process. Build it with ``deskbot.bootstrap.make_daemon``."""

    def __init__(
        self,
        *,
        config_path: Path,
        settings: Settings,
        database: Database,
        ledger: JobLedger,
        notifier: AdminNotifier,
        table: Sequence[JobSpec],
        clock: Clock | None = None,
        instance: str | None = None,
        poll_seconds: float = 2.0,
        heartbeat: bool = True,
        sync_freshness: Callable[[], datetime | None] | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        # When every sync stream last succeeded (from the store, so a sync run by the CLI or by
        # another replica counts too); None until each stream has succeeded once.
        self.sync_freshness = sync_freshness
        self.settings = settings
        self.database = database
        self.ledger = ledger
        self.notifier = notifier
        self.table = list(table)
        self.stop_event = threading.Event()
        self.clock = clock or SystemClock(self.stop_event)
        self.poll_seconds = poll_seconds
        self.runner = JobRunner(
            settings=settings,
            database=database,
            ledger=ledger,
            clock=self.clock,
            stop=self.stop_event,
            notifier=notifier,
            instance=instance,
            heartbeat=heartbeat,
            jobs=lambda: self.jobs,
        )
        self.jobs: dict[str, ScheduledJob] = {
            job.id: job for job in resolve_jobs(self.table, settings)
        }
        # APScheduler is imported here, not at module level: only `deskbot run` needs it.
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES
        from apscheduler.schedulers.background import BackgroundScheduler

        from deskbot.fire_time import FireTimeExecutor

        self.scheduler = BackgroundScheduler(
            timezone=settings.tz,
            executors={"default": FireTimeExecutor(max_workers=20)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": settings.daemon.misfire_grace_seconds,
            },
        )
        self.scheduler.add_listener(self._on_overrun, EVENT_JOB_MAX_INSTANCES)
        _quiet_overrun_warnings()
        self._overrunning: set[str] = set()
        self.started_at = self.clock.now()
        self._reload_lock = threading.Lock()
        self._reload_requested = threading.Event()
        self._signal: str | None = None
        self._fingerprint = _fingerprint(self.config_path)
        self._threads: list[threading.Thread] = []
        self.health_server: HealthServer | None = None
        self._reload_listeners: list[Callable[[Settings], None]] = []
        self._stop_hooks: list[Callable[[], None]] = []
        self._requested_lock = threading.Lock()
        self._requested: dict[str, threading.Event] = {}  # run_job_now runs not yet finished

    # -- lifecycle --------------------------------------------------------------------------

    def start(
        self, *, paused: bool = False, health: bool = True, watch: bool | None = None
    ) -> None:
        """Schedule the jobs and start the scheduler, the health server and the file watcher.

        ``paused`` computes next fire times without running anything (tests).
        """
        from apscheduler.triggers.interval import IntervalTrigger

        self._apply_schedule(self.jobs, previous={})
        # Frequent and cheap: a dead holder's job mutex is free at once (issue 13), so the
        # sweep interval bounds how long a take-over after kill -9 waits.
        sweep = min(5.0, max(1.0, self.settings.daemon.lease_seconds / 4))
        self.scheduler.add_job(
            self._sweep, IntervalTrigger(seconds=sweep), id=_SWEEP_ID, name="lease sweep"
        )
        self.scheduler.start(paused=paused)
        self._seed_metrics()
        if health:
            self.health_server = HealthServer(self, self.settings)
            self.health_server.start()
        if watch if watch is not None else self.settings.daemon.watch_config:
            self._spawn(self._watch, "config-watch")
        log.info(
            "daemon.started",
            instance=self.runner.instance,
            jobs=sorted(self.jobs),
            timezone=self.settings.timezone,
        )

    def check_job_ids(self, job_ids: Sequence[str]) -> list[ScheduledJob]:
        unknown = [job_id for job_id in job_ids if job_id not in self.jobs]
        if unknown:
            raise DeskbotError(
                f"no scheduled job called {unknown[0]!r}; scheduled jobs: "
                f"{', '.join(sorted(self.jobs)) or 'none'} (see 'deskbot jobs')"
            )
        return [self.jobs[job_id] for job_id in job_ids]

    def _seed_metrics(self) -> None:
        """Last success per job from the shared history, so /metrics is right after a restart."""
        try:
            for job_id in self.jobs:
                last = self.ledger.last_success(job_id)
                if last is not None:
                    metrics.JOB_LAST_SUCCESS.labels(job=job_id).set(last.timestamp())
        except Exception as exc:  # the database may be briefly away; the runs will set them
            log.warning("daemon.metrics_seed_failed", error=str(exc))

    def run_now(self, job_ids: Sequence[str]) -> None:
        """Run these jobs once, right away, beside the schedule (``deskbot run --now``)."""
        for job in self.check_job_ids(job_ids):
            self.scheduler.add_job(self.runner.run_now, args=[job], name=f"now:{job.id}")

    def is_running(self, job_id: str) -> bool:
        """Whether a run of ``job_id`` is requested or in flight in this process."""
        with self._requested_lock:
            if job_id in self._requested:
                return True
        return any(claim.job == job_id for claim in self.runner.active_runs())

    def run_job_now(self, job_id: str, requested_by: str | None = None) -> TriggerResult:
        """Ask for one run of ``job_id`` right away, without waiting for it (``/deskbot sync
        now``). The run goes through the scheduler's pool and the ``JobRunner`` like any fire:
        its own trigger claimed in the ledger, leased, recorded, one at a time. A second request
        while one is pending or running is declined."""
        job = self.jobs.get(job_id)
        if job is None:
            return TriggerResult(
                False, f"the {job_id} job is not scheduled in this deployment (see 'deskbot jobs')"
            )
        if self.stop_event.is_set() or not self.scheduler.running:
            return TriggerResult(
                False, f"deskbot is shutting down or not started; {job_id} not started"
            )
        with self._requested_lock:
            busy = job_id in self._requested or any(
                claim.job == job_id for claim in self.runner.active_runs()
            )
            if not busy:
                self._requested[job_id] = threading.Event()
        if busy:
            return TriggerResult(False, f"a {job_id} run is already in progress")
        self.scheduler.add_job(self._run_requested, args=[job], name=f"now:{job_id}")
        log.info("job.requested", job=job_id, requested_by=requested_by)
        return TriggerResult(True, f"{job_id} started; ask `/deskbot {job_id}` for its progress")

    def wait_requested(self, job_id: str, timeout: float) -> bool:
        """Wait (real time) until the run asked for by ``run_job_now`` has finished."""
        with self._requested_lock:
            done = self._requested.get(job_id)
        return True if done is None else done.wait(timeout)

    def _run_requested(self, job: ScheduledJob) -> RunResult:
        try:
            return self.runner.run_now(job)
        finally:
            with self._requested_lock:
                done = self._requested.pop(job.id, None)
            if done is not None:
                done.set()

    def run_forever(self, now: Sequence[str] = ()) -> bool:
        """Start, serve until SIGTERM/SIGINT, stop. Returns whether every job stopped in time."""
        self.check_job_ids(now)
        self._install_signals()
        self.start()
        self.run_now(now)
        while not self.stop_event.wait(0.25):
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                self.reload("SIGHUP")
        if self._signal is not None:
            log.info("daemon.signal", signal=self._signal)
        return self.shutdown()

    def request_stop(self) -> None:
        self.stop_event.set()

    def shutdown(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """Stop scheduling, let running jobs honour the stop, record the ones that did not."""
        log.info("daemon.stopping", running=[c.job for c in self.runner.active_runs()])
        # Under the reload lock: a reload in progress (e.g. from Slack) finishes rescheduling
        # before the scheduler goes away, and one that comes later sees the stop and declines.
        with self._reload_lock:
            self.stop_event.set()
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
        # Stop hooks (the Slack app draining its queue) run beside the jobs' grace period, in
        # threads, so a slow one cannot push the exit past the container's stop timeout.
        deadline = time.monotonic() + grace
        hooks = [
            threading.Thread(target=self._run_stop_hook, args=(h,), name="stop-hook", daemon=True)
            for h in self._stop_hooks
        ]
        for thread in hooks:
            thread.start()
        clean = self.runner.wait_idle(grace)
        if not clean:
            self.runner.abandon_active(f"did not stop within {grace:.0f} s of shutdown")
        for thread in hooks:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("daemon.stop_hook_timeout", grace=grace)
                clean = False
        if self.health_server is not None:
            self.health_server.stop()
        for thread in self._threads:
            thread.join(timeout=2)
        log.info("daemon.stopped", clean=clean)
        return clean

    @staticmethod
    def _run_stop_hook(hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:  # stopping one part must not keep the rest running
            log.exception("daemon.stop_hook_failed")

    def _install_signals(self) -> None:
        # Handlers only set flags: they run on the main thread between two bytecodes, possibly
        # while it holds the log's lock, so logging (or anything that locks) here can deadlock.
        def stop(signum: int, _frame: FrameType | None) -> None:
            self._signal = signal.Signals(signum).name
            self.stop_event.set()

        def hup(_signum: int, _frame: FrameType | None) -> None:
            self._reload_requested.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, hup)

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- scheduling -------------------------------------------------------------------------

    def _apply_schedule(
        self,
        jobs: dict[str, ScheduledJob],
        previous: dict[str, ScheduledJob],
        tz_changed: bool = False,
    ) -> None:
        tz = self.settings.tz
        grace = self.settings.daemon.misfire_grace_seconds
        for job_id in previous.keys() - jobs.keys():
            self.scheduler.remove_job(job_id)
        for job_id, job in jobs.items():
            old = previous.get(job_id)
            if old is not None and old.cron == job.cron and not tz_changed:
                self.scheduler.modify_job(job_id, args=[job], misfire_grace_time=grace)
                continue
            self.scheduler.add_job(
                self.runner.run_scheduled,
                job.trigger(tz),
                args=[job],
                id=job_id,
                name=job_id,
                replace_existing=True,
                misfire_grace_time=grace,
            )

    def _on_overrun(self, event: Any) -> None:
        """A fire came while the job's previous run is still going: it is skipped (one
        instance at a time). Said once per long run, not at every skipped fire."""
        metrics.JOB_SKIPPED.labels(job=event.job_id).inc()
        self._overrunning &= {claim.job for claim in self.runner.active_runs()}
        if event.job_id in self._overrunning:
            return
        self._overrunning.add(event.job_id)
        log.info(
            "job.overrun",
            job=event.job_id,
            hint="the previous run is still going; fires are skipped until it ends",
        )

    def _sweep(self) -> list[RunResult]:
        try:
            return self.runner.take_over_expired(self.jobs)
        except Exception as exc:  # the database may be briefly away; next sweep retries
            log.warning("daemon.sweep_failed", error=str(exc))
            return []

    # -- hot reload -------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self.stop_event.wait(self.poll_seconds):
            self.poll_config()

    def poll_config(self) -> bool | None:
        """Reload if the file's content changed since the last load: ``None`` if it did not,
        else whether the new content was applied. (Content, not mtime: editors and
        ConfigMap updates do not always move the mtime the way one expects.)"""
        if _fingerprint(self.config_path) == self._fingerprint:
            return None
        return self.reload("file changed")

    def request_reload(self) -> None:
        self._reload_requested.set()

    def on_reload(self, listener: Callable[[Settings], None]) -> None:
        """Call ``listener`` with the new settings after every applied reload (the Slack app
        swaps its roles and roster this way)."""
        self._reload_listeners.append(listener)

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when shutdown starts (the Slack app stops receiving this way)."""
        self._stop_hooks.append(hook)

    def reload(self, reason: str = "requested") -> bool:
        """Load the config file again; apply it if valid, otherwise keep the running one."""
        return self.reload_config(reason).ok

    def reload_config(self, reason: str = "requested from Slack") -> ReloadResult:
        """``reload`` with what changed or why the file was rejected, for ``/deskbot config
        reload`` (``deskbot.services.providers.ConfigReloader``)."""
        with self._reload_lock:
            if self.stop_event.is_set():
                # The scheduler is shut down: rescheduling would fail half-way (APScheduler
                # no longer knows the jobs), leaving settings and schedule out of step.
                log.info("config.reload_skipped", reason=reason, why="shutting down")
                return ReloadResult(False, "deskbot is shutting down; the file is read at start")
            self._fingerprint = _fingerprint(self.config_path)
            try:
                new = load_settings(self.config_path)
                jobs = {job.id: job for job in resolve_jobs(self.table, new)}
            except ConfigError as exc:
                return ReloadResult(False, self._reject(exc.issues, reason))
            except DeskbotError as exc:
                return ReloadResult(False, self._reject([str(exc)], reason))
            old = self.settings
            restart = [key for key in _RESTART_KEYS if _get(old, key) != _get(new, key)]
            previous = self.jobs
            self.settings = new
            self.runner.update_settings(new)
            self.jobs = jobs
            self._apply_schedule(jobs, previous, tz_changed=old.timezone != new.timezone)
            if old.logging != new.logging:
                configure_logging(new.logging.level, new.logging.format)
            metrics.CONFIG_RELOADS.labels(outcome="applied").inc()
            added = sorted(jobs.keys() - previous.keys())
            removed = sorted(previous.keys() - jobs.keys())
            log.info(
                "config.reloaded", reason=reason, jobs=sorted(jobs), added=added, removed=removed
            )
            for listener in self._reload_listeners:
                try:
                    listener(new)
                except Exception:  # one broken listener must not undo the reload
                    log.exception("config.reload_listener_failed")
            parts = [f"{len(jobs)} scheduled jobs"]
            if added:
                parts.append(f"added: {', '.join(added)}")
            if removed:
                parts.append(f"removed: {', '.join(removed)}")
            if restart:
                log.warning(
                    "config.restart_required",
                    keys=restart,
                    hint="these settings are read at start; restart deskbot to apply them",
                )
                parts.append(f"restart deskbot to apply: {', '.join(restart)}")
            return ReloadResult(True, "; ".join(parts) + ".", new)

    def _reject(self, issues: Sequence[object], reason: str) -> str:
        for issue in issues:
            fields = (
                {
                    "key": getattr(issue, "path", None) or "(top level)",
                    "file": getattr(issue, "file", None),
                    "line": getattr(issue, "line", None),
                    "column": getattr(issue, "column", None),
                    "problem": getattr(issue, "message", None),
                }
                if hasattr(issue, "message")
                else {"problem": str(issue)}
            )
            log.error("config.invalid", reason=reason, **fields)
        metrics.CONFIG_RELOADS.labels(outcome="rejected").inc()
        lines = "\n".join(f"• {issue}" for issue in issues[:10])
        more = f"\n… and {len(issues) - 10} more" if len(issues) > 10 else ""
        tell_admins(
            self.settings,
            self.notifier,
            f":x: deskbot did not apply the new configuration ({self.config_path}); "
            f"it keeps running with the previous one. Problems:\n{lines}{more}",
        )
        return f"{lines}{more}"

    # -- health -----------------------------------------------------------------------------

    def _database_check(self) -> dict[str, Any]:
        try:
            self.database.check()
            return {"ok": True}
        except Exception as exc:  # report any failure to reach the database as unhealthy
            return {"ok": False, "error": redact_text(str(exc))}

    def liveness(self) -> Health:
        """``/healthz``: the process answers and reaches its database. Nothing outside the
        deployment (Zendesk, Slack) counts: their outages must not restart replicas."""
        database = self._database_check()
        healthy = bool(database["ok"])
        body = {
            "status": "ok" if healthy else "failing",
            "instance": self.runner.instance,
            "checks": {"database": database},
        }
        return Health(200 if healthy else 503, body)

    def health(self) -> Health:
        """``/readyz``: liveness plus sync freshness (the age of the last successful sync)."""
        return self.readiness()

    def readiness(self) -> Health:
        """``/readyz``: liveness plus sync freshness (the age of the last successful sync)."""
        now = self.clock.now()
        checks: dict[str, Any] = {}
        checks["database"] = self._database_check()
        healthy = bool(checks["database"]["ok"])
        max_age = timedelta(minutes=self.settings.daemon.health.max_sync_age_minutes)
        if SYNC_JOB not in self.jobs:
            checks["sync"] = {"ok": True, "status": "not configured"}
        elif checks["database"]["ok"]:
            candidates = [self.ledger.last_success(SYNC_JOB)]
            if self.sync_freshness is not None:
                candidates.append(self.sync_freshness())
            known = [when for when in candidates if when is not None]
            last = max(known) if known else None
            if last is None:
                waited = now - self.started_at
                ok = waited <= max_age
                checks["sync"] = {
                    "ok": ok,
                    "status": "waiting for the first sync" if ok else "no successful sync yet",
                }
            else:
                age = now - last
                ok = age <= max_age
                checks["sync"] = {
                    "ok": ok,
                    "last_success": last.isoformat(),
                    "age_seconds": int(age.total_seconds()),
                    "max_age_seconds": int(max_age.total_seconds()),
                }
            healthy = healthy and ok
        body = {
            "status": "ok" if healthy else "failing",
            "instance": self.runner.instance,
            "checks": checks,
            "jobs": sorted(self.jobs),
        }
        return Health(200 if healthy else 503, body)


class _DropOverrunWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def _quiet_overrun_warnings() -> None:
    """APScheduler warns at every fire skipped by max_instances; the daemon says it once."""
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _DropOverrunWarnings) for f in scheduler_log.filters):
        scheduler_log.addFilter(_DropOverrunWarnings())


def _get(settings: Settings, dotted: str) -> Any:
    value: Any = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class HealthServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on a small stdlib HTTP server in a daemon
    thread."""

    def __init__(self, daemon: Daemon, settings: Settings) -> None:
        self.daemon = daemon
        host, port = settings.daemon.health.host, settings.daemon.health.port
        handler = _make_handler(daemon)
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise DeskbotError(
                f"cannot serve health checks on {host}:{port}: {exc.strerror or exc}; set "
                "daemon.health.port to a free port (0 picks one) or stop what uses it"
            ) from exc
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            name="health",
            kwargs={"poll_interval": 0.2},
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("health.listening", host=self.server.server_address[0], port=self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2)


def _make_handler(daemon: Daemon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/healthz", "/readyz"):
                health = daemon.liveness() if path == "/healthz" else daemon.readiness()
                self._send(health.status, "application/json", json.dumps(health.body).encode())
            elif path == "/metrics":
                self._send(200, metrics.CONTENT_TYPE, metrics.render())
            else:
                self._send(404, "text/plain", b"not found; try /healthz, /readyz or /metrics\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes hit this every few seconds; access logs would drown the real ones

    return Handler
