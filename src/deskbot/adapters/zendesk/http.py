"""deskbot's ``requests.Session`` for zenpy: base-URL rewrite, proactive pacing, typed errors.

zenpy accepts a session; every request zenpy makes goes through ``PacedSession.request``:

1. the ``https://{subdomain}.zendesk.com`` prefix zenpy builds is rewritten to the configured
   base URL (a sandbox, a proxy) by ``BaseUrlSession``, which this session extends, so the
   real client talks to any server;
2. the request waits for its budgets: every call spends the account-wide budget, calls under
   ``/api/v2/incremental/`` also spend the incremental-export budget. Each budget is a
   ``RateLimiter`` that spaces requests evenly at just under the configured rate, so steady
   state produces no 429s;
3. the response's rate-limit headers (``X-Rate-Limit-Remaining``, ``ratelimit-remaining`` /
   ``ratelimit-reset``, ``Zendesk-RateLimit-*: total=..; remaining=..; resets=..``) are read:
   an exhausted budget (someone else on the account spent it) pauses until it resets, and
   every answer feeds the budget's ``HeaderPacer`` (good-citizen pacing): it estimates what the
   *other* clients of the account spend per second and slows deskbot so that their projected
   use plus ours stays under what remains before the reset (see ``HeaderPacer``);
4. a 429 raises ``RateLimited`` (carrying ``Retry-After``) and a 5xx raises ``ServerError``
   *before zenpy sees the response*, so zenpy's own retry loop (which sleeps inside the call,
   forever) never runs; ``ZendeskClient`` retries them with bounded backoff.

All waiting goes through the injected ``Clock`` whose ``sleep`` wakes on the stop event; a
stop request while waiting raises ``Interrupted`` instead of sending.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from deskbot import metrics_registry as metrics
from deskbot.adapters.zendesk.session import BaseUrlSession
from deskbot.errors import Interrupted
from deskbot.log import get_logger
from deskbot.ports import Clock, StopEvent

log = get_logger(__name__)

# Spend at most this share of a budget: leaves room for clock skew between us and Zendesk.
SAFETY = 0.99
INCREMENTAL_PATH = "/api/v2/incremental/"


class RateLimited(Exception):
    """HTTP 429. ``retry_after`` is the server's ``Retry-After`` in seconds (None if absent)."""

    def __init__(self, url: str, retry_after: float | None) -> None:
        super().__init__(f"429 Too Many Requests for {url} (Retry-After: {retry_after})")
        self.retry_after = retry_after


