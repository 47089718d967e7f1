"""The Zendesk client: pacing, 429/Retry-After, retries, malformed pages, zenpy's pitfalls."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from pydantic import SecretStr

from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.adapters.zendesk.http import RateLimiter, parse_named_limit
from deskbot.errors import Interrupted, ZendeskError
from deskbot.ports import SystemClock
from deskbot.settings import ZendeskRateLimits, ZendeskSettings
from deskbot.testing import FakeClock
from zendesk_fake import fixture

EXPORT = re.compile(r"https://acme\.zendesk\.com/api/v2/incremental/tickets/cursor\.json.*")
RATINGS = re.compile(r"https://acme\.zendesk\.com/api/v2/satisfaction_ratings\.json.*")
MIDSTREAM = fixture("incremental_tickets_cursor_page_midstream.json")
RATINGS_PAGE = fixture("satisfaction_ratings_page.json")


def make_client(
    clock: FakeClock,
    *,
    incremental: int = 10,
    account: int = 700,
    max_retries: int = 3,
    base_url: str | None = None,
    stop: threading.Event | None = None,
    utilisation: float = 1.0,
    budget_share: float = 1.0,  # these tests measure pacing at the configured rate
) -> ZendeskClient:
    settings = ZendeskSettings(
        subdomain="acme",
        base_url=base_url,
        email=SecretStr("agent@example.com"),
        api_token=SecretStr("secret-token"),
        rate_limits=ZendeskRateLimits(
            incremental_per_minute=incremental,
            account_per_minute=account,
            utilisation=utilisation,
        ),
        max_retries=max_retries,
        budget_share=budget_share,
    )
    return ZendeskClient.from_settings(settings, clock, stop)


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


@responses.activate
def test_incremental_requests_are_spaced_to_the_limit(clock: FakeClock) -> None:
    times: list[float] = []

    def reply(_request: Any) -> tuple[int, dict[str, str], str]:
        times.append(clock.monotonic())
        return 200, {}, json.dumps(MIDSTREAM)

    responses.add_callback(responses.GET, EXPORT, callback=reply)
    client = make_client(clock, incremental=10)
    for _ in range(40):
        client.ticket_page(cursor="abc", start_time=None, per_page=1)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 6.0 - 1e-9
    ratio = (len(times) - 1) * 60 / (times[-1] - times[0]) / 10
    assert 0.95 <= ratio <= 1.0
    assert client.session.budgets.incremental.achieved_per_minute() == pytest.approx(ratio * 10)
    # Never more than the limit inside any 60-second window.
    assert max(sum(1 for t in times if s <= t < s + 60) for s in times) <= 10
    # Every incremental request also spends the account-wide budget.
    assert client.session.budgets.account.acquired == 40
    assert client.counters.get("rate_limited", 0) == 0


@responses.activate
def test_account_budget_paces_other_endpoints_and_utilisation_lowers_it(clock: FakeClock) -> None:
    times: list[float] = []

    def reply(_request: Any) -> tuple[int, dict[str, str], str]:
        times.append(clock.monotonic())
        return 200, {}, json.dumps(RATINGS_PAGE)

    responses.add_callback(responses.GET, RATINGS, callback=reply)
    client = make_client(clock, account=200, utilisation=0.5)
    for _ in range(30):
        client.rating_page(start_time=0, end_time=10, page=None, per_page=100)
    rate = (len(times) - 1) * 60 / (times[-1] - times[0])
    assert 0.95 * 100 <= rate <= 100  # 50% of 200/min
    assert client.session.budgets.incremental.acquired == 0


@responses.activate
def test_429_waits_retry_after_and_is_counted(clock: FakeClock) -> None:
    times: list[float] = []
    answers = iter([(429, {"Retry-After": "37"}, "{}"), (200, {}, json.dumps(MIDSTREAM))])

    def reply(_request: Any) -> tuple[int, dict[str, str], str]:
        times.append(clock.monotonic())
        return next(answers)

    responses.add_callback(responses.GET, EXPORT, callback=reply)
    client = make_client(clock)
    page = client.ticket_page(cursor="abc", start_time=None, per_page=1)
    assert page.after_cursor == MIDSTREAM["after_cursor"]
    assert times[1] - times[0] >= 37
    assert client.counters["rate_limited"] == 1
    assert client.counters["retries"] == 1


@responses.activate
def test_429_storm_gives_up_with_a_clear_error_instead_of_looping(clock: FakeClock) -> None:
    responses.add(responses.GET, EXPORT, status=429, headers={"Retry-After": "5"}, json={})
    client = make_client(clock, max_retries=2)
    with pytest.raises(ZendeskError, match=r"rate limited \(429\) after 3 attempts"):
        client.ticket_page(cursor="abc", start_time=None, per_page=1)
    assert len(responses.calls) == 3


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "json": {"error": "unavailable"}},
        {"status": 500, "body": "oops"},
        {"body": requests.Timeout("read timed out")},
        {"body": requests.ConnectionError("connection refused")},
    ],
    ids=["503", "500", "timeout", "connection"],
)
@responses.activate
def test_transient_failures_are_retried_with_backoff(
    clock: FakeClock, failure: dict[str, Any]
) -> None:
    responses.add(responses.GET, EXPORT, **failure)
    responses.add(responses.GET, EXPORT, **failure)
    responses.add(responses.GET, EXPORT, json=MIDSTREAM)
    client = make_client(clock, max_retries=3, incremental=10_000, account=100_000)
    page = client.ticket_page(cursor="abc", start_time=None, per_page=1)
    assert len(page.records.tickets) == 1
    assert len(responses.calls) == 3
    backoffs = [s for s in clock.sleeps if s >= 0.5]  # pacing waits here are milliseconds
    assert len(backoffs) == 2
    assert 1.0 <= backoffs[0] <= 2.0 and 2.0 <= backoffs[1] <= 3.0  # 1s, 2s (+ jitter <= 1s)


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ({"status": 502, "body": "bad gateway"}, r"failed after 3 attempts \(ServerError"),
        ({"body": requests.Timeout("read timed out")}, r"failed after 3 attempts \(Timeout"),
        ({"body": requests.ConnectionError("refused")}, r"failed after 3 attempts \(ConnectionE"),
    ],
)
@responses.activate
def test_transient_failures_give_up_with_a_clear_error(
    clock: FakeClock, failure: dict[str, Any], message: str
) -> None:
    responses.add(responses.GET, EXPORT, **failure)
    client = make_client(clock, max_retries=2)
    with pytest.raises(ZendeskError, match=message):
        client.ticket_page(cursor="abc", start_time=None, per_page=1)
    assert len(responses.calls) == 3
    total_backoff = sum(clock.sleeps)
    assert 1.0 <= total_backoff <= 60 * 2 + 6.1 * 3


@responses.activate
def test_malformed_page_is_retried_then_reported(clock: FakeClock) -> None:
    responses.add(responses.GET, EXPORT, body="<html>proxy error</html>")
    responses.add(responses.GET, EXPORT, json={"tickets": "nope", "end_of_stream": True})
    responses.add(responses.GET, EXPORT, json=MIDSTREAM)
    client = make_client(clock, max_retries=3)
    assert client.ticket_page(cursor="c", start_time=None, per_page=1).end_of_stream is False

    responses.reset()
    responses.add(responses.GET, EXPORT, json={"tickets": [{"id": 1}], "end_of_stream": True})
    with pytest.raises(
        ZendeskError, match=r"malformed page \(tickets\[0\]\.status is missing\) 4 times"
    ):
        client.ticket_page(cursor="c", start_time=None, per_page=1)
    assert len(responses.calls) == 4


@responses.activate
def test_auth_failure_is_not_retried_and_names_the_variables(clock: FakeClock) -> None:
    responses.add(responses.GET, EXPORT, status=401, json={"error": "Couldn't authenticate you"})
    client = make_client(clock)
    with pytest.raises(ZendeskError, match=r"401.*DESKBOT_ZENDESK_API_TOKEN"):
        client.ticket_page(cursor="c", start_time=None, per_page=1)
    assert len(responses.calls) == 1


@responses.activate
def test_per_page_and_sideloads_are_kept_when_resuming_from_a_cursor(clock: FakeClock) -> None:
    responses.add(responses.GET, EXPORT, json=MIDSTREAM)
    client = make_client(clock)
    cursor = "MTY5NTA1MjY2My4wfHwyOHw+/="  # base64 with the characters zenpy leaves unencoded
    client.ticket_page(cursor=cursor, start_time=None, per_page=250)
    client.ticket_page(cursor=None, start_time=1700000000, per_page=250)
    resumed, first = query(responses.calls[0]), query(responses.calls[1])
    assert resumed["cursor"] == [cursor]
    assert resumed["per_page"] == ["250"]
    assert resumed["include"] == ["users,groups,organizations,metric_sets"]
    assert "start_time" not in resumed
    assert first["start_time"] == ["1700000000"] and first["per_page"] == ["250"]


@responses.activate
def test_exhausted_budget_header_pauses_until_reset(clock: FakeClock) -> None:
    times: list[float] = []
    answers = iter(
        [
            (200, {"ratelimit-remaining": "0", "ratelimit-reset": "41"}),
            (200, {"Zendesk-RateLimit-incremental-exports": "total=10; remaining=0; resets=23"}),
            (200, {}),
        ]
    )

    def reply(_request: Any) -> tuple[int, dict[str, str], str]:
        times.append(clock.monotonic())
        status, headers = next(answers)
        return status, headers, json.dumps(MIDSTREAM)

    responses.add_callback(responses.GET, EXPORT, callback=reply)
    client = make_client(clock, incremental=1000, account=100000)
    for _ in range(3):
        client.ticket_page(cursor="c", start_time=None, per_page=1)
    assert times[1] - times[0] >= 41
    assert times[2] - times[1] >= 23
    assert client.counters["budget_exhausted"] == 2


@responses.activate
def test_base_url_rewrite_and_no_zenpy_caches(clock: FakeClock) -> None:
    responses.add(
        responses.GET, re.compile(r"http://127\.0\.0\.1:8081/api/v2/incremental/.*"), json=MIDSTREAM
    )
    client = make_client(clock, base_url="http://127.0.0.1:8081/")
    client.ticket_page(cursor="c", start_time=None, per_page=1)
    assert responses.calls[0].request.url.startswith("http://127.0.0.1:8081/api/v2/")
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert client.zenpy.cache.disabled is True


@responses.activate
def test_the_paced_session_rewrites_through_base_url_session(clock: FakeClock) -> None:
    from deskbot.adapters.zendesk.session import BaseUrlSession

    # One rewrite for the sync and the writers: the paced session is a BaseUrlSession.
    proxied = make_client(clock, base_url="http://127.0.0.1:8081/").session
    assert isinstance(proxied, BaseUrlSession)
    path = "/api/v2/incremental/tickets/cursor.json?cursor=c"
    assert proxied.rewrite("https://acme.zendesk.com" + path) == "http://127.0.0.1:8081" + path
    assert proxied.rewrite("https://acme.zendesk.community/x") == "https://acme.zendesk.community/x"
    # Without base_url (real Zendesk) nothing is rewritten and answers are left as they are.
    responses.add(responses.GET, EXPORT, json=MIDSTREAM)
    direct = make_client(clock)
    direct.ticket_page(cursor="c", start_time=None, per_page=1)
    assert responses.calls[0].request.url.startswith("https://acme.zendesk.com/api/v2/")


def test_stop_event_interrupts_waiting(clock: FakeClock) -> None:
    stop = threading.Event()
    limiter = RateLimiter("incremental_export", 10, clock, stop)
    limiter.acquire()
    stop.set()
    with pytest.raises(Interrupted):
        limiter.acquire()
    assert limiter.acquired == 1


def test_named_limit_header_parsing() -> None:
    assert parse_named_limit("total=10; remaining=9; resets=38") == {
        "total": 10,
        "remaining": 9,
        "resets": 38,
    }


def test_clients_in_one_process_share_the_account_budget(clock: FakeClock) -> None:
    first, second = make_client(clock), make_client(clock)
    assert first.session.budgets is second.session.budgets
    assert make_client(FakeClock()).session.budgets is not first.session.budgets


@responses.activate
def test_503_with_retry_after_waits_at_least_that_long(clock: FakeClock) -> None:
    responses.add(responses.GET, EXPORT, status=503, headers={"Retry-After": "120"}, body="")
    responses.add(responses.GET, EXPORT, json=MIDSTREAM)
    client = make_client(clock, incremental=10_000, account=100_000)
    client.ticket_page(cursor="abc", start_time=None, per_page=1)
    assert max(clock.sleeps) >= 120
    assert client.counters["server_errors"] == 1


def test_a_real_clock_wait_wakes_on_shutdown() -> None:
    stop = threading.Event()
    limiter = RateLimiter("incremental_export", 10, SystemClock(stop), stop)
    limiter.acquire()
    # Shutdown arrives while the next request waits its ~6 s turn: the wait ends at once.
    timer = threading.Timer(0.05, stop.set)
    started = time.monotonic()
    timer.start()
    with pytest.raises(Interrupted):
        limiter.acquire()
    assert time.monotonic() - started < 2.0
    timer.join()


@responses.activate
def test_legacy_remaining_header_on_an_export_pauses_only_the_export_budget(
    clock: FakeClock,
) -> None:
    responses.add(responses.GET, EXPORT, json=MIDSTREAM, headers={"X-Rate-Limit-Remaining": "0"})
    client = make_client(clock, incremental=1000, account=100000)
    client.ticket_page(cursor="c", start_time=None, per_page=1)
    budgets = client.session.budgets
    assert budgets.incremental._paused_until >= clock.monotonic() + 59
    assert budgets.account._paused_until == 0.0
