"""Slack answers in a blink: compute only what is shown, and share identical questions.

``/deskbot me`` and ``/deskbot stats`` used to run ``build_report`` (both windows with backlog
reconstruction, channels, p90 and business-hour durations, agent workload with ratings,
customers in need, team tags) to show seven headline numbers and the agents' flags.
``HeadlineKpiStats`` asks a ``HeadlineSource`` for exactly those figures — the same SQL
conditions, so the same numbers — and renders them with ``slack_providers.stats_summary``.

The window's solved tickets are read once for the headline and the agents' workload (solved,
replies, distinct customers, median first reply) and ``workload_flags`` (the one definition)
decides the flags, so they are identical to the report's.

``SharedAnswers`` is a single-flight TTL cache: while one computation for a key runs, the same
question from other people waits for it instead of starting its own; a finished answer is
reused for ``ttl_seconds``. The key holds the question (window, scope, workload rules) and the
store's data version, so nothing computed before a sync page landed is served after it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from deskbot.domain.metrics import (
    AgentStats,
    Scope,
    Window,
    WindowStats,
    WorkloadRules,
    agent_order,
    workload_flags,
)
from deskbot.ports import Clock
from deskbot.services.providers import StatsQuery, StatsSummary
from deskbot.services.slack_providers import SettingsSource, stats_summary

V = TypeVar("V")

DEFAULT_TTL_SECONDS = 60.0


class HeadlineSource(Protocol):
    """What the Slack answers read (``adapters.db.perf_kpi.SqlHeadlines``)."""

    def data_version(self) -> Hashable:
        """Changes whenever the synced data changes."""
        ...

    def headline(
        self, window: Window, scope: Scope, agents: bool = False
    ) -> tuple[WindowStats, list[AgentStats]]:
        """created, solved, good, bad, one_touch, with_replies, frt and resolution medians;
        with ``agents``, per agent: solved, replies, customers, frt_median, name."""
        ...


@dataclass
class _Flight(Generic[V]):
    done: threading.Event = field(default_factory=threading.Event)
    value: V | None = None
    error: BaseException | None = None


class SharedAnswers(Generic[V]):
    """Single-flight + TTL cache (thread-safe). ``ttl_seconds`` defaults to
    ``DEFAULT_TTL_SECONDS`` (read at construction; 0 keeps only the in-flight sharing).
    ``on_wait(key)`` is called when a caller starts waiting for another's computation (tests
    synchronise on it)."""

    def __init__(
        self,
        clock: Clock,
        ttl_seconds: float | None = None,
        max_entries: int = 256,
        on_wait: Callable[[Hashable], None] | None = None,
    ) -> None:
        self._clock = clock
        self._ttl = DEFAULT_TTL_SECONDS if ttl_seconds is None else ttl_seconds
        self._max = max_entries
        self._on_wait = on_wait
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._flights: dict[Hashable, _Flight[V]] = {}
        self.computed = 0  # how many computations ran (for tests and logs)

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            hit = self._done.get(key)
            if hit is not None and self._clock.monotonic() - hit[0] < self._ttl:
                return hit[1]
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            if self._on_wait is not None:
                self._on_wait(key)
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value  # type: ignore[return-value]  # set by the leader
        try:
            value = compute()
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.value = value
            return value
        finally:
            with self._lock:
                del self._flights[key]
                self.computed += 1
                if flight.error is None:
                    self._done[key] = (self._clock.monotonic(), flight.value)  # type: ignore[assignment]
                    self._done.move_to_end(key)
                    while len(self._done) > self._max:
                        self._done.popitem(last=False)
            flight.done.set()


def _rules_key(rules: WorkloadRules) -> tuple[float, ...]:
    return (
        rules.daily_reply_threshold,
        rules.fast_min_tickets,
        rules.fast_max_replies_per_ticket,
        rules.fast_max_median_reply_minutes,
        rules.complex_min_replies,
        rules.complex_max_tickets,
    )


@dataclass(frozen=True)
class Headlines:
    current: WindowStats
    previous: WindowStats
    flagged: tuple[tuple[AgentStats, tuple[str, ...]], ...]  # in the report's agent order


def flagged(
    agents: list[AgentStats], days: int, rules: WorkloadRules
) -> tuple[tuple[AgentStats, tuple[str, ...]], ...]:
    """The agents ``build_report`` would flag, with their flags, in its order."""
    rows = [(a, flags) for a in agents if (flags := workload_flags(a, days, rules))]
    rows.sort(key=lambda r: agent_order(r[0]))
    return tuple(rows)


class HeadlineKpiStats:
    """``StatsProvider`` for ``me``/``stats``: the figures shown, shared between askers."""

    def __init__(
        self,
        source: HeadlineSource,
        settings: SettingsSource,
        clock: Clock,
        answers: SharedAnswers[Headlines] | None = None,
    ) -> None:
        self._source = source
        self._settings = settings
        self._answers = answers if answers is not None else SharedAnswers(clock)

    def stats(self, query: StatsQuery) -> StatsSummary:
        rules = self._settings().workload
        window = query.period
        target = query.target
        scope = Scope(
            group_id=target.group.id if target.group else None,
            group_name=target.group.name if target.group else None,
            agent_id=target.agent.zendesk_user_id if target.agent else None,
            agent_name=target.agent.name if target.agent else None,
        )
        key = (
            window.start_day,
            window.end_day,
            window.tz,
            scope.group_id,
            scope.agent_id,
            _rules_key(rules),
            self._source.data_version(),
        )

        def compute() -> Headlines:
            current, agents = self._source.headline(window, scope, agents=True)
            previous, _ = self._source.headline(window.previous(), scope)
            return Headlines(current, previous, flagged(agents, window.days, rules))

        answer = self._answers.get(key, compute)
        return stats_summary(query, answer.current, answer.previous, answer.flagged)
