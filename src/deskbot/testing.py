"""Fakes shipped beside the code they stand in for (used by tests, benchmarks and the demo)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


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


class CrashError(BaseException):
    """Raised by a fake at an injected crash point; a BaseException, like a kill, so no
    ``except Exception`` in the code under test can swallow it."""


@dataclass
class LedgerRow:
    """A row of ``InMemoryLedger`` (the fields of the real ledger's records)."""

    key: str
    kind: str
    subject: str | None
    payload: dict[str, Any]
    status: str = "pending"
    attempts: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None


class InMemoryLedger:
    """The action ledger's interface (begin / complete / fail / get / pending) in memory.

    ``crash`` is called as ``crash(operation, key, when)`` with ``when`` "before" or "after"
    the operation takes effect; making it raise ``CrashError`` simulates a kill at that point.
    Rows survive the "crash" (like a database), so a rerun sees what was committed.
    """

    def __init__(self, crash: Callable[[str, str, str], None] | None = None) -> None:
        self.rows: dict[str, LedgerRow] = {}
        self.crash = crash
        self._lock = threading.Lock()

    def _hook(self, op: str, key: str, when: str) -> None:
        if self.crash is not None:
            self.crash(op, key, when)

    def begin(self, key: str, kind: str, subject: str | None, payload: dict[str, Any]) -> LedgerRow:
        self._hook("begin", key, "before")
        with self._lock:
            row = self.rows.get(key)
            if row is None:
                row = LedgerRow(key, kind, subject, json.loads(json.dumps(payload)))
                self.rows[key] = row
        self._hook("begin", key, "after")
        return copy.deepcopy(row)

    def complete(self, key: str, result: dict[str, Any]) -> None:
        self._hook("complete", key, "before")
        with self._lock:
            row = self.rows[key]
            row.status, row.result, row.attempts = "done", dict(result), row.attempts + 1
        self._hook("complete", key, "after")

    def fail(self, key: str, error: str) -> None:
        with self._lock:
            row = self.rows[key]
            row.status, row.error, row.attempts = "failed", error, row.attempts + 1

    def get(self, key: str) -> LedgerRow | None:
        with self._lock:
            row = self.rows.get(key)
            return copy.deepcopy(row) if row is not None else None

    def pending(self, kind: str) -> list[LedgerRow]:
        with self._lock:
            return [
                copy.deepcopy(r)
                for r in self.rows.values()
                if r.kind == kind and r.status == "pending"
            ]
