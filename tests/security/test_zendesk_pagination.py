"""A ``next_page`` URL on another host is refused: the account's credentials never leave."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import responses
from pydantic import SecretStr

from deskbot.adapters.zendesk.client import ForeignUrlError, ZendeskClient
from deskbot.adapters.zendesk.mapping import URL_PREFIX
from deskbot.settings import ZendeskSettings
from deskbot.testing import FakeClock

RATINGS = re.compile(r"https://acme\.zendesk\.com/api/v2/satisfaction_ratings\.json.*")


def client(clock: FakeClock) -> ZendeskClient:
    settings = ZendeskSettings(
        subdomain="acme",
        email=SecretStr("agent@example.com"),
        api_token=SecretStr("secret-token"),
        max_retries=2,
    )
    return ZendeskClient.from_settings(settings, clock)


def page(next_page: str | None) -> dict[str, Any]:
    return {"satisfaction_ratings": [], "next_page": next_page, "previous_page": None, "count": 0}


FOREIGN = [
    "https://evil.example.com/api/v2/satisfaction_ratings.json?page=2",
    "https://acme.zendesk.com.evil.example.com/api/v2/satisfaction_ratings.json?page=2",
    "http://acme.zendesk.com/api/v2/satisfaction_ratings.json?page=2",  # downgraded scheme
    "https://acme.zendesk.com:8443/api/v2/satisfaction_ratings.json?page=2",  # other port
    "https://other.zendesk.com/api/v2/satisfaction_ratings.json?page=2",  # another account
    "https://agent%40example.com@evil.example.com/api/v2/satisfaction_ratings.json",
]


@pytest.mark.parametrize("url", FOREIGN)
@responses.activate
def test_a_foreign_next_page_in_a_response_is_refused_before_it_is_stored(
    clock: FakeClock, url: str
) -> None:
    responses.add(responses.GET, RATINGS, body=json.dumps(page(url)))
    with pytest.raises(ForeignUrlError, match="another host"):
        client(clock).rating_page(start_time=0, end_time=10, page=None, per_page=100)
    assert len(responses.calls) == 1  # not retried, and nothing else was requested


@pytest.mark.parametrize("url", FOREIGN)
@responses.activate
def test_a_stored_foreign_page_token_is_never_followed(clock: FakeClock, url: str) -> None:
    evil = responses.add(responses.GET, re.compile(r".*"), body=json.dumps(page(None)))
    with pytest.raises(ForeignUrlError):
        client(clock).rating_page(start_time=0, end_time=10, page=URL_PREFIX + url, per_page=100)
    assert evil.call_count == 0  # no request at all: no credentials sent anywhere


@responses.activate
def test_a_next_page_on_the_account_is_followed(clock: FakeClock) -> None:
    own = "https://acme.zendesk.com/api/v2/satisfaction_ratings.json?page=2"
    responses.add(responses.GET, RATINGS, body=json.dumps(page(own)))
    zendesk = client(clock)
    first = zendesk.rating_page(start_time=0, end_time=10, page=None, per_page=100)
    assert first.next_page == URL_PREFIX + own
    zendesk.rating_page(start_time=0, end_time=10, page=first.next_page, per_page=100)
    assert responses.calls[1].request.url == own
    assert responses.calls[1].request.headers["Authorization"].startswith("Basic ")
