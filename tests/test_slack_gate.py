"""SlackGate pieces: recent-key memory, idempotency keys, and Socket Mode requests."""

from __future__ import annotations

import threading
import urllib.parse

from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from deskbot.adapters.slack.app import build_app
from deskbot.adapters.slack.gate import RecentKeys, idempotency_key
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.services.providers import SlackServices
from deskbot.testing import FakeClock, FakeStatsProvider
from slack_helpers import AGENT, command_body, fake_slack_api, make_settings, signed_request


def test_recent_keys_forget_after_their_ttl_and_beyond_their_size(clock: FakeClock) -> None:
    keys = RecentKeys(clock, ttl_seconds=60, max_keys=3)
    assert keys.add("a") is True
    assert keys.add("a") is False
    clock.advance(seconds=61)
    assert "a" not in keys
    assert keys.add("a") is True
    for k in ("b", "c", "d"):
        keys.add(k)
    assert len(keys) == 3 and "a" not in keys  # the oldest went first


def test_idempotency_keys_identify_one_logical_request() -> None:
    click = {
        "type": "block_actions",
        "trigger_id": "1.2.3",
        "actions": [{"action_id": "x", "action_ts": "9"}],
    }
    assert idempotency_key(click) == "block_actions:1.2.3:x:9"
    assert idempotency_key({"command": "/deskbot", "trigger_id": "7.7"}) == "slash_command:7.7"
    assert idempotency_key({"type": "event_callback", "event_id": "Ev1"}) == "event:Ev1"
    submit = {"type": "view_submission", "trigger_id": "1.2.3"}
    assert idempotency_key(submit) != idempotency_key(click)  # same trigger, other request
    a = idempotency_key({"type": "shortcut", "x": 1, "y": [1, 2]})
    assert a == idempotency_key({"y": [1, 2], "x": 1, "type": "shortcut"})
    assert a != idempotency_key({"type": "shortcut", "x": 2, "y": [1, 2]})


def test_socket_mode_acks_before_work_and_drops_redeliveries(clock: FakeClock) -> None:
    gate = threading.Event()
    stats = FakeStatsProvider(gate=gate)
    with fake_slack_api() as api:
        work = BackgroundWork()
        app = build_app(
            make_settings(mode="socket"),
            WebClient(token="xoxb-test", base_url=api.api_url),
            SlackServices(stats=stats),
            clock,
            work=work,
            mode="socket",
            token_verification_enabled=False,
        )
        form = command_body("stats 7d", AGENT, api.url + "/hooks/s/1", trigger="55.55.x")
        payload = {k: v[0] for k, v in urllib.parse.parse_qs(form).items()}
        # Socket Mode requests carry no signature: they arrive over the authenticated socket
        response = app.dispatch(BoltRequest(mode="socket_mode", body=payload))
        assert (response.status, response.body) == (200, "")
        assert stats.started.wait(5) and stats.queries == []
        retry = app.dispatch(
            BoltRequest(mode="socket_mode", body=payload, headers={"x-slack-retry-num": "1"})
        )
        assert (retry.status, retry.body) == (200, "")
        gate.set()
        assert work.wait_idle(10)
        assert len(stats.queries) == 1
        assert len(api.responses) == 1
        work.shutdown()


def test_a_socket_mode_app_without_secret_refuses_http_requests(clock: FakeClock) -> None:
    settings = make_settings(mode="socket", slack={"signing_secret": None})
    with fake_slack_api() as api:
        stats = FakeStatsProvider()
        work = BackgroundWork()
        app = build_app(
            settings,
            WebClient(token="xoxb-test", base_url=api.api_url),
            SlackServices(stats=stats),
            clock,
            work=work,
            token_verification_enabled=False,
        )
        body = command_body("stats", AGENT, api.url + "/hooks/1")
        response = app.dispatch(signed_request(body, int(clock.now().timestamp())))
        assert response.status == 401
        assert work.wait_idle(5) and stats.queries == [] and api.requests == []
        work.shutdown()