class ServerError(Exception):
    """HTTP 5xx: Zendesk (or a proxy) failed; worth retrying."""

    def __init__(self, url: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.retry_after = retry_after  # a 503 during maintenance may say how long to wait


class HeaderPacer:
    """Good-citizen pacing from the rate-limit headers of every answer.

    Zendesk reports, on every answer, how many requests the *account* has left in the current
    window (``ratelimit-remaining``) and when the window resets (``ratelimit-reset``); the
    incremental export reports its own (``Zendesk-RateLimit-incremental-exports: total=10;
    remaining=9; resets=41``). The drop in ``remaining`` between two of our answers, minus the
    requests we sent in between, is what the *other* clients of the account spent. Their rate
    is averaged over the last window; deskbot then allows itself only

        (remaining - reserve - others_rate * reset * MARGIN) / reset   requests per second,

    so the others' projected use plus ours stays under what is left before the reset: deskbot
    yields to whoever else spends the budget instead of pushing the account into 429s. The
    cap (``budget_share`` of the configured limit) still applies; this only ever slows down.
    """

    MARGIN = 1.25  # others may speed up a little between two observations
    RESERVE_SHARE = 0.02  # of the limit, left unspent while others use the budget

    def __init__(self) -> None:
        self.window_seconds = 0.0  # the longest reset seen: the window's length
        self._prev: tuple[float, float, float, int] | None = None  # (at, remaining, reset_at, ours)
        self._events: deque[tuple[float, float]] = deque()  # (at, others' requests)
        self._since: float | None = None  # the first observation
        self.others_per_second = 0.0
        self.allowed_per_second: float | None = None  # None: no constraint from headers
        self.until = 0.0  # the constraint holds until the window resets

    def observe(
        self, now: float, limit: float | None, remaining: float, reset: float, ours: int
    ) -> None:
        """One answer: ``remaining`` after it, ``reset`` seconds to the window's end, ``ours``
        = our requests sent so far on this budget (a counter)."""
        reset = max(reset, 0.0)
        self.window_seconds = max(self.window_seconds, reset)
        prev = self._prev
        if prev is not None:
            _p_at, p_remaining, p_reset_at, p_ours = prev
            sent = max(0, ours - p_ours)
            if now < p_reset_at - 1e-6 and remaining <= p_remaining:
                others = max(0.0, p_remaining - remaining - sent)
            elif limit is not None:  # a new window: all it has spent that is not ours
                others = max(0.0, limit - remaining - min(sent, 1))
            else:
                others = 0.0
            self._events.append((now, others))
        self._prev = (now, remaining, now + reset, ours)
        if self._since is None:
            self._since = now
        horizon = max(self.window_seconds, 1.0)
        while self._events and self._events[0][0] < now - horizon:
            self._events.popleft()
        span = now - max(self._since, now - horizon)
        if self._events and span > 0:
            self.others_per_second = sum(n for _, n in self._events) / span
        if reset <= 0 or (self.others_per_second <= 0 and remaining > 0):
            # Alone on the budget: the configured pacing (budget_share of the limit) stands;
            # an exhausted budget still pauses until the reset.
            self.allowed_per_second = None
            return
        reserve = max(1.0, (limit or 0) * self.RESERVE_SHARE)  # for the others' bursts
        spare = remaining - reserve - self.others_per_second * reset * self.MARGIN
        self.allowed_per_second = max(0.0, spare / reset)
        self.until = now + reset

    def interval(self, now: float) -> float | None:
        """Seconds between our requests the headers ask for (None: no constraint now)."""
        if self.allowed_per_second is None or now >= self.until:
            return None
        if self.allowed_per_second <= 1e-9:
            return self.until - now  # nothing to spare: wait for the reset
        return 1.0 / self.allowed_per_second


class RateLimiter:
    """Even spacing at ``limit_per_minute * utilisation * share * SAFETY`` requests a minute.

    Shared by every request that spends this budget (thread-safe). ``pause_until`` holds all
    requests back after a 429 or an exhausted-budget header. ``share`` is deskbot's share of
    the budget (``zendesk.budget_share`` for the account-wide budget); ``pacer`` slows further
    when the headers show other clients spending the same budget.
    """

    def __init__(
        self,
        name: str,
        limit_per_minute: int,
        clock: Clock,
        stop_event: StopEvent | None = None,
        utilisation: float = 1.0,
        share: float = 1.0,
        header_pacing: bool = True,
    ) -> None:
        if limit_per_minute < 1:
            raise ValueError(f"rate limit for {name} must be at least 1 per minute")
        if not 0 < share <= 1:
            raise ValueError(f"budget share for {name} must be in (0, 1], got {share}")
        self.name = name
        self.limit_per_minute = limit_per_minute
        self.share = share
        self.target_per_minute = limit_per_minute * utilisation * share * SAFETY
        self.interval = 60.0 / self.target_per_minute
        self.pacer: HeaderPacer | None = HeaderPacer() if header_pacing else None
        self.header_waits = 0  # requests the headers slowed down
        self._clock = clock
        self._stop = stop_event
        self._lock = threading.Lock()
        self._next_at: float | None = None
        self._paused_until = 0.0
        self.acquired = 0
        self.waited_seconds = 0.0
        self.first_at: float | None = None  # monotonic time of the first and latest request
        self.last_at: float | None = None

    def _check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise Interrupted(f"stopped while waiting for the {self.name} rate limit")

    def acquire(self) -> None:
        """Block (on the clock) until this budget allows one more request, then spend it."""
        with self._lock:
            while True:
                self._check_stop()
                now = self._clock.monotonic()
                ready = max(self._next_at or now, self._paused_until)
                if ready - now <= 1e-6:  # float rounding must not spin on a 0-second sleep
                    break
                wait = ready - now
                self.waited_seconds += wait
                self._clock.sleep(wait)
            self._check_stop()
            interval = self.interval
            dynamic = self.pacer.interval(now) if self.pacer is not None else None
            if dynamic is not None and dynamic > interval:
                interval = dynamic
                self.header_waits += 1
            self._next_at = max(now, self._next_at or now) + interval
            self.acquired += 1
            self.first_at = now if self.first_at is None else self.first_at
            self.last_at = now

    def achieved_per_minute(self) -> float | None:
        """Requests per minute between the first and the latest request (None below two)."""
        if self.acquired < 2 or self.first_at is None or self.last_at is None:
            return None
        span = self.last_at - self.first_at
        return (self.acquired - 1) * 60.0 / span if span > 0 else None

    def observe(self, limit: float | None, remaining: float, reset: float) -> None:
        """Feed the header pacer one answer's view of this budget (see ``HeaderPacer``)."""
        if self.pacer is None:
            return
        with self._lock:
            now = self._clock.monotonic()
            self.pacer.observe(now, limit, remaining, reset, self.acquired)
            interval = self.pacer.interval(now)
            if interval is not None and self._next_at is not None and self.last_at is not None:
                # Re-space the next request from the last one at the (slower) new interval.
                self._next_at = max(self._next_at, self.last_at + interval)

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (a 429 or an exhausted budget)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)


@dataclass(frozen=True)
class Budgets:
    account: RateLimiter
    incremental: RateLimiter

    def for_url(self, url: str) -> tuple[RateLimiter, ...]:
        if INCREMENTAL_PATH in url:
            return (self.incremental, self.account)
        return (self.account,)


