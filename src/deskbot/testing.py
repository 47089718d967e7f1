"""Fakes shipped beside the code they stand in for (used by tests, benchmarks and the demo)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that only moves when told to. ``sleep`` advances it instantly.

    Satisfies ``deskbot.ports.Clock``. Thread-safe; ``sleeps`` records every requested wait so
    tests can assert on pacing without waiting.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._mono = 1000.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
        if seconds > 0:
            self.advance(seconds)

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        step = timedelta(seconds=seconds, **delta)
        with self._lock:
            self._now += step
            self._mono += step.total_seconds()

    def set(self, when: datetime) -> None:
        with self._lock:
            self._mono += (when - self._now).total_seconds()
            self._now = when


class RecordingNotifier:
    """A ``deskbot.ports.Notifier`` that keeps every post: ``posts`` is [(channel, text)]."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def post(self, channel: str, text: str) -> None:
        with self._lock:
            self.posts.append((channel, text))
