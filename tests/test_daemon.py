"""The daemon: scheduler wiring, hot reload, health and metrics endpoints, ``deskbot health``."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.cli import app
from deskbot.daemon import Daemon
from deskbot.jobs import JOBS, JobContext, JobSpec
from deskbot.testing import FakeClock, RecordingNotifier

CONFIG = """\
timezone: Europe/Berlin
zendesk:
  subdomain: acme
slack:
  channels:
    admin: "#deskbot-admin"
schedules:
  db_maintenance: "30 2 * * *"
{schedules}
digests:
{digests}
daemon:
  misfire_grace_seconds: 120
  health:
    port: 0
    max_sync_age_minutes: 30
"""


def write_config(path: Path, schedules: str = "", digests: str = "  []") -> None:
    path.write_text(CONFIG.format(schedules=schedules, digests=digests), encoding="utf-8")


def sync_job(ctx: JobContext) -> dict[str, Any]:
    return {"rows": 0}


def digest_job(ctx: JobContext) -> dict[str, Any]:
    return {"digest": ctx.variant}


# The daemon's mechanics with stand-in jobs; the real feature jobs are tested in their areas.
TABLE = [
    next(spec for spec in JOBS if spec.name == "db_maintenance"),
    JobSpec("sync", schedule=lambda s: s.schedules.sync, run=sync_job),
    JobSpec("digest", schedule=lambda s: {d.name: d.schedule for d in s.digests}, run=digest_job),
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "deskbot.yaml"
    write_config(path, schedules="  sync: null")
    return path


def make_daemon(
    config: Path,
    db: Database,
    clock: FakeClock,
    notifier: RecordingNotifier | None = None,
    table: list[JobSpec] | None = None,
) -> Daemon:
    from deskbot.adapters.db.job_ledger import SqlJobLedger

    settings = bootstrap.load(config)
    return Daemon(
        config_path=config,
        settings=settings,
        database=db,
        ledger=SqlJobLedger(db),
        notifier=notifier or RecordingNotifier(),
        table=TABLE if table is None else table,
        clock=clock,
        heartbeat=False,
    )


@pytest.fixture
def daemon(config: Path, db: Database, clock: FakeClock) -> Iterator[Daemon]:
    d = make_daemon(config, db, clock)
    d.start(paused=True, health=False, watch=False)
    yield d
    d.shutdown(grace=1)


def scheduled(d: Daemon) -> dict[str, Any]:
    return {job.id: job for job in d.scheduler.get_jobs() if job.id in d.jobs}


def test_jobs_are_scheduled_with_cron_in_the_configured_timezone(daemon: Daemon) -> None:
    jobs = scheduled(daemon)
    assert set(jobs) == {"db_maintenance"}  # sync: null disables it; no digests configured
    apjob = jobs["db_maintenance"]
    assert apjob.max_instances == 1
    assert apjob.coalesce is True
    assert apjob.misfire_grace_time == 120
    assert apjob.trigger.timezone == ZoneInfo("Europe/Berlin")
    local = apjob.next_run_time.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (2, 30)


def test_reload_with_a_valid_file_reschedules_without_restart(daemon: Daemon, config: Path) -> None:
    write_config(
        config,
        schedules='  sync: "*/5 * * * *"',
        digests='  - {name: morning, channel: "#support", schedule: "0 9 * * mon-fri"}',
    )
    with capture_logs() as logs:
        assert daemon.poll_config() is True
    jobs = scheduled(daemon)
    assert set(jobs) == {"db_maintenance", "sync", "digest:morning"}
    assert str(jobs["sync"].trigger) == str(daemon.jobs["sync"].trigger(daemon.settings.tz))
    assert daemon.runner.settings is daemon.settings
    reloaded = next(e for e in logs if e["event"] == "config.reloaded")
    assert reloaded["added"] == ["digest:morning", "sync"]
    # Nothing changed since: no second reload.
    assert daemon.poll_config() is None
    # And jobs can be removed again.
    write_config(config, schedules="  sync: null")
    assert daemon.reload("SIGHUP") is True
    assert set(scheduled(daemon)) == {"db_maintenance"}


def test_reload_with_an_invalid_file_keeps_the_old_config_and_says_why(
    config: Path, db: Database, clock: FakeClock
) -> None:
    notifier = RecordingNotifier()
    d = make_daemon(config, db, clock, notifier)
    d.start(paused=True, health=False, watch=False)
    try:
        before_settings = d.settings
        before_next = scheduled(d)["db_maintenance"].next_run_time
        config.write_text(
            CONFIG.format(schedules='  sync: "every five minutes"', digests="  []").replace(
                "misfire_grace_seconds", "misfire_grace_secs"
            ),
            encoding="utf-8",
        )
        with capture_logs() as logs:
            assert d.poll_config() is False
        assert d.settings is before_settings
        assert set(scheduled(d)) == {"db_maintenance"}
        assert scheduled(d)["db_maintenance"].next_run_time == before_next
        invalid = [e for e in logs if e["event"] == "config.invalid"]
        by_key = {e["key"]: e for e in invalid}
        assert set(by_key) == {"schedules.sync", "daemon.misfire_grace_secs"}
        assert by_key["schedules.sync"]["line"] == 9
        assert "cron" in by_key["schedules.sync"]["problem"]
        assert (
            "did you mean 'misfire_grace_seconds'" in by_key["daemon.misfire_grace_secs"]["problem"]
        )
        [(channel, text)] = notifier.posts
        assert channel == "#deskbot-admin"
        assert "previous one" in text
        assert "schedules.sync" in text
        assert f"{config}:9" in text
        # The same broken file is reported once, not at every poll.
        assert d.poll_config() is None
        assert len(notifier.posts) == 1
    finally:
        d.shutdown(grace=1)


def test_run_now_rejects_an_unknown_job(daemon: Daemon) -> None:
    with pytest.raises(Exception, match="no scheduled job called 'synk'"):
        daemon.run_now(["synk"])


# -- health and metrics ----------------------------------------------------------------------


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_healthz_without_a_sync_job_reports_ok(
    config: Path, db: Database, clock: FakeClock
) -> None:
    d = make_daemon(config, db, clock)
    d.start(paused=True, watch=False)
    try:
        assert d.health_server is not None
        status, body = get(f"http://127.0.0.1:{d.health_server.port}/healthz")
        assert (status, json.loads(body)["checks"]) == (200, {"database": {"ok": True}})
        status, body = get(f"http://127.0.0.1:{d.health_server.port}/readyz")
        assert status == 200
        data = json.loads(body)
        assert data["status"] == "ok"
        assert data["checks"]["database"] == {"ok": True}
        assert data["checks"]["sync"]["status"] == "not configured"
        assert get(f"http://127.0.0.1:{d.health_server.port}/nope")[0] == 404
    finally:
        d.shutdown(grace=1)


def test_readyz_follows_the_age_of_the_last_sync_and_healthz_does_not(
    tmp_path: Path, db: Database, clock: FakeClock
) -> None:
    config = tmp_path / "deskbot.yaml"
    write_config(config, schedules='  sync: "*/5 * * * *"')
    d = make_daemon(config, db, clock)
    d.start(paused=True, watch=False)
    try:
        assert d.health_server is not None
        url = f"http://127.0.0.1:{d.health_server.port}/readyz"
        live = f"http://127.0.0.1:{d.health_server.port}/healthz"
        status, body = get(url)
        assert status == 200
        assert json.loads(body)["checks"]["sync"]["status"] == "waiting for the first sync"
        clock.advance(minutes=31)
        status, body = get(url)
        assert status == 503
        assert json.loads(body)["checks"]["sync"] == {
            "ok": False,
            "status": "no successful sync yet",
        }
        # a stale sync (a Zendesk outage) never fails liveness: no replica is restarted for it
        assert get(live)[0] == 200
        assert d.runner.run(d.jobs["sync"], clock.now()).outcome == "ok"
        status, body = get(url)
        assert status == 200
        assert json.loads(body)["checks"]["sync"]["age_seconds"] == 0
        clock.advance(minutes=31)
        status, body = get(url)
        assert status == 503
        assert json.loads(body)["checks"]["sync"]["age_seconds"] == 31 * 60

        status, metrics = get(f"http://127.0.0.1:{d.health_server.port}/metrics")
        assert status == 200
        text = metrics.decode()
        assert 'deskbot_job_runs_total{job="sync",outcome="ok"}' in text
        assert 'deskbot_job_last_success_timestamp_seconds{job="sync"}' in text
        assert "# TYPE deskbot_sync_rows_total counter" in text
    finally:
        d.shutdown(grace=1)


def test_healthz_is_503_when_the_database_is_unreachable(
    config: Path, db: Database, clock: FakeClock
) -> None:
    d = make_daemon(config, db, clock)
    d.database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    for health in (d.liveness(), d.readiness()):
        assert health.status == 503
        assert health.body["checks"]["database"]["ok"] is False
        assert "storage.url" in health.body["checks"]["database"]["error"]


def test_health_command_exit_codes(config: Path, db: Database, clock: FakeClock) -> None:
    d = make_daemon(config, db, clock)
    d.start(paused=True, watch=False)
    cli = CliRunner()
    try:
        assert d.health_server is not None
        url = f"http://127.0.0.1:{d.health_server.port}/healthz"
        ok = cli.invoke(app, ["health", "--url", url])
        assert ok.exit_code == 0, ok.output
        assert '"status": "ok"' in ok.output
        d.database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
        failing = cli.invoke(app, ["health", "--url", url])
        assert failing.exit_code == 1
        assert '"failing"' in failing.output
    finally:
        d.shutdown(grace=1)
    gone = cli.invoke(app, ["health", "--url", url, "--timeout", "2"])
    assert gone.exit_code == 1


def test_jobs_command_lists_schedule_and_history(tmp_path: Path) -> None:
    config = tmp_path / "deskbot.yaml"
    write_config(config)
    config.write_text(
        config.read_text().replace("zendesk:", f"data_dir: {tmp_path / 'data'}\nzendesk:"),
        encoding="utf-8",
    )
    cli = CliRunner()
    ran = cli.invoke(app, ["-c", str(config), "jobs", "run", "db_maintenance"])
    assert ran.exit_code == 0, ran.output
    listed = cli.invoke(app, ["-c", str(config), "jobs", "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout[listed.stdout.index("{") :])
    [entry] = [j for j in data["jobs"] if j["id"] == "db_maintenance"]
    first = datetime.fromisoformat(entry["next"][0])
    assert (first.hour, first.minute) == (2, 30)
    assert first.utcoffset() in (ZoneInfo("Europe/Berlin").utcoffset(first.replace(tzinfo=None)),)
    assert data["runs"][0]["job"] == "db_maintenance"
    assert data["runs"][0]["outcome"] == "ok"
    assert data["runs"][0]["trigger"].startswith("manual:")
    assert datetime.fromisoformat(data["runs"][0]["started_at"]) <= datetime.now(UTC)


def test_a_job_that_ignores_the_stop_is_recorded_abandoned_and_not_overwritten(
    config: Path, db: Database, clock: FakeClock
) -> None:
    import threading

    from deskbot.adapters.db.job_ledger import SqlJobLedger
    from deskbot.jobs import ScheduledJob

    started, release = threading.Event(), threading.Event()

    def stubborn(ctx: JobContext) -> dict[str, Any]:
        started.set()
        release.wait(10)  # ignores ctx.stop
        return {"late": True}

    d = make_daemon(config, db, clock)
    job = ScheduledJob(
        "stubborn", JobSpec("stubborn", lambda s: "* * * * *", stubborn), "* * * * *"
    )
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(d.runner.run(job, clock.now()).outcome))
    worker.start()
    assert started.wait(10)
    assert d.shutdown(grace=0.2) is False
    [run] = SqlJobLedger(db).recent_runs("stubborn")
    assert run.outcome == "abandoned"
    assert "did not stop within" in (run.error or "")
    release.set()
    worker.join(10)
    assert results == ["lease_lost"]
    [run] = SqlJobLedger(db).recent_runs("stubborn")
    assert run.outcome == "abandoned"
    assert run.detail is None


def test_fires_skipped_while_a_run_is_still_going_are_reported_once(
    daemon: Daemon, clock: FakeClock
) -> None:
    import logging
    import threading

    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent

    from deskbot import metrics_registry

    started, release = threading.Event(), threading.Event()

    def long_run(ctx: JobContext) -> dict[str, Any]:
        started.set()
        release.wait(10)
        return {}

    job = daemon.jobs["db_maintenance"]
    slow = type(job)(job.id, JobSpec(job.id, lambda s: job.cron, long_run), job.cron)
    worker = threading.Thread(target=daemon.runner.run, args=(slow, clock.now()))
    worker.start()
    assert started.wait(10)
    skipped = (
        metrics_registry.REGISTRY.get_sample_value(
            "deskbot_job_skipped_total", {"job": "db_maintenance"}
        )
        or 0.0
    )
    event = JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, "db_maintenance", "default", [clock.now()])
    with capture_logs() as logs:
        for _ in range(3):
            daemon._on_overrun(event)
    release.set()
    worker.join(10)
    assert [e["event"] for e in logs] == ["job.overrun"]
    assert (
        metrics_registry.REGISTRY.get_sample_value(
            "deskbot_job_skipped_total", {"job": "db_maintenance"}
        )
        == skipped + 3
    )
    # APScheduler's own warning for each skipped fire is filtered out.
    record = logging.LogRecord(
        "apscheduler.scheduler",
        logging.WARNING,
        __file__,
        1,
        'Execution of job "x" skipped: maximum number of running instances reached (1)',
        (),
        None,
    )
    assert not logging.getLogger("apscheduler.scheduler").filter(record)


def test_reload_config_says_what_changed_and_tells_listeners(daemon: Daemon, config: Path) -> None:
    seen: list[Any] = []
    daemon.on_reload(seen.append)
    write_config(config, schedules='  sync: "*/5 * * * *"')
    result = daemon.reload_config()
    assert result.ok and result.settings is daemon.settings
    assert "added: sync" in result.message
    assert seen == [daemon.settings]
    config.write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    rejected = daemon.reload_config()
    assert not rejected.ok and rejected.settings is None
    assert "timezone" in rejected.message
    assert seen == [daemon.settings]  # a rejected file reaches no listener


def test_stop_hooks_run_at_shutdown_and_a_stuck_one_is_bounded(
    config: Path, db: Database, clock: FakeClock
) -> None:
    d = make_daemon(config, db, clock)
    d.start(paused=True, health=False, watch=False)
    stopped, release = threading.Event(), threading.Event()
    d.on_stop(stopped.set)
    d.on_stop(lambda: release.wait(30))  # a hook that does not finish in time
    try:
        assert d.shutdown(grace=0.2) is False  # returns after the grace, reports unclean
        assert stopped.is_set()
    finally:
        release.set()


# -- reload during shutdown, run a job now ----------------------------------------------------


def test_shutdown_waits_for_a_reload_in_progress_and_later_ones_are_declined(
    daemon: Daemon, config: Path
) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_listener(_settings: Any) -> None:  # a reload still busy when shutdown starts
        entered.set()
        release.wait(10)

    daemon.on_reload(slow_listener)
    write_config(config, schedules='  sync: "*/5 * * * *"')
    reloads: list[Any] = []
    reloading = threading.Thread(target=lambda: reloads.append(daemon.reload_config()))
    reloading.start()
    assert entered.wait(10)
    stopping = threading.Thread(target=daemon.shutdown, kwargs={"grace": 1})
    stopping.start()
    stopping.join(0.3)
    # The scheduler is not pulled from under the reload: shutdown waits for it to finish.
    assert stopping.is_alive() and daemon.scheduler.running
    release.set()
    reloading.join(10)
    stopping.join(10)
    assert reloads[0].ok and not daemon.scheduler.running
    # A reload asked for after shutdown began is declined cleanly (no JobLookupError, and the
    # settings in force stay those the schedule was built from).
    before = daemon.settings
    write_config(config, schedules="  sync: null")
    with capture_logs() as logs:
        late = daemon.reload_config()
    assert not late.ok and "shutting down" in late.message
    assert daemon.settings is before
    assert [e["event"] for e in logs] == ["config.reload_skipped"]


def test_run_job_now_goes_through_the_runner_without_waiting(
    tmp_path: Path, db: Database, clock: FakeClock
) -> None:
    config = tmp_path / "deskbot.yaml"
    write_config(config, schedules='  sync: "0 3 1 1 *"')  # never fires during the test
    started, release = threading.Event(), threading.Event()

    def blocking_sync(ctx: JobContext) -> dict[str, Any]:
        started.set()
        release.wait(10)
        return {"rows": 3}

    table = [JobSpec("sync", schedule=lambda s: s.schedules.sync, run=blocking_sync)]
    d = make_daemon(config, db, clock, table=table)
    d.start(health=False, watch=False)
    try:
        first = d.run_job_now("sync", requested_by="U1")
        assert first.accepted and "sync started" in first.message  # returned before the run
        assert started.wait(10) and d.is_running("sync")
        again = d.run_job_now("sync", requested_by="U1")
        assert not again.accepted and "already in progress" in again.message
        release.set()
        assert d.wait_requested("sync", 10) and not d.is_running("sync")
        [run] = d.ledger.recent_runs("sync")
        assert run.outcome == "ok" and run.trigger_key is not None
        assert run.trigger_key.startswith("manual:") and json.loads(run.detail or "") == {"rows": 3}
        missing = d.run_job_now("digest:nope")
        assert not missing.accepted and "not scheduled" in missing.message
    finally:
        release.set()
        d.shutdown(grace=1)
    refused = d.run_job_now("sync")
    assert not refused.accepted and "shutting down" in refused.message


def test_readyz_counts_a_sync_run_outside_the_daemon(
    tmp_path: Path, db: Database, clock: FakeClock
) -> None:
    """`deskbot sync` from the CLI, or another replica, refreshes sync_state: health sees it,
    and the sync is only as fresh as its stalest stream."""
    from deskbot.adapters.db.tables import SyncState

    config = tmp_path / "deskbot.yaml"
    write_config(config, schedules='  sync: "*/5 * * * *"')
    settings = bootstrap.load(config)
    d = bootstrap.make_daemon(config, settings, db, clock, table=TABLE)
    d.start(paused=True, watch=False)
    try:
        assert d.health_server is not None
        url = f"http://127.0.0.1:{d.health_server.port}/readyz"
        clock.advance(minutes=31)
        assert get(url)[0] == 503
        fresh, stale = clock.now(), clock.now() - timedelta(minutes=10)
        with db.session() as session:
            session.add(SyncState(stream="tickets", last_success_at=fresh, updated_at=fresh))
            session.add(
                SyncState(stream="satisfaction_ratings", last_success_at=stale, updated_at=stale)
            )
        status, body = get(url)
        assert status == 200
        assert json.loads(body)["checks"]["sync"]["age_seconds"] == 10 * 60
        clock.advance(minutes=21)
        assert get(url)[0] == 503
    finally:
        d.shutdown(grace=1)
