"""Zendesk-style rate limits: budgets per minute, headers, 429 with Retry-After, time scale."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from zendesk_support import Client

from deskbot.sandbox.zendesk import FixedWindowLimiter, ZendeskSandbox
from deskbot.testing import FakeClock


def test_a_client_pacing_at_exactly_the_limit_is_never_refused(clock: FakeClock) -> None:
    limiter = FixedWindowLimiter(700, 1.0, clock.monotonic)
    for _ in range(700 * 5):
        assert limiter.take().allowed
        clock.advance(60 / 700)


def test_a_client_going_faster_is_refused_until_the_window_ends(clock: FakeClock) -> None:
    limiter = FixedWindowLimiter(10, 1.0, clock.monotonic)
    for i in range(10):
        decision = limiter.take()
        assert decision.allowed and decision.remaining == 9 - i
        clock.advance(1)
    refused = limiter.take()
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after_header == "50"  # the window opened 10 s ago
    clock.advance(49.5)
    assert not limiter.take().allowed
    clock.advance(0.5)
    assert limiter.take().allowed


def test_time_scale_shortens_the_minute(clock: FakeClock) -> None:
    limiter = FixedWindowLimiter(10, 60.0, clock.monotonic)  # a "minute" lasts one second
    for _ in range(10):
        assert limiter.take().allowed
    refused = limiter.take()
    assert not refused.allowed and refused.retry_after_header == "1"
    clock.advance(1.0)
    assert limiter.take().allowed


def test_limiter_refuses_nonsense_settings(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FixedWindowLimiter(0, 1.0, clock.monotonic)
    with pytest.raises(ValueError, match="time scale"):
        FixedWindowLimiter(10, 0, clock.monotonic)


def test_account_budget_over_http(
    make_sandbox: Callable[..., ZendeskSandbox], clock: FakeClock
) -> None:
    sb = make_sandbox(account_limit=5)
    client = Client(sb)
    for i in range(5):
        resp = client.get("/api/v2/groups.json")
        assert resp.status_code == 200
        assert resp.headers["X-Rate-Limit"] == "5" and resp.headers["ratelimit-limit"] == "5"
        assert (
            resp.headers["X-Rate-Limit-Remaining"]
            == resp.headers["ratelimit-remaining"]
            == str(4 - i)
        )
        assert resp.headers["ratelimit-reset"] == "60"
    clock.advance(20)
    resp = client.get("/api/v2/users/me.json")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "40"
    assert sb.counters["rate_limited"] == 1
    clock.advance(40)
    assert client.get("/api/v2/users/me.json").status_code == 200


def test_incremental_budget_is_separate_and_has_its_own_header(
    make_sandbox: Callable[..., ZendeskSandbox], clock: FakeClock
) -> None:
    sb = make_sandbox(account_limit=100, incremental_limit=2, time_scale=60.0)
    client = Client(sb)
    for remaining in (1, 0):
        resp = client.get("/api/v2/incremental/tickets/cursor.json", start_time=0, per_page=1)
        assert resp.status_code == 200
        assert (
            resp.headers["Zendesk-RateLimit-incremental-exports"]
            == f"total=2; remaining={remaining}; resets=1"
        )
    resp = client.get("/api/v2/incremental/tickets/cursor.json", start_time=0, per_page=1)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
    assert client.get("/api/v2/groups.json").status_code == 200  # the account budget still has room
    clock.advance(1.0)  # one scaled minute
    assert (
        client.get("/api/v2/incremental/tickets/cursor.json", start_time=0, per_page=1).status_code
        == 200
    )
    assert sb.counters["rate_limited"] == 1
