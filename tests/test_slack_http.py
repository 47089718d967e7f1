"""HTTP mode end to end: a real local server, real HTTP requests with ``requests``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import requests
from slack_sdk import WebClient

from deskbot import bootstrap
from deskbot.adapters.slack.app import build_app, make_client
from deskbot.adapters.slack.server import MAX_BODY_BYTES, HttpHandle, start_slack, wsgi_app
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.errors import MissingSecretError, SlackError
from deskbot.services.providers import SlackServices
from deskbot.testing import FakeClock, FakeStatsProvider, FakeSyncTrigger
from slack_helpers import (
    ADMIN,
    AGENT,
    FakeSlackApi,
    FakeSocketModeServer,
    command_body,
    fake_slack_api,
    make_settings,
    sign,
)


@pytest.fixture
def api() -> Iterator[FakeSlackApi]:
    with fake_slack_api() as server:
        yield server


def _headers(body: str, ts: int, signature: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature or sign(body, ts),
    }


def test_http_mode_end_to_end(api: FakeSlackApi, clock: FakeClock) -> None:
    settings = make_settings(slack={"base_url": api.api_url})
    stats, trigger = FakeStatsProvider(), FakeSyncTrigger()
    work = BackgroundWork()
    services = SlackServices(stats=stats, sync_trigger=trigger)
    handle = bootstrap.start_slack_app(
        settings, services, clock, host="127.0.0.1", port=0, work=work
    )
    assert isinstance(handle, HttpHandle)
    url = handle.url + "/slack/events"
    now = int(clock.now().timestamp())
    try:
        with requests.Session() as http:
            body = command_body("stats 30d share", AGENT, api.url + "/hooks/commands/1")
            ok = http.post(url, data=body, headers=_headers(body, now), timeout=5)
            assert (ok.status_code, ok.text) == (200, "")
            assert work.wait_idle(10)
            [answer] = api.responses
            assert answer["response_type"] == "in_channel"
            assert "Numbers for the whole team" in json.dumps(answer)
            assert stats.queries[0].period.days == 30

            # an immediate answer travels in the HTTP response itself
            body = command_body("stast", AGENT, api.url + "/hooks/commands/2")
            typo = http.post(url, data=body, headers=_headers(body, now), timeout=5)
            assert typo.status_code == 200
            assert "Did you mean `stats`" in typo.json()["text"]

            # forged, stale: 401 and nothing happens
            body = command_body("sync now", ADMIN, api.url + "/hooks/commands/3")
            forged = http.post(url, data=body, headers=_headers(body, now, "v0=" + "0" * 64))
            stale = http.post(url, data=body, headers=_headers(body, now - 301))
            assert (forged.status_code, stale.status_code) == (401, 401)
            assert work.wait_idle(10)
            assert trigger.requests == []

            # only POST on the configured path reaches the app
            assert http.get(url, timeout=5).status_code == 404
            other = http.post(handle.url + "/other", data=body, headers=_headers(body, now))
            assert other.status_code == 404
    finally:
        handle.stop()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, data="x", timeout=2)


def test_socket_mode_needs_the_app_token(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESKBOT_SLACK_APP_TOKEN", raising=False)
    settings = make_settings(mode="socket")
    client = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/")
    app = build_app(settings, client, SlackServices(), clock, token_verification_enabled=False)
    with pytest.raises(MissingSecretError, match="DESKBOT_SLACK_APP_TOKEN"):
        start_slack(settings, app)


def test_socket_mode_opens_its_connection_through_the_given_client(
    api: FakeSlackApi, clock: FakeClock
) -> None:
    settings = make_settings(
        mode="socket", slack={"app_token": "xapp-1-test", "base_url": api.api_url}
    )
    app = build_app(
        settings, make_client(settings), SlackServices(), clock, token_verification_enabled=False
    )
    # the local API refuses the connection: a clear error, naming what to check
    with pytest.raises(SlackError, match=r"not_allowed.*slack\.app_token"):
        start_slack(settings, app)
    [call] = api.calls("/api/apps.connections.open")
    assert call.headers["Authorization"] == "Bearer xapp-1-test"


def test_an_absurdly_large_body_is_refused_unread(clock: FakeClock) -> None:
    settings = make_settings()
    client = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/")
    app = build_app(settings, client, SlackServices(), clock, token_verification_enabled=False)
    statuses: list[str] = []
    body = wsgi_app(app, "/slack/events")(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/slack/events",
            "CONTENT_LENGTH": str(MAX_BODY_BYTES + 1),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.input": io.BytesIO(b""),
        },
        lambda status, headers: statuses.append(status),
    )
    assert statuses == ["413 Payload Too Large"]
    assert b"too large" in b"".join(body)


def test_bootstrap_starts_the_configured_app_with_a_checked_token(
    api: FakeSlackApi, clock: FakeClock
) -> None:
    settings = make_settings(slack={"base_url": api.api_url})
    handle = bootstrap.start_slack_app(settings, SlackServices(), clock, host="127.0.0.1", port=0)
    try:
        assert isinstance(handle, HttpHandle)
        # the token was checked at start (bolt), and its scopes read once (the scope check)
        assert len(api.calls("/api/auth.test")) == 2
        now = int(clock.now().timestamp())
        body = command_body("help", AGENT, api.url + "/hooks/b/1")
        answer = requests.post(
            handle.url + "/slack/events", data=body, headers=_headers(body, now), timeout=5
        )
        assert answer.status_code == 200
        assert "deskbot commands" in answer.json()["text"]
    finally:
        handle.stop()


@pytest.mark.slow  # slack_sdk's Socket Mode client takes ~3 s to stop (its socket read timeout)
def test_socket_mode_end_to_end_over_a_local_websocket(api: FakeSlackApi, clock: FakeClock) -> None:
    ws = FakeSocketModeServer()
    api.connections_open = {"ok": True, "url": ws.url}
    settings = make_settings(
        mode="socket", slack={"app_token": "xapp-1-test", "base_url": api.api_url}
    )
    stats = FakeStatsProvider()
    work = BackgroundWork()
    handle = bootstrap.start_slack_app(settings, SlackServices(stats=stats), clock, work=work)
    try:
        command = {
            "command": "/deskbot",
            "user_id": AGENT,
            "channel_id": "C111",
            "team_id": "T111",
            "response_url": api.url + "/hooks/socket/1",
            "trigger_id": "9.9.socket",
        }
        ws.send(
            {
                "envelope_id": "env-help",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {**command, "text": "help", "trigger_id": "9.9.help"},
            }
        )
        ack = ws.next_message()
        assert ack["envelope_id"] == "env-help"
        assert "deskbot commands" in ack["payload"]["text"]

        ws.send(
            {
                "envelope_id": "env-stats",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {**command, "text": "stats 7d"},
            }
        )
        assert ws.next_message() == {"envelope_id": "env-stats"}
        assert work.wait_idle(10)
        [answer] = api.responses
        assert "Numbers for the whole team" in json.dumps(answer)
        assert len(stats.queries) == 1
    finally:
        handle.stop()
        ws.close()
