"""The job table, trigger keys (including daylight-saving changes) and the job runner."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from deskbot.adapters.db.job_ledger import SqlJobLedger
from deskbot.adapters.db.job_mutex import SqlJobMutex
from deskbot.adapters.db.store import Database
from deskbot.errors import DeskbotError
from deskbot.jobs import (
    JOBS,
    JobContext,
    JobRunner,
    JobSpec,
    ScheduledJob,
    db_maintenance,
    is_fixed_time,
    next_fire_times,
    resolve_jobs,
    scheduled_fire_time,
    trigger_key,
)
from deskbot.settings import Settings, parse_settings
from deskbot.testing import FakeClock, RecordingNotifier

BERLIN = ZoneInfo("Europe/Berlin")


def make_settings(extra: str = "", timezone: str = "UTC") -> Settings:
    return parse_settings(
        f"""
timezone: {timezone}
zendesk:
  subdomain: acme
slack:
  channels:
    admin: "#deskbot-admin"
daemon:
  failure_alert_after: 3
  lease_seconds: 60
{extra}
"""
    )


def make_runner(
    db: Database,
    clock: FakeClock,
    settings: Settings | None = None,
    instance: str = "replica-a",
    notifier: RecordingNotifier | None = None,
) -> JobRunner:
    return JobRunner(
        settings=settings or make_settings(),
        database=db,
        ledger=SqlJobLedger(db),
        clock=clock,
        stop=threading.Event(),
        notifier=notifier or RecordingNotifier(),
        instance=instance,
        heartbeat=False,
    )


def job(
    name: str, run: Callable[[JobContext], Mapping[str, Any] | None], cron: str = "*/5 * * * *"
) -> ScheduledJob:
    return ScheduledJob(name, JobSpec(name, schedule=lambda s: cron, run=run), cron)


# -- the table --------------------------------------------------------------------------------


def test_table_resolves_single_jobs_and_families_from_settings() -> None:
    settings = make_settings(
        """
schedules:
  db_maintenance: "0 4 * * *"
digests:
  - {name: daily, channel: "#support", schedule: "0 9 * * mon-fri"}
  - {name: weekly, channel: "#support", schedule: "0 9 * * mon", period: weekly}
"""
    )
    jobs = {j.id: j for j in resolve_jobs(JOBS, settings)}
    assert jobs["db_maintenance"].cron == "0 4 * * *"
    assert jobs["digest:daily"].variant == "daily"
    assert jobs["digest:weekly"].cron == "0 9 * * mon"


def test_a_job_whose_schedule_is_null_is_not_scheduled() -> None:
    settings = make_settings(
        "schedules:\n  sync: null\n  db_maintenance: null\n  followups: null\n  people: null\n"
        "  qa_cycle: null\n  nps_round: null\n  nps_reminders: null\n"
        "nps:\n  summary_schedule: null\n"
    )
    assert resolve_jobs(JOBS, settings) == []


def test_feature_jobs_follow_their_settings() -> None:
    on = parse_settings(
        """
zendesk: {subdomain: acme}
slack:
  channels: {shoutouts: "#wins"}
schedules: {shoutouts: "*/15 * * * *", hero_of_the_week: "0 15 * * fri"}
digests:
  - {name: daily, channel: "#support", schedule: "0 9 * * *"}
"""
    )
    jobs = {j.id: j.cron for j in resolve_jobs(JOBS, on)}
    assert jobs["sync"] == "*/5 * * * *"
    assert jobs["followups"] == "*/10 * * * *"
    assert jobs["shoutouts"] == "*/15 * * * *"
    assert jobs["hero_of_the_week"] == "0 15 * * fri"
    assert jobs["digest:daily"] == "0 9 * * *"
    off = parse_settings(
        """
zendesk: {subdomain: acme}
slack: {enabled: false, channels: {shoutouts: "#wins"}}
followups: {enabled: false}
qa: {enabled: false}
digests:
  - {name: daily, channel: "#support", schedule: "0 9 * * *"}
