"""The scheduled fire time of the run in progress, from APScheduler itself (issue 13).

APScheduler 3 does not pass a job's ``scheduled_run_time`` to the function it calls; the
runner used to work it out from the local clock, so a fire that started late (a busy pool, a
slow replica) could name a different trigger than the same fire on another replica.
``FireTimeExecutor`` hands the scheduler's own run time to the thread that runs the job;
``current()`` reads it there. Trigger keys then come from the schedule, not from any clock.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor

_local = threading.local()


def current() -> datetime | None:
    """The scheduled time of the fire this thread is running, if APScheduler started it."""
    value = getattr(_local, "fire_time", None)
    return value if isinstance(value, datetime) else None


def _run_with_fire_time(job: Any, alias: str, run_times: list[datetime], logger: str) -> Any:
    # Coalesced misfires run once, as the latest of them (APScheduler passes one run time).
    _local.fire_time = run_times[-1] if run_times else None
    try:
        return run_job(job, alias, run_times, logger)
    finally:
        _local.fire_time = None


class FireTimeExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """APScheduler's thread pool, telling each run its scheduled fire time."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def callback(f: Any) -> None:
            exc = f.exception()
            if exc:
                self._run_job_error(job.id, exc, getattr(exc, "__traceback__", None))
            else:
                self._run_job_success(job.id, f.result())

        future = self._pool.submit(
            _run_with_fire_time, job, job._jobstore_alias, run_times, self._logger.name
        )
        future.add_done_callback(callback)
