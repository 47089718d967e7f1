"""Requests handed to the app directly (``App.dispatch``, as bolt's own tests and any other
front end do) meet the same verification: a hostile header is a 401, never an exception."""

from __future__ import annotations

import pytest
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from deskbot.adapters.slack.app import build_app
from deskbot.services.providers import SlackServices
from deskbot.testing import FakeClock, FakeSyncTrigger
from slack_helpers import ADMIN, command_body, make_settings, sign


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("abc", None),
        ("1.5", None),
        ("", None),
        (None, "v0=" + "0" * 64),
        ("now", "v0=" + "0" * 64),
        ("ok", "not-a-signature"),
    ],
)
def test_a_hostile_header_is_a_401_and_nothing_runs(
    clock: FakeClock, timestamp: str | None, signature: str | None
) -> None:
    trigger = FakeSyncTrigger()
    app = build_app(
        make_settings(),
        WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/"),
        SlackServices(sync_trigger=trigger),
        clock,
        token_verification_enabled=False,
    )
    body = command_body("sync now", ADMIN, "http://127.0.0.1:9/hooks/1")
    now = str(int(clock.now().timestamp()))
    headers: dict[str, list[str]] = {"content-type": ["application/x-www-form-urlencoded"]}
    if timestamp is not None:
        ts = now if timestamp == "ok" else timestamp
        headers["x-slack-request-timestamp"] = [ts]
    if signature is not None:
        headers["x-slack-signature"] = [signature]
    elif timestamp is not None:
        headers["x-slack-signature"] = [sign(body, int(now))]
    response = app.dispatch(BoltRequest(body=body, headers=headers))
    assert response.status == 401
    assert trigger.requests == []
