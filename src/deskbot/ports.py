"""Interfaces between the services and the outside world (typing.Protocols).

Services depend on these, never on zenpy, slack_sdk or SQLModel. A test fake is a small class
or function that satisfies the protocol (see ``deskbot.testing``).
"""

from __future__ import annotations

import time
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
