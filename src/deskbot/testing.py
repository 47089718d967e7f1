"""Fakes shipped beside the code they stand in for (used by tests, benchmarks and the demo)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from deskbot.domain.commands import AgentRef, GroupRef
from deskbot.domain.metrics import Window
from deskbot.services.providers import (
    BadRating,
    MetricValue,
    ReloadResult,
    Shoutout,
    StatsQuery,
    StatsSummary,
    StreamStatus,
    TriggerResult,
)
from deskbot.services.roster_directory import StaticPeopleDirectory  # noqa: F401  # for tests


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
    new: bool = False  # this ``begin`` inserted the row (as ``ActionRecord.new``)


class InMemoryLedger:
    """The action ledger's interface (begin / complete / fail / get / pending) in memory.

    ``crash`` is called as ``crash(operation, key, when)`` with ``when`` "before" or "after"
    the operation takes effect; making it raise ``CrashError`` simulates a kill at that point.
    Rows survive the "crash" (like a database), so a rerun sees what was committed.
    """

    def __init__(self, crash: Callable[[str, str, str], None] | None = None) -> None:
        self.rows: dict[str, LedgerRow] = {}
        self.claims: dict[str, str] = {}
        self.crash = crash
        self._lock = threading.Lock()

    def _hook(self, op: str, key: str, when: str) -> None:
        if self.crash is not None:
            self.crash(op, key, when)

    def begin(self, key: str, kind: str, subject: str | None, payload: dict[str, Any]) -> LedgerRow:
        self._hook("begin", key, "before")
        with self._lock:
            row = self.rows.get(key)
            inserted = row is None
            if row is None:
                row = LedgerRow(key, kind, subject, json.loads(json.dumps(payload)))
                self.rows[key] = row
            out = copy.deepcopy(row)
        self._hook("begin", key, "after")
        out.new = inserted
        return out

    def claim(self, key: str, owner: str, seconds: float) -> bool:
        """As ``SqlActionLedger.claim`` (no expiry: a claim lives until released)."""
        with self._lock:
            row = self.rows.get(key)
            if row is None or row.status != "pending":
                return False
            return self.claims.setdefault(key, owner) == owner

    def release(self, key: str, owner: str) -> None:
        with self._lock:
            if self.claims.get(key) == owner:
                del self.claims[key]

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


# --------------------------------------------------------------------------------------------
# Slack app providers (deskbot.services.providers): small fakes that record what they were asked
# --------------------------------------------------------------------------------------------


class FakeDirectory:
    """Agents and groups given up front (``deskbot.services.providers.Directory``)."""

    def __init__(self, agents: Sequence[AgentRef] = (), groups: Sequence[GroupRef] = ()) -> None:
        self._agents = list(agents)
        self._groups = list(groups)

    def agents(self) -> Sequence[AgentRef]:
        return list(self._agents)

    def groups(self) -> Sequence[GroupRef]:
        return list(self._groups)


class FakeStatsProvider:
    """Answers every query with ``metrics``; records queries. With ``gate``, each call blocks
    until the event is set (to prove that acknowledgements never wait for the work)."""

    def __init__(
        self,
        metrics: Sequence[MetricValue] = (),
        gate: threading.Event | None = None,
    ) -> None:
        self.metrics = tuple(metrics) or (
            MetricValue("Tickets solved", 42, 40),
            MetricValue("CSAT", 91.5, 88.0, unit="percent"),
            MetricValue("First reply (median)", 35, 50, unit="minutes", higher_is_better=False),
        )
        self.gate = gate
        self.queries: list[StatsQuery] = []
        self.started = threading.Event()

    def stats(self, query: StatsQuery) -> StatsSummary:
        self.started.set()
        if self.gate is not None and not self.gate.wait(timeout=30):
            raise TimeoutError("FakeStatsProvider gate was never opened")
        self.queries.append(query)
        return StatsSummary(f"Numbers for {query.target.label}", query.period, self.metrics)


class FakeCsatProvider:
    def __init__(self, ratings: Sequence[BadRating] = ()) -> None:
        self.ratings = list(ratings)
        self.calls: list[tuple[Window, int]] = []

    def bad_ratings(self, period: Window, limit: int) -> Sequence[BadRating]:
        self.calls.append((period, limit))
        return self.ratings[:limit]


class FakeShoutouts:
    def __init__(self, shoutouts: Sequence[Shoutout] = ()) -> None:
        self.shoutouts = list(shoutouts)
        self.calls = 0

    def recent_shoutouts(self, limit: int) -> Sequence[Shoutout]:
        self.calls += 1
        return self.shoutouts[:limit]


class FakeSyncStatus:
    def __init__(self, streams: Sequence[StreamStatus] = ()) -> None:
        self.streams = list(streams)
        self.calls = 0

    def sync_status(self) -> Sequence[StreamStatus]:
        self.calls += 1
        return list(self.streams)


class FakeSyncTrigger:
    def __init__(self, result: TriggerResult | None = None) -> None:
        self.result = result or TriggerResult(True, "Sync started.")
        self.requests: list[str] = []

    def trigger_sync(self, requested_by: str) -> TriggerResult:
        self.requests.append(requested_by)
        return self.result


class FakeConfigReloader:
    def __init__(self, result: ReloadResult | None = None) -> None:
        self.result = result or ReloadResult(True, "No changes.")
        self.calls = 0

    def reload_config(self) -> ReloadResult:
        self.calls += 1
        return self.result


class RecordingNotifier:
    """A ``deskbot.ports.AdminNotifier`` that keeps every post: ``posts`` is [(channel, text)]."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def post(self, channel: str, text: str) -> None:
        with self._lock:
            self.posts.append((channel, text))
