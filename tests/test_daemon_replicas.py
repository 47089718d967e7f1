"""Two replicas on one PostgreSQL: every scheduled trigger of a simulated day runs exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deskbot.adapters.db.job_ledger import SqlJobLedger
from deskbot.adapters.db.store import Database
from deskbot.jobs import JobContext, JobRunner, JobSpec, ScheduledJob, next_fire_times
from deskbot.settings import parse_settings
from deskbot.testing import FakeClock, RecordingNotifier

pytestmark = pytest.mark.postgres

SETTINGS = parse_settings(
    """
timezone: Europe/Berlin
zendesk: {subdomain: acme}
daemon: {lease_seconds: 60}
"""
)


def test_two_replicas_run_each_trigger_of_a_day_exactly_once(postgres_url: str) -> None:
    database = Database(postgres_url)
    database.upgrade()
    executed: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    def work(ctx: JobContext) -> dict[str, Any]:
        with lock:
            executed[(ctx.job, ctx.trigger_key)] += 1
        return {"by": "either"}

    crons = {"sync": "*/15 * * * *", "followups": "7 * * * *", "digest:daily": "0 9 * * *"}
    jobs = [
        ScheduledJob(name, JobSpec(name, lambda s, c=cron: c, run=work), cron)
        for name, cron in crons.items()
    ]
    tz = SETTINGS.tz
    day_start = datetime(2026, 10, 25, 0, 0, tzinfo=tz)  # a 25-hour day: clocks go back
    day_end = day_start + timedelta(days=1)
    fires = sorted(
        [
            (fire, job)
            for job in jobs
            for fire in next_fire_times(job, tz, day_start - timedelta(seconds=1), 200)
            if fire < day_end
        ],
        key=lambda pair: (pair[0], pair[1].id),
    )
    clock = FakeClock(day_start.astimezone(UTC))
    replicas = [
        JobRunner(
            settings=SETTINGS,
            database=database,
            ledger=SqlJobLedger(database),
            clock=clock,
            stop=threading.Event(),
            notifier=RecordingNotifier(),
            instance=name,
            heartbeat=False,
        )
        for name in ("replica-a", "replica-b")
    ]
    outcomes: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for fire, job in fires:
            clock.set(fire.astimezone(UTC))
            barrier = threading.Barrier(2)

            def fire_on(
                runner: JobRunner,
                job: ScheduledJob = job,
                fire: datetime = fire,
                barrier: threading.Barrier = barrier,
            ) -> str:
                barrier.wait(10)  # both replicas reach the trigger together
                return runner.run(job, fire).outcome

            for result in pool.map(fire_on, replicas):
                outcomes[result] += 1

    expected = {"sync": 25 * 4, "followups": 25, "digest:daily": 1}
    per_job = Counter(job for job, _key in executed)
    assert per_job == expected
    assert set(executed.values()) == {1}, "a trigger ran twice"
    # The other replica found the trigger done, or the job running (its mutex): never twice.
    assert outcomes["ok"] == len(fires)
    assert outcomes["claimed_elsewhere"] + outcomes["running_elsewhere"] == len(fires)
    runs = SqlJobLedger(database).recent_runs(limit=1000)
    assert Counter(r.job for r in runs) == expected
    assert {r.outcome for r in runs} == {"ok"}
    assert len({(r.job, r.trigger_key) for r in runs}) == len(runs)
    assert {r.instance for r in runs} <= {"replica-a", "replica-b"}
    database.dispose()
