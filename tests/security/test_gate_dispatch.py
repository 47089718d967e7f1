"""Requests handed to the app directly (``App.dispatch``, as bolt's own tests and any other
front end do) meet the same verification: a hostile header is a 401, never an exception."""

from __future__ import annotations

import pytest
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from deskbot.adapters.slack.app import build_app
from deskbot.services.providers import SlackServices
from deskbot.testing import FakeClock, FakeSyncTrigger
from slack_helpers import ADMIN, FakeSlackApi, command_body, make_settings, sign


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


def test_socket_mode_requests_meet_the_same_coherence_checks(clock: FakeClock) -> None:
    from deskbot.adapters.slack.interactions import InteractionRegistry
    from deskbot.domain.authz import bind_view

    seen: list[str] = []
    registry = InteractionRegistry()
    registry.on_action("qa_score", lambda i: seen.append(i.id), check=lambda _b, v: None)
    registry.on_view("qa_modal", lambda i: seen.append(i.id), bound=True)
    api = FakeSlackApi()
    app = build_app(
        make_settings(mode="socket"),
        WebClient(token="xoxb-test", base_url=api.api_url),
        SlackServices(),
        clock,
        interactions=registry,
        mode="socket",
        token_verification_enabled=False,
    )

    def dispatch(body: dict[str, object]) -> int:
        return app.dispatch(BoltRequest(body=body, mode="socket_mode")).status

    user = {"id": ADMIN}
    click = {"type": "block_actions", "user": user, "trigger_id": "1.2", "actions": []}
    assert dispatch({**click, "actions": [{"action_id": "drop_tables", "action_ts": "1"}]}) == 400
    view = {"callback_id": "qa_modal", "private_metadata": bind_view("r1", "UOTHER01")}
    assert dispatch({"type": "view_submission", "user": user, "view": view}) == 400
    assert dispatch({"type": "shortcut", "user": user, "callback_id": "x"}) == 400
    assert seen == []
    assert api.requests == []  # refused before authorization: not even auth.test
    ok = {**click, "trigger_id": "1.3", "actions": [{"action_id": "qa_score", "action_ts": "2"}]}
    assert dispatch(ok) == 200
    api.close()
