"""Agents needed per half hour: Erlang C for live channels, workload for deferred ones.

Pure functions, no I/O. Formulas (``docs/forecast.md`` has the derivations):

- Traffic intensity ``A = λ · AHT`` (Erlangs), with ``λ`` contacts per second.
- Erlang B by the stable recursion ``B(0) = 1``, ``B(n) = A·B(n-1) / (n + A·B(n-1))``;
  Erlang C (probability of waiting) ``C(N, A) = N·B / (N - A·(1 - B))`` for ``N > A``.
- Service level ``SL = 1 - C · exp(-(N - A) · T / AHT)`` for a target answer time ``T``;
  average speed of answer ``ASA = C · AHT / (N - A)``; occupancy ``A / N``.
- Live: the fewest agents ``N > A`` with ``SL ≥ target`` and ``A / N ≤ max occupancy``.
- Deferred (e-mail, web): workload ``volume * AHT ÷ interval ÷ target occupancy``, smoothed over
  the first-reply target (a ticket may wait up to that long, so the work arriving in a slot
  can be spread over the target window; the trailing mean over that window guarantees every
  ticket is answered within it, first in first out).
- Scheduled agents: ``ceil(agents ÷ (1 - shrinkage))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from deskbot.settings import ForecastChannel

INTERVAL_SECONDS = 1800.0
_EPS = 1e-9


class ImpossibleTarget(ValueError):
    """No number of agents meets the service-level target; the message says why and what to do."""


@dataclass(frozen=True)
class ErlangResult:
    agents: int
    traffic: float  # Erlangs
    wait_probability: float
    service_level: float
    occupancy: float
    asa_seconds: float


def traffic_intensity(contacts: float, handle_seconds: float, interval_seconds: float) -> float:
    """Erlangs: contacts per interval * handle time ÷ interval."""
    return contacts * handle_seconds / interval_seconds


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of ``agents`` servers offered ``traffic`` Erlangs (recursion)."""
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a contact waits (1.0 when the agents cannot keep up)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1 - b))


