"""Fixtures for the Zendesk sandbox tests: sandboxes on a fixed clock and a small HTTP client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from zendesk_support import START, Client

from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def make_sandbox(clock: FakeClock) -> Iterator[Callable[..., ZendeskSandbox]]:
    made: list[ZendeskSandbox] = []

    def make(**kwargs: Any) -> ZendeskSandbox:
        options: dict[str, Any] = {
            "seed": 7,
            "tickets": 600,
            "start": START,
            "account_limit": 1_000_000,
            "incremental_limit": 1_000_000,
            "monotonic": clock.monotonic,
        }
        options.update(kwargs)
        sb = ZendeskSandbox(**options)
        sb.start()
        made.append(sb)
        return sb

    yield make
    for sb in made:
        sb.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., ZendeskSandbox]) -> ZendeskSandbox:
    return make_sandbox()


@pytest.fixture
def client(sandbox: ZendeskSandbox) -> Client:
    return Client(sandbox)


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[ZendeskSandbox]:
    """A read-only 2000-ticket sandbox shared by a module's tests."""
    sb = ZendeskSandbox(
        seed=11, tickets=2000, start=START, account_limit=1_000_000, incremental_limit=1_000_000
    )
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def shared_client(shared_sandbox: ZendeskSandbox) -> Client:
    return Client(shared_sandbox)