"""
    )
    # The sync is not a feature one switches off (only its schedule, with null).
    assert [j.id for j in resolve_jobs(JOBS, off)] == ["db_maintenance", "sync"]
    # No channel to post shout-outs in: no shout-out jobs.
    bare = parse_settings("zendesk: {subdomain: a}")
    assert "shoutouts" not in {j.id for j in resolve_jobs(JOBS, bare)}


def test_two_jobs_with_the_same_id_are_refused() -> None:
    table = [JobSpec("x", schedule=lambda s: "* * * * *", run=dict)] * 2
    with pytest.raises(DeskbotError, match="'x'"):
        resolve_jobs(table, make_settings())


# -- fire times and keys ----------------------------------------------------------------------


def test_fire_time_is_the_latest_scheduled_time_within_the_grace() -> None:
    trigger = job("j", dict).trigger(ZoneInfo("UTC"))
    at = datetime(2026, 11, 2, 10, 7, 30, tzinfo=UTC)
    assert scheduled_fire_time(trigger, at, 300) == datetime(2026, 11, 2, 10, 5, tzinfo=UTC)
    # A coalesced misfire (two fires missed) stands for the latest of them.
    late = datetime(2026, 11, 2, 10, 14, 59, tzinfo=UTC)
    assert scheduled_fire_time(trigger, late, 600) == datetime(2026, 11, 2, 10, 10, tzinfo=UTC)


def test_next_fire_times_follow_the_configured_timezone() -> None:
    daily = job("d", dict, cron="0 9 * * *")
    after = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    fires = next_fire_times(daily, BERLIN, after, 2)
    assert [f.astimezone(UTC).hour for f in fires] == [8, 8]  # 09:00 CET = 08:00 UTC
    assert fires[0].date().isoformat() == "2026-11-03"


def test_autumn_dst_a_fixed_time_job_fires_twice_in_apscheduler_but_runs_once(
    db: Database,
) -> None:
    # Europe/Berlin, Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice.
    nightly = ScheduledJob(
        "nightly", JobSpec("nightly", lambda s: "30 2 * * *", run=lambda ctx: {}), "30 2 * * *"
    )
    fires = next_fire_times(nightly, BERLIN, datetime(2026, 10, 24, 12, tzinfo=BERLIN), 3)
    assert [f.astimezone(UTC) for f in fires[:2]] == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ]
    assert is_fixed_time("30 2 * * *")
    keys = {trigger_key(nightly.cron, f, BERLIN) for f in fires[:2]}
    assert keys == {"2026-10-25T02:30[Europe/Berlin]"}

    calls: list[str] = []
    nightly = ScheduledJob(
        "nightly",
        JobSpec("nightly", lambda s: "30 2 * * *", run=lambda ctx: calls.append(ctx.trigger_key)),
        "30 2 * * *",
    )
    clock = FakeClock(fires[0].astimezone(UTC))
    runner = make_runner(db, clock, make_settings(timezone="Europe/Berlin"))
    assert runner.run(nightly, fires[0]).outcome == "ok"
    clock.set(fires[1].astimezone(UTC))
    assert runner.run(nightly, fires[1]).outcome == "claimed_elsewhere"
    clock.set(fires[2].astimezone(UTC))
    assert runner.run(nightly, fires[2]).outcome == "ok"
    assert calls == ["2026-10-25T02:30[Europe/Berlin]", "2026-10-26T02:30[Europe/Berlin]"]


def test_autumn_dst_an_interval_job_runs_in_both_copies_of_the_hour() -> None:
    every_half_hour = job("sync", dict, cron="*/30 * * * *")
    start = datetime(2026, 10, 25, 1, 59, tzinfo=BERLIN)
    fires = next_fire_times(every_half_hour, BERLIN, start, 6)
    utc = [f.astimezone(UTC).strftime("%H:%M") for f in fires]
    assert utc == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30"]
    keys = [trigger_key(every_half_hour.cron, f, BERLIN) for f in fires]
    assert len(set(keys)) == 6


def test_spring_dst_a_job_in_the_missing_hour_runs_once_after_the_change() -> None:
    # Sunday 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    nightly = job("nightly", dict, cron="30 2 * * *")
    fires = next_fire_times(nightly, BERLIN, datetime(2026, 3, 28, 12, tzinfo=BERLIN), 2)
    assert [f.astimezone(UTC) for f in fires] == [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 03:30 CEST, right after the jump
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]


# -- the runner ------------------------------------------------------------------------------


def test_a_run_is_recorded_with_its_summary(db: Database, clock: FakeClock) -> None:
    runner = make_runner(db, clock)

    def work(ctx: JobContext) -> dict[str, Any]:
        clock.advance(seconds=3)
        return {"rows": 12, "job": ctx.job, "trigger": ctx.trigger_key}

    fire = clock.now()
    result = runner.run(job("sync", work), fire)
    assert result.outcome == "ok"
    [run] = SqlJobLedger(db).recent_runs("sync")
    assert run.outcome == "ok"
    assert run.instance == "replica-a"
    assert run.trigger_key == fire.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run.finished_at is not None
    assert run.finished_at - run.started_at == timedelta(seconds=3)
    assert json.loads(run.detail or "") == {
        "rows": 12,
        "job": "sync",
        "trigger": run.trigger_key,
    }
    assert SqlJobLedger(db).last_success("sync") == run.finished_at


def test_failing_and_recovering_are_logged_once_and_admins_alerted_after_n(
    db: Database, clock: FakeClock
) -> None:
    notifier = RecordingNotifier()
    runner = make_runner(db, clock, notifier=notifier)
    script = iter(["ok", "fail", "fail", "fail", "fail", "fail", "ok", "ok"])

    def flaky(ctx: JobContext) -> dict[str, Any]:
        if next(script) == "fail":
            raise ConnectionError("zendesk unreachable for agent@example.com")
        return {}

    flaky_job = job("sync", flaky)
    outcomes = []
    with capture_logs() as logs:
        for _ in range(8):
            outcomes.append(runner.run(flaky_job, clock.now()).outcome)
            clock.advance(minutes=5)
    assert outcomes == ["ok"] + ["failed"] * 5 + ["ok", "ok"]
    events = [e["event"] for e in logs]
    assert events.count("job.failing") == 1
    assert events.count("job.recovered") == 1
    failing = next(e for e in logs if e["event"] == "job.failing")
    assert "ConnectionError" in failing["error"]
    alerts = [text for channel, text in notifier.posts if channel == "#deskbot-admin"]
    assert len(alerts) == 2, alerts
    assert "failed 3 times in a row" in alerts[0]
    assert "example.com" not in alerts[0]  # errors are redacted before they are stored or sent
    assert "works again" in alerts[1]
    runs = SqlJobLedger(db).recent_runs("sync")
    assert [r.outcome for r in reversed(runs)] == outcomes


def test_one_instance_of_a_job_at_a_time(db: Database, clock: FakeClock) -> None:
    runner = make_runner(db, clock)
    started, release = threading.Event(), threading.Event()

    def slow(ctx: JobContext) -> dict[str, Any]:
        started.set()
        release.wait(10)
        return {}

    slow_job = job("sync", slow)
    results: list[str] = []
    worker = threading.Thread(
        target=lambda: results.append(runner.run(slow_job, clock.now()).outcome)
    )
    worker.start()
    assert started.wait(10)
    clock.advance(minutes=5)
    assert runner.run(slow_job, clock.now()).outcome == "busy"
    release.set()
    worker.join(10)
    assert results == ["ok"]
    assert len(SqlJobLedger(db).recent_runs("sync")) == 1


def test_a_job_that_honours_the_stop_is_recorded_as_abandoned(
    db: Database, clock: FakeClock
) -> None:
    runner = make_runner(db, clock)
    started = threading.Event()

    def waits(ctx: JobContext) -> dict[str, Any]:
        started.set()
        ctx.stop.wait(10)
        ctx.check_stop()
        return {"finished": True}

    results: list[str] = []
    worker = threading.Thread(
        target=lambda: results.append(runner.run(job("sync", waits), clock.now()).outcome)
    )
    worker.start()
    assert started.wait(10)
    runner.stop.set()  # what SIGTERM does
    worker.join(10)
    assert results == ["abandoned"]
    [run] = SqlJobLedger(db).recent_runs("sync")
    assert run.outcome == "abandoned"
    assert run.finished_at is not None
    assert run.detail is None
    # Once stopping, no new run starts.
    assert runner.run(job("sync", waits), clock.now()).outcome == "stopping"


def test_a_trigger_runs_once_across_replicas(db: Database, clock: FakeClock) -> None:
    calls: list[str] = []
    shared = job("sync", lambda ctx: calls.append(ctx.trigger_key) or {})
    a = make_runner(db, clock, instance="replica-a")
    b = make_runner(db, clock, instance="replica-b")
    fire = clock.now()
    assert a.run(shared, fire).outcome == "ok"
    assert b.run(shared, fire).outcome == "claimed_elsewhere"
    assert len(calls) == 1


def test_a_dead_replicas_trigger_is_taken_over_after_its_lease_expires(
    db: Database, clock: FakeClock
) -> None:
    ledger = SqlJobLedger(db)
    calls: list[str] = []
    shared = job("followups", lambda ctx: calls.append(ctx.trigger_key) or {})
    fire = clock.now()
    key = trigger_key(shared.cron, fire, ZoneInfo("UTC"))
    # replica-a takes the job's mutex, claims the trigger, starts its run ... and dies.
    assert SqlJobMutex(db).acquire("followups", "replica-a", 60) is not None
    dead = ledger.claim(
        "followups",
        key,
        fire_time=fire,
        instance="replica-a",
        now=fire,
        expires_at=fire + timedelta(seconds=60),
    )
    assert dead is not None
    b = make_runner(db, clock, instance="replica-b")
    assert b.run(shared, fire).outcome == "running_elsewhere"
    # Its mutex is still valid (by the database's clock): nothing is taken over.
    assert [r.outcome for r in b.take_over_expired({"followups": shared})] == ["running_elsewhere"]
    with db.engine.begin() as conn:  # the database's clock passes the mutex's expiry
        conn.execute(text("UPDATE job_mutex SET expires_at = 0"))
    [result] = b.take_over_expired({"followups": shared})
    assert result.outcome == "ok"
    assert result.trigger_key == key
    assert calls == [key]
    runs = {r.instance: r for r in ledger.recent_runs("followups")}
    assert runs["replica-a"].outcome == "abandoned"
    assert "replica-a stopped renewing" in (runs["replica-a"].error or "")
    assert runs["replica-b"].outcome == "ok"
    # The dead replica, if it comes back, cannot overwrite what replica-b recorded.
    assert not ledger.finish(dead, "ok", clock.now())
    assert ledger.recent_runs("followups")[0].outcome == "ok"
    assert b.take_over_expired({"followups": shared}) == []


def test_a_trigger_abandoned_long_ago_is_not_run_again(db: Database, clock: FakeClock) -> None:
    ledger = SqlJobLedger(db)
    calls: list[str] = []
    shared = job("followups", lambda ctx: calls.append(ctx.trigger_key) or {})
    fire = clock.now()
    key = trigger_key(shared.cron, fire, ZoneInfo("UTC"))
    ledger.claim(
        "followups",
        key,
        fire_time=fire,
        instance="a",
        now=fire,
        expires_at=fire + timedelta(seconds=60),
    )
    clock.advance(hours=25)
    b = make_runner(db, clock, instance="replica-b")
    assert b.take_over_expired({"followups": shared}) == []
    assert calls == []


def test_a_live_lease_is_renewed_and_so_not_taken_over(db: Database, clock: FakeClock) -> None:
    ledger = SqlJobLedger(db)
    fire = clock.now()
    claim = ledger.claim(
        "sync", "k", fire_time=fire, instance="a", now=fire, expires_at=fire + timedelta(seconds=60)
    )
    assert claim is not None
    clock.advance(seconds=50)
    assert ledger.renew("sync", "k", "a", clock.now() + timedelta(seconds=60))
    clock.advance(seconds=50)
    assert ledger.expired_leases(clock.now(), fire) == []
    assert (
        ledger.claim(
            "sync", "k", fire_time=fire, instance="b", now=clock.now(), expires_at=clock.now()
        )
        is None
    )


def test_db_maintenance_prunes_old_history_and_optimises(db: Database, clock: FakeClock) -> None:
    runner = make_runner(db, clock)
    noop = job("sync", lambda ctx: {})
    runner.run(noop, clock.now())  # will be 40 days old
    clock.advance(days=40)
    runner.run(noop, clock.now())  # recent: kept
    maintenance = ScheduledJob("db_maintenance", JOBS[0], "17 3 * * *")
    assert maintenance.spec.run is db_maintenance
    result = runner.run(maintenance, clock.now())
    assert result.outcome == "ok", result.error
    assert result.summary is not None
    assert result.summary["pruned_runs"] == 1
    assert result.summary["pruned_leases"] == 1
    assert result.summary["optimized"] is True
    if db.dialect == "sqlite":
        assert result.summary["wal_checkpoint"]["busy"] is False
    remaining = SqlJobLedger(db).recent_runs()
    assert sorted(r.job for r in remaining) == ["db_maintenance", "sync"]


def test_the_runner_renews_its_lease_while_a_job_works(db: Database, clock: FakeClock) -> None:
    renewed = threading.Event()

    class SpyLedger(SqlJobLedger):
        def renew(self, job: str, trigger_key: str, instance: str, expires_at: datetime) -> bool:
            ok = super().renew(job, trigger_key, instance, expires_at)
            if ok and expires_at > clock.now():
                renewed.set()
            return ok

    runner = JobRunner(
        settings=make_settings(),
        database=db,
        ledger=SpyLedger(db),
        clock=clock,
        stop=threading.Event(),
        notifier=RecordingNotifier(),
        instance="replica-a",
        heartbeat_seconds=0.01,
    )

    def long_job(ctx: JobContext) -> dict[str, Any]:
        assert renewed.wait(10), "the lease was never renewed"
        return {}

    assert runner.run(job("sync", long_job), clock.now()).outcome == "ok"


def test_an_interrupt_records_the_run_as_abandoned_and_propagates(
    db: Database, clock: FakeClock
) -> None:
    runner = make_runner(db, clock)

    def interrupted(ctx: JobContext) -> dict[str, Any]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run(job("sync", interrupted), clock.now())
    [run] = SqlJobLedger(db).recent_runs("sync")
    assert run.outcome == "abandoned"
    assert run.error == "interrupted by KeyboardInterrupt"
    assert runner.active_runs() == []


def test_an_unreachable_database_is_logged_once_until_it_answers_again(
    db: Database, clock: FakeClock
) -> None:
    from deskbot.errors import StoreError

    ledger = SqlJobLedger(db)
    runner = JobRunner(
        settings=make_settings(),
        database=db,
        ledger=ledger,
        clock=clock,
        stop=threading.Event(),
        notifier=RecordingNotifier(),
        instance="replica-a",
        heartbeat=False,
    )
    calls: list[str] = []
    sync = job("sync", lambda ctx: calls.append(ctx.trigger_key) or {})
    down = Database("postgresql+psycopg://deskbot:secret@127.0.0.1:1/none?connect_timeout=2")
    with capture_logs() as logs:
        ledger.database = down
        with pytest.raises(StoreError, match="unavailable: OperationalError") as raised:
            ledger.last_success("sync")
        assert "secret" not in str(raised.value)
        for _ in range(3):
            assert runner.run(sync, clock.now()).outcome == "store_unavailable"
            clock.advance(minutes=5)
        ledger.database = db
        assert runner.run(sync, clock.now()).outcome == "ok"
    down.dispose()
    events = [e["event"] for e in logs]
    assert events.count("job.store_unavailable") == 1
    assert events.count("job.store_recovered") == 1
    assert len(calls) == 1


def test_the_migrated_job_tables_match_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert [d for d in differences if "job_" in str(d)] == []


# -- the sync job -----------------------------------------------------------------------------


def _fake_sync(summaries: list[dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def run_sync(settings: Any, database: Any, clock: Any, stop: Any) -> dict[str, Any]:
        return summaries.pop(0)

    return run_sync


def test_the_sync_job_runs_a_follow_up_pass_through_the_runner(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deskbot import bootstrap
    from deskbot.jobs import sync_job

    passes: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def follow_up_pass(ctx: JobContext) -> dict[str, Any]:
        passes.append(ctx.trigger_key)
        entered.set()
        release.wait(10)
        return {"opened": 0}

    followups = job("followups", follow_up_pass)
    runner = JobRunner(
        settings=make_settings(),
        database=db,
        ledger=SqlJobLedger(db),
        clock=clock,
        stop=threading.Event(),
        notifier=RecordingNotifier(),
        heartbeat=False,
        jobs=lambda: {"followups": followups},
    )
    ok = {"ok": True, "stopped": False, "rows": 5, "streams": {}}
    monkeypatch.setattr(bootstrap, "run_sync", _fake_sync([dict(ok), dict(ok)]))
    release.set()
    result = runner.run_now(job("sync", sync_job))
    assert result.outcome == "ok" and result.summary is not None
    follow = result.summary["followups"]
    assert follow["outcome"] == "ok" and len(passes) == 1
    [recorded] = SqlJobLedger(db).recent_runs("followups")
    assert recorded.id == follow["run_id"] and recorded.trigger_key == passes[0]

    # A follow-up pass already running (its schedule fired): the sync does not start a second.
    release.clear()
    entered.clear()
    scheduled = threading.Thread(target=runner.run_now, args=[followups])
    scheduled.start()
    assert entered.wait(10)
    try:
        busy = runner.run_now(job("sync", sync_job))
    finally:
        release.set()
        scheduled.join(10)
    assert busy.summary is not None and busy.summary["followups"]["outcome"] == "busy"
    assert len(passes) == 2  # the sync's first pass and the scheduled one, nothing more


def test_a_sync_stopped_by_shutdown_is_abandoned_and_follow_ups_wait(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deskbot import bootstrap
    from deskbot.jobs import sync_job

    stopped = {"ok": True, "stopped": True, "rows": 2, "streams": {}}
    monkeypatch.setattr(bootstrap, "run_sync", _fake_sync([stopped]))
    runner = make_runner(db, clock)
    result = runner.run_now(job("sync", sync_job))
    assert result.outcome == "abandoned" and "shutting down" in (result.error or "")
    assert SqlJobLedger(db).last_success("sync") is None  # /healthz does not count it


def test_the_sync_job_says_when_follow_ups_are_off(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deskbot import bootstrap
    from deskbot.jobs import sync_job

    ok = {"ok": True, "stopped": False, "rows": 0, "streams": {}}
    monkeypatch.setattr(bootstrap, "run_sync", _fake_sync([dict(ok)]))
    runner = make_runner(db, clock, make_settings("followups: {enabled: false}"))
    result = runner.run_now(job("sync", sync_job))
    assert result.summary is not None and result.summary["followups"] == {"outcome": "disabled"}