def service_level(
    agents: int, traffic: float, handle_seconds: float, answer_seconds: float
) -> float:
    """Share of contacts answered within ``answer_seconds``."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    c = erlang_c(agents, traffic)
    return 1.0 - c * math.exp(-(agents - traffic) * answer_seconds / handle_seconds)


def erlang_result(
    agents: int, traffic: float, handle_seconds: float, answer_seconds: float
) -> ErlangResult:
    c = erlang_c(agents, traffic)
    asa = c * handle_seconds / (agents - traffic) if agents > traffic else math.inf
    return ErlangResult(
        agents=agents,
        traffic=traffic,
        wait_probability=c,
        service_level=service_level(agents, traffic, handle_seconds, answer_seconds),
        occupancy=traffic / agents if agents else 0.0,
        asa_seconds=asa,
    )


def check_live_target(target: float, answer_seconds: float, max_occupancy: float) -> None:
    """Raise ``ImpossibleTarget`` for a target no staffing can meet."""
    if target >= 1.0:
        raise ImpossibleTarget(
            f"a service level of {target:.0%} within {answer_seconds:g} s can never be met: "
            "with random arrivals some contact always waits; use a target below 100% "
            "(80% is common)"
        )
    if target <= 0 or max_occupancy <= 0:
        raise ImpossibleTarget("the service level and the maximum occupancy must be above 0")


def erlang_agents(
    contacts: float,
    handle_seconds: float,
    answer_seconds: float,
    target: float,
    max_occupancy: float = 1.0,
    interval_seconds: float = INTERVAL_SECONDS,
) -> ErlangResult:
    """The fewest agents answering ``target`` of ``contacts`` (per interval) within
    ``answer_seconds`` with occupancy at most ``max_occupancy``."""
    check_live_target(target, answer_seconds, max_occupancy)
    traffic = traffic_intensity(contacts, handle_seconds, interval_seconds)
    if traffic <= 0:
        return ErlangResult(0, 0.0, 0.0, 1.0, 0.0, 0.0)
    agents = max(1, math.floor(traffic) + 1, math.ceil(traffic / max_occupancy - _EPS))
    # SL rises towards 1 as agents are added; this bound is far beyond any real answer.
    ceiling = agents + int(20 * math.sqrt(traffic)) + 200
    b = erlang_b(agents, traffic)  # then one recursion step per extra agent
    while agents <= ceiling:
        c = agents * b / (agents - traffic * (1 - b))
        level = 1.0 - c * math.exp(-(agents - traffic) * answer_seconds / handle_seconds)
        if level >= target - _EPS:
            return erlang_result(agents, traffic, handle_seconds, answer_seconds)
        agents += 1
        b = traffic * b / (agents + traffic * b)
    raise ImpossibleTarget(
        f"no number of agents up to {ceiling} answers {target:.0%} within {answer_seconds:g} s"
    )


def workload_agents(
    contacts: float,
    handle_seconds: float,
    occupancy: float,
    interval_seconds: float = INTERVAL_SECONDS,
) -> float:
    """Agents to work ``contacts`` in one interval: volume * handle time ÷ interval ÷ occupancy."""
    if occupancy <= 0:
        raise ImpossibleTarget("the target occupancy must be above 0")
    return contacts * handle_seconds / interval_seconds / occupancy


def deferred_agents(
    contacts: Sequence[float],
    handle_seconds: float,
    occupancy: float,
    reply_window_slots: int,
    interval_seconds: float = INTERVAL_SECONDS,
) -> list[float]:
    """Workload agents per slot, each slot's work spread over the first-reply window.

    ``contacts`` may start with ``reply_window_slots - 1`` slots of history (the work still
    to do when the forecast starts); the result has one value per element of ``contacts``.
    Agents at slot ``t`` = mean workload of slots ``t - k + 1 … t`` (``k`` = window in slots):
    the capacity up to ``t + k - 1`` then covers every ticket that arrived up to ``t``.
    """
    k = max(1, reply_window_slots)
    raw = [workload_agents(c, handle_seconds, occupancy, interval_seconds) for c in contacts]
    out: list[float] = []
    running = 0.0
    for i, value in enumerate(raw):
        running += value
        if i >= k:
            running -= raw[i - k]
        out.append(running / k)  # slots before the first count as no arrivals
    return out


def with_shrinkage(agents: float, shrinkage: float) -> int:
    """Agents to schedule so ``agents`` are on the queue after shrinkage (rounded up)."""
    if not 0 <= shrinkage < 1:
        raise ImpossibleTarget(f"shrinkage must be at least 0 and below 1, not {shrinkage}")
    if agents <= 0:
        return 0
    return math.ceil(agents / (1 - shrinkage) - _EPS)


# --------------------------------------------------------------------------------------------
# A channel's plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelStaffing:
    """Agents needed per half hour of a forecast (``problem`` set: no numbers, and why)."""

    kind: Literal["live", "deferred"] | None
    agents: tuple[float, ...]  # on the queue
    scheduled: tuple[int, ...]  # to schedule, after shrinkage
    assumptions: str
    problem: str | None = None
    # deferred: volume x handle time / interval / occupancy of each half hour on its own, before
    # spreading over the first-reply target (the same total work)
    workload: tuple[float, ...] = ()

    @property
    def peak(self) -> int:
        return max(self.scheduled, default=0)


def staff_channel(
    expected: Sequence[float],
    history_prefix: Sequence[float],
    config: ForecastChannel | None,
    shrinkage: float,
) -> ChannelStaffing:
    """Agents per half hour for one channel's forecast ``expected`` (contacts per half hour).

    ``history_prefix``: the actual counts of the half hours just before the forecast (deferred
    channels spread work over the first-reply window, so work arriving before the forecast
    starts is still being done in its first half hours)."""
    if config is None:
        return ChannelStaffing(
            None,
            (),
            (),
            "",
            "no staffing settings for this channel: add it under forecast.channels with its "
            "kind and handle_minutes",
        )
    aht = config.handle_minutes * 60
    if config.kind == "live":
        assumptions = (
            f"Erlang C: {config.service_level:.0%} answered within {config.answer_seconds:g} s, "
            f"handle time {config.handle_minutes:g} min, occupancy at most "
            f"{config.max_occupancy:.0%}, shrinkage {shrinkage:.0%}"
        )
        try:
            check_live_target(config.service_level, config.answer_seconds, config.max_occupancy)
            agents: list[float] = [
                float(
                    erlang_agents(
                        contacts,
                        aht,
                        config.answer_seconds,
                        config.service_level,
                        config.max_occupancy,
                    ).agents
                )
                for contacts in expected
            ]
        except ImpossibleTarget as exc:
            return ChannelStaffing("live", (), (), assumptions, f"{config.name}: {exc}")
    else:
        window = max(1, int(config.first_reply_minutes // 30))
        assumptions = (
            f"workload: volume × {config.handle_minutes:g} min ÷ 30 min ÷ "
            f"{config.target_occupancy:.0%} occupancy, spread over the "
            f"{config.first_reply_minutes:g}-minute first-reply target, shrinkage {shrinkage:.0%}"
        )
        prefix = list(history_prefix)[-(window - 1) :] if window > 1 else []
        smoothed = deferred_agents([*prefix, *expected], aht, config.target_occupancy, window)
        agents = smoothed[len(prefix) :]
        workload = tuple(workload_agents(c, aht, config.target_occupancy) for c in expected)
    try:
        scheduled = tuple(with_shrinkage(a, shrinkage) for a in agents)
    except ImpossibleTarget as exc:
        return ChannelStaffing(config.kind, (), (), assumptions, str(exc))
    if config.kind == "live":
        return ChannelStaffing("live", tuple(agents), scheduled, assumptions)
    return ChannelStaffing(config.kind, tuple(agents), scheduled, assumptions, None, workload)
