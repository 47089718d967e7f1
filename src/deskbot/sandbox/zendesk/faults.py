"""Injectable, seeded faults: random 5xx, malformed bodies, latency, 429 bursts, and
deterministic "fail the next N requests to <path prefix> with <status>".

Random faults draw from one ``random.Random(seed)``, so the same sequence of requests meets the
same faults. Rules are checked in the order they were injected; the first that fires wins.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal["error", "malformed", "latency", "rate_limit", "fail_next"]


@dataclass(slots=True)
class FaultRule:
    kind: FaultKind
    path_prefix: str = ""
    probability: float = 1.0
    status: int = 500
    remaining: int | None = None  # None: no count limit
    seconds: float = 0.0  # latency, or Retry-After for rate_limit
    after_apply: bool = False  # fail_next on writes: apply the write, then answer with status


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    status: int
    seconds: float
    after_apply: bool


_ERROR_STATUSES = (500, 502, 503, 504)


class Faults:
    """The fault plan of one sandbox. Thread-safe."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed ^ 0x5EED_FA17)
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def inject(
        self,
        *,
        error_rate: float = 0.0,
        malformed_rate: float = 0.0,
        latency_rate: float = 0.0,
        latency_seconds: float = 0.0,
        burst_429: int = 0,
        retry_after: float = 1.0,
        fail_next: int = 0,
        status: int = 500,
        path_prefix: str = "",
        after_apply: bool = False,
    ) -> None:
        """Add faults; each argument left at its default adds nothing.

        * ``error_rate``: probability that a request gets a 5xx (500/502/503/504, seeded).
        * ``malformed_rate``: probability of a 200 whose body is truncated JSON.
        * ``latency_rate`` / ``latency_seconds``: probability of an added real-time delay.
        * ``burst_429``: the next N requests get 429 with ``Retry-After: retry_after``.
        * ``fail_next`` with ``status``: the next N requests get that status; with
          ``after_apply`` a write is applied first (the client sees a failure for a write that
          happened, the case that tests exactly-once delivery).
        * ``path_prefix`` limits every rule added by this call to paths starting with it.
        """
        for name, rate in (
            ("error_rate", error_rate),
            ("malformed_rate", malformed_rate),
            ("latency_rate", latency_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if burst_429 < 0 or fail_next < 0:
            raise ValueError("burst_429 and fail_next must be >= 0")
        if fail_next and not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
        if latency_seconds < 0 or retry_after < 0:
            raise ValueError("latency_seconds and retry_after must be >= 0")
        with self._lock:
            if fail_next:
                self._rules.append(
                    FaultRule("fail_next", path_prefix, 1.0, status, fail_next, 0.0, after_apply)
                )
            if burst_429:
                self._rules.append(
                    FaultRule("rate_limit", path_prefix, 1.0, 429, burst_429, retry_after)
                )
            if error_rate:
                self._rules.append(FaultRule("error", path_prefix, error_rate))
            if malformed_rate:
                self._rules.append(FaultRule("malformed", path_prefix, malformed_rate, 200))
            if latency_rate and latency_seconds:
                self._rules.append(
                    FaultRule("latency", path_prefix, latency_rate, 0, None, latency_seconds)
                )

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._rng = random.Random(self._seed ^ 0x5EED_FA17)

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def decide(self, path: str, is_write: bool) -> list[Fault]:
        """Faults for one request: at most one latency plus at most one failure."""
        out: list[Fault] = []
        with self._lock:
            failed = False
            for rule in self._rules:
                if not path.startswith(rule.path_prefix):
                    continue
                if rule.kind == "latency":
                    if (
                        not any(f.kind == "latency" for f in out)
                        and self._rng.random() < rule.probability
                    ):
                        out.append(Fault("latency", 0, rule.seconds, False))
                    continue
                if failed:
                    continue
                if rule.remaining is not None:
                    if rule.remaining <= 0:
                        continue
                    rule.remaining -= 1
                    status = rule.status
                elif self._rng.random() < rule.probability:
                    status = (
                        _ERROR_STATUSES[self._rng.randrange(len(_ERROR_STATUSES))]
                        if rule.kind == "error"
                        else rule.status
                    )
                else:
                    continue
                out.append(Fault(rule.kind, status, rule.seconds, rule.after_apply and is_write))
                failed = True
            self._rules = [r for r in self._rules if r.remaining is None or r.remaining > 0]
        return out
