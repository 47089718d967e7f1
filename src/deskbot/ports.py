"""Interfaces between the services and the outside world (typing.Protocols).

Services depend on these, never on zenpy, slack_sdk or SQLModel. A test fake is a small class
or function that satisfies the protocol (see ``deskbot.testing``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from, and how waiting happens. Tests inject a fake one."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (for pacing)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a clock used by a stoppable worker should wake early on shutdown."""
        ...


class SystemClock:
    """The real clock. ``sleep`` waits on an optional stop event so shutdown is never blocked."""

    def __init__(self, stop_event: StopEvent | None = None) -> None:
        self._stop = stop_event

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._stop is not None:
            self._stop.wait(seconds)
        else:
            time.sleep(seconds)


class StopEvent(Protocol):
    """A ``threading.Event``-like flag that shutdown sets."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Notifier(Protocol):
    """Posts a short plain-text message to a chat channel (the Slack adapter implements it)."""

    def post(self, channel: str, text: str) -> None: ...


@dataclass(frozen=True)
class JobRunRecord:
    """One row of the daemon's run history, as the job runner and ``deskbot jobs`` see it."""

    id: int
    job: str
    trigger_key: str | None
    instance: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # running / ok / failed / abandoned
    error: str | None
    detail: str | None  # JSON summary returned by the job


class JobLedger(Protocol):
    """Run history and per-trigger leases, shared by every replica of the daemon.

    ``claim`` is the only way a run starts: it succeeds for exactly one caller per
    ``(job, trigger_key)`` — unless the holder stops renewing its lease, in which case another
    caller may take the trigger over once ``expires_at`` has passed.
    """

    def claim(
        self,
        job: str,
        trigger_key: str,
        *,
        fire_time: datetime,
        instance: str,
        now: datetime,
        expires_at: datetime,
    ) -> JobClaim | None:
        """Start a run of ``job`` for ``trigger_key``, or ``None`` if another holds or did it."""
        ...

    def renew(self, job: str, trigger_key: str, instance: str, expires_at: datetime) -> bool:
        """Extend a held lease; ``False`` means the lease was lost (taken over)."""
        ...

    def finish(
        self,
        claim: JobClaim,
        outcome: str,
        finished_at: datetime,
        error: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """Record the end of a run and release the trigger (``done`` unless abandoned).

        Returns ``False`` (and writes nothing) when the lease was lost to another instance.
        """
        ...

    def recent_runs(self, job: str | None = None, limit: int = 20) -> list[JobRunRecord]:
        """Newest first."""
        ...

    def last_success(self, job: str) -> datetime | None: ...

    def failure_streak(self, job: str, limit: int) -> tuple[int, int]:
        """(consecutive failures ending with the latest finished run, the same before it),
        each counted up to ``limit``; abandoned and running runs are ignored."""
        ...

    def expired_leases(
        self, now: datetime, fired_since: datetime
    ) -> list[tuple[str, str, datetime]]:
        """Triggers fired since ``fired_since`` whose holder stopped renewing before finishing:
        (job, trigger_key, fire_time), oldest first. Any replica may claim them again."""
        ...

    def prune(self, finished_before: datetime) -> tuple[int, int]:
        """Delete finished runs and released leases older than this: (runs, leases) removed."""
        ...


@dataclass(frozen=True)
class JobClaim:
    """A claimed trigger: the run row that records it, and what it took over (if anything)."""

    job: str
    trigger_key: str
    instance: str
    run_id: int
    fire_time: datetime
    took_over_from: str | None = None  # the instance whose lease had expired
