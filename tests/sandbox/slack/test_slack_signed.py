"""Playing the user: signed slash commands, button clicks and view submissions, delivered to a
local receiver the way Slack delivers them to deskbot."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from deskbot.sandbox.slack import SlackSandbox, sign
from deskbot.testing import FakeClock

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "slack"  # see SOURCES.md


class _VerifierClock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verified(sandbox: SlackSandbox, headers: dict[str, str], body: str) -> bool:
    """What deskbot's endpoint checks: slack_sdk's verifier on the real clock (as bolt does)."""
    return SignatureVerifier(sandbox.signing_secret).is_valid_request(body, headers)


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def payload_of(body: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(parse_qs(body)["payload"][0])
    return data


def test_the_published_signature_example_verifies() -> None:
    example = fixture_json("signature_example.json")
    ts = int(example["timestamp"])
    assert (
        sign(example["secret"], example["timestamp"], example["body"])
        == example["expected_signature"]
    )
    check = SignatureVerifier(example["secret"], clock=_VerifierClock(ts + 10))
    headers = {
        "x-slack-request-timestamp": example["timestamp"],
        "x-slack-signature": example["expected_signature"],
    }
    assert check.is_valid_request(example["body"], headers)
    # A verifier without the injected clock rejects it: the example is years old.
    assert not SignatureVerifier(example["secret"]).is_valid_request(example["body"], headers)


def test_slash_command_is_signed_form_in_the_fixture_shape(
    sandbox: SlackSandbox, receiver: Any, clock: FakeClock
) -> None:
    receiver.body = ""
    delivery = sandbox.send_slash_command(
        receiver.url, text="stats 7d", user_id="lucas.ferreira", channel_id="#support-leads"
    )
    status, body = delivery
    assert (status, body) == (200, "")
    assert delivery.attempts == 1 and delivery.ack_seconds > 0
    [got] = receiver.requests
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert verified(sandbox, got.headers, got.body)
    assert abs(int(got.headers["X-Slack-Request-Timestamp"]) - time.time()) < 60
    fields = {k: v[0] for k, v in parse_qs(got.body, keep_blank_values=True).items()}
    expected_keys = set(parse_qs((FIXTURES / "slash_command.txt").read_text()))
    assert set(fields) == expected_keys | {"api_app_id", "is_enterprise_install"}
    assert fields["command"] == "/deskbot" and fields["text"] == "stats 7d"
    assert fields["user_id"] == sandbox.user_id("lucas.ferreira")
    assert fields["channel_id"] == sandbox.channel_id("#support-leads")
    assert fields["channel_name"] == "support-leads" and fields["team_id"] == sandbox.team_id
    assert fields["response_url"].startswith(sandbox.base_url.removesuffix("api/") + "_responses/")
    # A tampered body does not verify.
    assert not verified(sandbox, got.headers, got.body.replace("stats", "hack"))

    # The app answers later through response_url: recorded as an ephemeral to the user.
    answer = {
        "text": "CSAT 7d: 91%",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*CSAT* 91%"}}],
    }
    posted = requests.post(fields["response_url"], json=answer, timeout=5)
    assert posted.status_code == 200
    [message] = sandbox.messages("#support-leads")
    assert message["kind"] == "ephemeral" and message["to"] == fields["user_id"]
    assert message["source"] == "response_url" and message["text"] == "CSAT 7d: 91%"
    # The trigger id works with views.open within 3 s.
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.base_url)
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Stats"}, "blocks": []}
    assert client.views_open(trigger_id=fields["trigger_id"], view=modal)["ok"]


def test_slash_command_ack_body_is_shown(sandbox: SlackSandbox, receiver: Any) -> None:
    receiver.body = json.dumps({"response_type": "in_channel", "text": "Sync is running"})
    sandbox.send_slash_command(receiver.url, text="sync", channel_id="#deskbot-admin")
    [message] = sandbox.messages("#deskbot-admin")
    assert message["kind"] == "message" and message["source"] == "slash_ack"
    assert message["text"] == "Sync is running"
    receiver.body = "Unknown subcommand `stast`. Did you mean `stats`?"
    receiver.content_type = "text/plain"
    sandbox.send_slash_command(receiver.url, text="stast", channel_id="#deskbot-admin")
    last = sandbox.messages("#deskbot-admin")[-1]
    assert last["kind"] == "ephemeral" and last["text"].startswith("Unknown subcommand")


def test_button_click_is_signed_block_actions_in_the_fixture_shape(
    sandbox: SlackSandbox, client: WebClient, receiver: Any, clock: FakeClock
) -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Bad rating on #4711"}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "csat_claim",
                    "text": {"type": "plain_text", "text": "Claim"},
                    "value": "4711",
                }
            ],
        },
    ]
    posted = client.chat_postMessage(channel="#csat-alerts", text="Bad rating", blocks=blocks)
    delivery = sandbox.click_button(
        receiver.url,
        message_ts=posted["ts"],
        channel="#csat-alerts",
        action_id="csat_claim",
        user_id="sam.reyes",
    )
    assert delivery.status == 200
    [got] = receiver.requests
    assert verified(sandbox, got.headers, got.body)
    payload = payload_of(got.body)
    fixture = fixture_json("block_actions.json")
    assert set(fixture) <= set(payload)
    assert set(payload) - set(fixture) == {
        "message",
        "state",
        "enterprise",
        "is_enterprise_install",
    }
    for key in ("user", "team", "container", "channel"):
        assert set(payload[key]) == set(fixture[key]), key
    assert set(payload["actions"][0]) == set(fixture["actions"][0])
    assert payload["actions"][0]["value"] == "4711"
    assert payload["actions"][0]["block_id"] == posted["message"]["blocks"][1]["block_id"]
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": posted["channel"],
        "is_ephemeral": False,
    }
    assert (
        payload["message"]["ts"] == posted["ts"]
        and payload["message"]["blocks"][1]["type"] == "actions"
    )
    assert payload["user"]["id"] == sandbox.user_id("sam.reyes")

    # replace_original through the response_url updates the clicked message.
    done = {"replace_original": True, "text": f"Claimed by <@{payload['user']['id']}>"}
    assert requests.post(payload["response_url"], json=done, timeout=5).status_code == 200
    [message] = sandbox.messages("#csat-alerts")
    assert message["text"].startswith("Claimed by") and message["edited"]
    with pytest.raises(KeyError, match="no element with action_id"):
        sandbox.click_button(
            receiver.url, message_ts=posted["ts"], channel="#csat-alerts", action_id="nope"
        )


def test_view_submission_is_signed_in_the_fixture_shape(
    sandbox: SlackSandbox, client: WebClient, receiver: Any, clock: FakeClock
) -> None:
    modal = {
        "type": "modal",
        "callback_id": "qa_score",
        "private_metadata": "review:42",
        "title": {"type": "plain_text", "text": "Score ticket"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "accuracy",
                "label": {"type": "plain_text", "text": "Accuracy"},
                "element": {
                    "type": "static_select",
                    "action_id": "score",
                    "options": [
                        {"text": {"type": "plain_text", "text": f"{n} points"}, "value": str(n)}
                        for n in range(5)
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "notes",
                "optional": True,
                "label": {"type": "plain_text", "text": "Notes"},
                "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
            },
        ],
    }
    view = client.views_open(trigger_id=sandbox.new_trigger_id("aiko.tanaka"), view=modal)["view"]
    with pytest.raises(ValueError, match="required input 'Accuracy'"):
        sandbox.submit_view(receiver.url, view_id=view["id"], values={}, user_id="aiko.tanaka")
    delivery = sandbox.submit_view(
        receiver.url,
        view_id=view["id"],
        values={"accuracy": {"score": "3"}, "notes": {"text": "Good tone"}},
        user_id="aiko.tanaka",
    )
    assert delivery.status == 200
    [got] = receiver.requests
    assert verified(sandbox, got.headers, got.body)
    payload = payload_of(got.body)
    fixture = fixture_json("view_submission.json")
    assert set(fixture) <= set(payload)
    assert set(payload["view"]) == set(fixture["view"])
    assert set(payload["user"]) == set(fixture["user"]) and set(payload["team"]) == set(
        fixture["team"]
    )
    assert (
        payload["view"]["id"] == view["id"] and payload["view"]["private_metadata"] == "review:42"
    )
    assert payload["view"]["state"]["values"] == {
        "accuracy": {
            "score": {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "3 points"},
                    "value": "3",
                },
            }
        },
        "notes": {"text": {"type": "plain_text_input", "value": "Good tone"}},
    }
    # An empty 200 closes the modal.
    [entry] = sandbox.views
    assert entry["open"] is False and entry["submissions"][0]["status"] == 200
    views_md = sandbox.transcript_path("views").read_text()
    submitted = "*@aiko.tanaka* submitted:\n- accuracy.score = 3 points\n- notes.text = Good tone\n"
    assert submitted + "- → closed" in views_md


def test_slow_app_gets_a_retry_and_latency_is_measured(
    tmp_path: Path, clock: FakeClock, receiver: Any
) -> None:
    sandbox = SlackSandbox(out_dir=tmp_path, seed=2, clock=clock, ack_timeout=0.1)
    sandbox.start()
    try:
        receiver.hold_first = threading.Event()
        receiver.answer = lambda got: (receiver.hold_first.set() or 200, "")
        delivery = sandbox.send_slash_command(receiver.url, text="me", retry=True)
        assert delivery.status == 200 and delivery.attempts == 2
        first, second = receiver.requests
        assert "X-Slack-Retry-Num" not in first.headers
        assert second.headers["X-Slack-Retry-Num"] == "1"
        assert second.headers["X-Slack-Retry-Reason"] == "http_timeout"
        assert second.body == first.body
        assert delivery.ack_seconds < 0.1

        receiver.requests.clear()
        receiver.hold_first = threading.Event()
        receiver.answer = None
        late = sandbox.send_slash_command(receiver.url, text="me", retry=False)
        receiver.hold_first.set()
        assert late.timed_out and late.status == 0 and late.attempts == 1
        assert sandbox.rejections[-1].error == "operation_timeout"
    finally:
        sandbox.stop()


def test_signature_clock_can_be_injected(tmp_path: Path, clock: FakeClock, receiver: Any) -> None:
    sandbox = SlackSandbox(out_dir=tmp_path, seed=2, clock=clock, signature_clock=clock)
    sandbox.start()
    try:
        sandbox.send_slash_command(receiver.url, text="help")
    finally:
        sandbox.stop()
    [got] = receiver.requests
    stamped = got.headers["X-Slack-Request-Timestamp"]
    assert stamped == str(int(clock.now().timestamp()))
    on_fake_time = SignatureVerifier(sandbox.signing_secret, clock=_VerifierClock(int(stamped) + 5))
    assert on_fake_time.is_valid_request(got.body, got.headers)
    assert not SignatureVerifier(sandbox.signing_secret).is_valid_request(got.body, got.headers)


def test_response_url_rules(
    sandbox: SlackSandbox, client: WebClient, receiver: Any, clock: FakeClock
) -> None:
    blocks = [
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
            ],
        }
    ]
    posted = client.chat_postMessage(channel="#support", text="pick", blocks=blocks)
    sandbox.click_button(receiver.url, message_ts=posted["ts"], channel="#support", action_id="go")
    url = payload_of(receiver.requests[-1].body)["response_url"]
    bad = requests.post(url, json={"blocks": [{"type": "section"}]}, timeout=5)
    assert (bad.status_code, bad.text) == (400, "invalid_blocks")
    assert requests.post(url, json={}, timeout=5).text == "no_text"
    in_channel = requests.post(
        url, json={"response_type": "in_channel", "text": "Going!"}, timeout=5
    )
    assert in_channel.status_code == 200
    assert sandbox.messages("#support")[-1]["kind"] == "message"
    assert requests.post(url, json={"delete_original": True}, timeout=5).status_code == 200
    assert sandbox.messages("#support")[0]["deleted"] is True
    for _ in range(3):
        assert requests.post(url, json={"text": "again"}, timeout=5).status_code == 200
    used = requests.post(url, json={"text": "sixth"}, timeout=5)
    assert (used.status_code, used.text) == (404, "used_url")
    sandbox.click_button(receiver.url, message_ts=posted["ts"], channel="#support", action_id="go")
    fresh = payload_of(receiver.requests[-1].body)["response_url"]
    clock.advance(minutes=31)
    assert requests.post(fresh, json={"text": "late"}, timeout=5).text == "expired_url"


def test_a_failing_app_is_recorded(sandbox: SlackSandbox, client: WebClient, receiver: Any) -> None:
    blocks = [
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
            ],
        }
    ]
    posted = client.chat_postMessage(channel="#support", text="pick", blocks=blocks)
    receiver.status = 500
    status, _ = sandbox.click_button(
        receiver.url, message_ts=posted["ts"], channel="#support", action_id="go"
    )
    assert status == 500
    assert sandbox.rejections[-1].method == "block_actions.ack"
    assert sandbox.rejections[-1].error == "HTTP 500"
    status, _ = sandbox.send_slash_command(receiver.url, text="me", channel_id="#support")
    assert status == 500
    assert sandbox.rejections[-1].error == "http_service_error (HTTP 500)"
    assert "saw a warning sign (HTTP 500)" in sandbox.transcript_path("#support").read_text()