_NAMED_LIMIT = re.compile(r"^zendesk-ratelimit-", re.IGNORECASE)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def parse_named_limit(value: str) -> dict[str, float]:
    """``total=10; remaining=9; resets=38`` → {"total": 10, "remaining": 9, "resets": 38}."""
    out: dict[str, float] = {}
    for part in value.split(";"):
        key, _, number = part.partition("=")
        parsed = _number(number)
        if parsed is not None:
            out[key.strip().lower()] = parsed
    return out


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds only; Zendesk never sends a date)."""
    value = _number(headers.get("Retry-After"))
    return max(value, 0.0) if value is not None else None


class ServerClock:
    """Zendesk's clock, read from every response's ``Date`` header (issue 13).

    Windows over Zendesk timestamps (the ratings window's end, the export's first
    ``start_time``) must end at *Zendesk's* now: with the host's clock ahead, a window ending
    in Zendesk's future skips every rating written in between for good. ``now()`` is the last
    ``Date`` seen plus the monotonic time since (``Date`` has one-second resolution, so it may
    be up to a second behind: on the safe side of a window's end). ``skew_seconds`` is
    Zendesk's clock minus ours at the last response.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: tuple[datetime, float] | None = None
        self.skew_seconds: float | None = None

    def observe(self, header: str | None) -> None:
        if not header:
            return
        try:
            server = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        local = self._clock.now()
        with self._lock:
            self._seen = (server, self._clock.monotonic())
            # Date truncates to the second: add half of it back for an unbiased estimate.
            self.skew_seconds = (server - local).total_seconds() + 0.5
        metrics.ZENDESK_CLOCK_SKEW.set(self.skew_seconds)

    def now(self) -> datetime | None:
        """Zendesk's current time, or ``None`` before the first response with a ``Date``."""
        with self._lock:
            seen = self._seen
        if seen is None:
            return None
        server, at = seen
        return server + timedelta(seconds=max(0.0, self._clock.monotonic() - at))


class PacedSession(BaseUrlSession):
    """The session zenpy is given (see the module docstring); the base-URL rewrite is
    ``BaseUrlSession``'s, pacing and typed errors are added here."""

    def __init__(
        self,
        *,
        subdomain: str,
        base_url: str | None,
        budgets: Budgets,
        clock: Clock,
        timeout: float,
    ) -> None:
        super().__init__(base_url, subdomain)
        self.budgets = budgets
        self._clock = clock
        self.timeout = timeout
        self.counters: Counter[str] = Counter()
        self.server_clock = ServerClock(clock)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        url = url.decode() if isinstance(url, bytes) else url  # rewritten by BaseUrlSession
        limiters = self.budgets.for_url(url)
        for limiter in limiters:
            limiter.acquire()
        kwargs.setdefault("timeout", self.timeout)
        self.counters["requests"] += 1
        response = super().request(method, url, *args, **kwargs)
        self.server_clock.observe(response.headers.get("Date"))
        self._observe(response, limiters)
        if response.status_code == 429:
            self.counters["rate_limited"] += 1
            metrics.ZENDESK_RATE_LIMITED.inc()
            wait = retry_after_seconds(response.headers)
            for limiter in limiters:
                limiter.pause(wait if wait is not None else 60.0)
            log.warning("zendesk.rate_limited", path=_path(url), retry_after=wait)
            raise RateLimited(_path(url), wait)
        if response.status_code >= 500:
            self.counters["server_errors"] += 1
            raise ServerError(
                _path(url), response.status_code, retry_after_seconds(response.headers)
            )
        return response

    def _observe(self, response: requests.Response, limiters: tuple[RateLimiter, ...]) -> None:
        """Pause a budget the server reports as exhausted (another client may share it)."""
        headers = response.headers
        reset = _number(headers.get("ratelimit-reset"))
        wait = reset if reset is not None else 60.0
        account = _number(headers.get("ratelimit-remaining"))  # always the account budget
        legacy = _number(headers.get("X-Rate-Limit-Remaining"))  # the endpoint's own budget
        if account is not None and reset is not None:
            limit = _number(headers.get("ratelimit-limit")) or _number(headers.get("X-Rate-Limit"))
            self.budgets.account.observe(limit, account, reset)
        if account is not None and account <= 0:
            self.budgets.account.pause(wait)
            self.counters["budget_exhausted"] += 1
        elif account is None and legacy is not None and legacy <= 0:
            limiters[0].pause(wait)  # the most specific budget this request spent
            self.counters["budget_exhausted"] += 1
        for name, value in headers.items():
            if not _NAMED_LIMIT.match(name):
                continue
            parsed = parse_named_limit(value)
            incremental = "incremental" in name.lower()
            if incremental and "remaining" in parsed and "resets" in parsed:
                self.budgets.incremental.observe(
                    parsed.get("total"), parsed["remaining"], parsed["resets"]
                )
            if parsed.get("remaining", 1) <= 0:
                target = self.budgets.incremental if incremental else limiters[0]
                target.pause(parsed.get("resets", 60.0))
                self.counters["budget_exhausted"] += 1


def _path(url: str) -> str:
    """The URL without scheme, host and query (no cursors or ids of customers in logs)."""
    without_scheme = url.split("://", 1)[-1]
    path = "/" + without_scheme.split("/", 1)[-1] if "/" in without_scheme else "/"
    return path.split("?", 1)[0]
