"""Zendesk-style per-minute request budgets with an injectable monotonic clock.

A fixed window opens at the first request after the previous window ended and lasts one
"minute" (``60 / time_scale`` seconds of the injected clock). Within it at most ``limit``
requests pass. A client that paces at exactly ``limit`` per minute (one request every
``60 / limit`` s) never has more than ``limit`` requests in one window, so it is never refused;
a tolerance of 0.1% of the window absorbs clock granularity and floating-point drift in
such pacing (a client sleeping ``60 / limit`` s on a microsecond clock arrives a hair early).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the current window ends, in the injected clock's seconds

    @property
    def reset_header(self) -> str:
        return str(max(0, math.ceil(self.reset_seconds - _EPSILON)))

    @property
    def retry_after_header(self) -> str:
        # Zendesk sends whole seconds; never 0, which clients treat as "retry now".
        return str(max(1, math.ceil(self.reset_seconds - _EPSILON)))


class FixedWindowLimiter:
    """``limit`` requests per window of ``60 / time_scale`` seconds."""

    def __init__(self, limit: int, time_scale: float, monotonic: Callable[[], float]) -> None:
        if limit < 1:
            raise ValueError(f"rate limit must be at least 1 request per minute, got {limit}")
        if time_scale <= 0:
            raise ValueError(f"time scale must be > 0, got {time_scale}")
        self.limit = limit
        self.window = 60.0 / time_scale
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._start: float | None = None
        self._used = 0

    def _roll(self, now: float) -> None:
        tolerance = self.window * 1e-3
        if self._start is None or now - self._start >= self.window - tolerance:
            self._start = now
            self._used = 0

    def peek(self) -> Decision:
        with self._lock:
            now = self._monotonic()
            self._roll(now)
            assert self._start is not None
            reset = self._start + self.window - now
            return Decision(self._used < self.limit, self.limit, self.limit - self._used, reset)

    def take(self) -> Decision:
        """Count one request if the budget allows; say whether it was allowed."""
        with self._lock:
            now = self._monotonic()
            self._roll(now)
            assert self._start is not None
            reset = self._start + self.window - now
            if self._used >= self.limit:
                return Decision(False, self.limit, 0, reset)
            self._used += 1
            return Decision(True, self.limit, self.limit - self._used, reset)
