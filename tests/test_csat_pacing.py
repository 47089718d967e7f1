"""Good-citizen pacing: ``zendesk.budget_share`` and the rate-limit headers of every answer.

Another client of the same account (a BI connector, the agents' apps) spends 60% of the
account-wide budget against the Zendesk sandbox, which accounts one budget for every client.
deskbot, syncing at the same time through zenpy and ``PacedSession``, must leave it room: no
429 for the other client and none for deskbot. Time is a ``FakeClock`` shared with the
sandbox's rate-limit windows; the other client's requests fire at their scheduled instants
while deskbot sleeps, so the interleaving is exact and nothing waits for real.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from pydantic import SecretStr

from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.adapters.zendesk.http import HeaderPacer
from deskbot.errors import ZendeskError
from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.settings import ZendeskRateLimits, ZendeskSettings
from deskbot.testing import FakeClock

LIMIT = 100  # account-wide requests per minute


class CompetingClock(FakeClock):
    """A fake clock during whose sleeps another client sends its requests on schedule."""

    def __init__(self) -> None:
        super().__init__()
        self.other: OtherClient | None = None

    def sleep(self, seconds: float) -> None:
        target = self.monotonic() + max(seconds, 0.0)
        other = self.other
        while other is not None and other.next_at <= target:
            super().sleep(max(0.0, other.next_at - self.monotonic()))
            other.fire()
        super().sleep(max(0.0, target - self.monotonic()))


class OtherClient:
    """Spends ``share`` of the account budget, evenly, with plain requests."""

    def __init__(self, sb: ZendeskSandbox, clock: FakeClock, share: float) -> None:
        self.session = requests.Session()
        self.session.auth = (f"{sb.email}/token", sb.token)
        self.url = f"{sb.base_url}/api/v2/users/me.json"
        self.interval = 60.0 / (LIMIT * share)
        self.next_at = clock.monotonic()
        self.sent = 0
        self.refused = 0

    def fire(self) -> None:
        response = self.session.get(self.url, timeout=10)
        self.sent += 1
        self.refused += response.status_code == 429
        self.next_at += self.interval


@pytest.fixture
def clock() -> CompetingClock:
    return CompetingClock()


@pytest.fixture
def sb(clock: CompetingClock) -> Iterator[ZendeskSandbox]:
    sandbox = ZendeskSandbox(
        seed=3,
        tickets=400,
        start=clock.now() - timedelta(days=2),
        account_limit=LIMIT,
        monotonic=clock.monotonic,
    )
    sandbox.start()
    yield sandbox
    sandbox.stop()


def deskbot(sb: ZendeskSandbox, clock: FakeClock, share: float) -> ZendeskClient:
    settings = ZendeskSettings(
        subdomain="acme",
        base_url=sb.base_url,
        email=SecretStr(sb.email),
        api_token=SecretStr(sb.token),
        rate_limits=ZendeskRateLimits(account_per_minute=LIMIT),
        budget_share=share,
        max_retries=0,  # a 429 would fail the test loudly instead of being retried
    )
    return ZendeskClient.from_settings(settings, clock)


def run(clock: CompetingClock, sb: ZendeskSandbox, client: ZendeskClient, requests_: int) -> float:
    other = clock.other = OtherClient(sb, clock, share=0.6)
    start = clock.monotonic()
    for _ in range(requests_):
        client.rating_page(start_time=0, end_time=2_000_000_000, page=None, per_page=100)
    span = clock.monotonic() - start
    clock.other = None
    assert other.sent > 0
    return span


def test_a_competing_client_never_gets_429_and_neither_does_deskbot(
    clock: CompetingClock, sb: ZendeskSandbox
) -> None:
    client = deskbot(sb, clock, share=0.5)
    span = run(clock, sb, client, 120)
    other = clock.other
    assert other is None
    rate = 120 * 60 / span
    # What is left after the other client's 60 per minute, minus the pacer's margins.
    assert 20 <= rate <= 0.5 * LIMIT, rate
    assert client.counters.get("rate_limited", 0) == 0
    assert sb.counters["rate_limited"] == 0  # nobody on the account was refused
    assert client.session.budgets.account.header_waits > 0  # the headers did slow deskbot
    pacer = client.session.budgets.account.pacer
    assert pacer is not None and pacer.others_per_second == pytest.approx(1.0, rel=0.25)


def test_without_header_pacing_the_other_client_is_pushed_into_429s(
    clock: CompetingClock, sb: ZendeskSandbox
) -> None:
    """Today's behaviour (pace at the whole limit, headers only read at zero) is the bug."""
    client = deskbot(sb, clock, share=1.0)
    client.session.budgets.account.pacer = None
    other = OtherClient(sb, clock, share=0.6)
    clock.other = other
    for _ in range(120):
        # deskbot's own 429 (max_retries=0) raises: counted below.
        with contextlib.suppress(ZendeskError):
            client.rating_page(start_time=0, end_time=2_000_000_000, page=None, per_page=100)
    assert other.refused + client.counters.get("rate_limited", 0) > 0


def test_budget_share_caps_deskbot_when_nobody_else_spends(
    clock: CompetingClock, sb: ZendeskSandbox
) -> None:
    client = deskbot(sb, clock, share=0.5)
    start = clock.monotonic()
    for _ in range(60):
        client.rating_page(start_time=0, end_time=2_000_000_000, page=None, per_page=100)
    rate = 59 * 60 / (clock.monotonic() - start)
    assert 0.45 * LIMIT <= rate <= 0.5 * LIMIT
    night = deskbot(sb, clock, share=0.9)  # `deskbot sync --budget-share 0.9`
    start = clock.monotonic()
    for _ in range(60):
        night.rating_page(start_time=0, end_time=2_000_000_000, page=None, per_page=100)
    assert 59 * 60 / (clock.monotonic() - start) > 0.8 * LIMIT
    assert sb.counters["rate_limited"] == 0


def test_header_pacer_leaves_the_others_their_rate() -> None:
    pacer = HeaderPacer()
    # Window of 60 s, limit 700: others spend 7/s (420/min); we send one request per answer.
    remaining, now, ours = 700.0, 0.0, 0
    for _ in range(10):
        now += 1.0
        ours += 1
        remaining -= 7 + 1
        pacer.observe(now, 700, remaining, 60 - now, ours)
    assert pacer.others_per_second == pytest.approx(7.0)
    allowed = pacer.allowed_per_second
    assert allowed is not None
    # Ours plus theirs (with the margin) fits in what is left before the reset.
    assert allowed * (60 - now) + 7 * 1.25 * (60 - now) <= remaining
    interval = pacer.interval(now)
    assert interval is not None and interval == pytest.approx(1 / allowed)
    # Nothing left to spare: wait for the reset.
    pacer.observe(now + 1, 700, 5, 49, ours + 1)
    assert pacer.interval(now + 1) == pytest.approx(49)
    assert pacer.interval(now + 51) is None  # a new window: no constraint until told


def test_header_pacer_alone_keeps_the_configured_pace() -> None:
    """Nobody else spends the budget: no slow-down from the headers (the export must still
    reach ~0.99 of its limit), but an exhausted budget waits for the reset."""
    pacer = HeaderPacer()
    remaining = 9.0
    for n in range(1, 6):
        pacer.observe(6.0 * n, 10, remaining, 60 - 6.0 * n, n)
        remaining -= 1
        assert pacer.interval(6.0 * n) is None
    assert pacer.others_per_second == 0
    pacer.observe(40.0, 10, 0, 20, 6)
    assert pacer.interval(40.0) == pytest.approx(20)
