"""The sandbox rejects what real Slack rejects, with Slack's error codes, and records why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from deskbot.sandbox.slack import SlackSandbox, validate_blocks
from deskbot.testing import FakeClock


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call()
    data: dict[str, Any] = info.value.response.data
    assert data["ok"] is False
    return data


def test_51_blocks_are_invalid_blocks(client: WebClient, sandbox: SlackSandbox) -> None:
    data = error_of(
        lambda: client.chat_postMessage(channel="#support", text="x", blocks=[section("a")] * 51)
    )
    assert data["error"] == "invalid_blocks"
    assert data["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert sandbox.messages() == []
    [rejection] = sandbox.rejections
    assert rejection.method == "chat.postMessage" and rejection.error == "invalid_blocks"
    assert rejection.messages == ("[ERROR] no more than 50 items allowed [json-pointer:/blocks]",)
    # 50 is fine.
    client.chat_postMessage(channel="#support", text="x", blocks=[section("a")] * 50)
    assert len(sandbox.messages()) == 1


def test_section_text_over_3000_chars_is_invalid(client: WebClient, sandbox: SlackSandbox) -> None:
    blocks = [section("ok"), section("x" * 3001)]
    data = error_of(lambda: client.chat_postMessage(channel="#support", text="x", blocks=blocks))
    assert data["error"] == "invalid_blocks"
    assert data["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"
    ]
    client.chat_postMessage(channel="#support", text="x", blocks=[section("x" * 3000)])


def test_message_text_over_40k_is_msg_too_long(client: WebClient) -> None:
    assert error_of(lambda: client.chat_postMessage(channel="#support", text="x" * 40_001))[
        "error"
    ] == ("msg_too_long")
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):
        data = error_of(lambda: client.chat_postMessage(channel="#support", text=""))
    assert data["error"] == "no_text"


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([{"type": "fancy"}], "unsupported type: fancy [json-pointer:/blocks/0/type]"),
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "H"}}],
            "must be one of: plain_text [json-pointer:/blocks/0/text/type]",
        ),
        ([{"type": "section"}], "must provide either text or fields [json-pointer:/blocks/0]"),
        (
            [{"type": "actions", "elements": [{"type": "button", "action_id": "a"}]}],
            "missing required field: text [json-pointer:/blocks/0/elements/0]",
        ),
        (
            [{"type": "actions", "elements": []}],
            "must provide at least 1 items [json-pointer:/blocks/0/elements]",
        ),
        (
            [{"type": "image", "image_url": "https://x/y.png"}],
            "missing required field: alt_text [json-pointer:/blocks/0]",
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": ""}]}],
            "must be more than 0 characters [json-pointer:/blocks/0/elements/0/text]",
        ),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
        ),
        (
            [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}],
            "duplicate block_id: a [json-pointer:/blocks/1/block_id]",
        ),
        (
            [
                {
                    "type": "input",
                    "label": {"type": "plain_text", "text": "L"},
                    "element": {"type": "button", "text": {"type": "plain_text", "text": "b"}},
                }
            ],
            "unsupported type: button [json-pointer:/blocks/0/element/type]",
        ),
        (
            [{"type": "rich_text", "elements": [{"type": "rich_text_bogus", "elements": []}]}],
            "unsupported type: rich_text_bogus [json-pointer:/blocks/0/elements/0/type]",
        ),
    ],
)
def test_malformed_blocks_are_rejected_like_slack(
    client: WebClient, blocks: list[dict[str, Any]], message: str
) -> None:
    assert validate_blocks(blocks) == [message]
    data = error_of(lambda: client.chat_postMessage(channel="#support", text="x", blocks=blocks))
    assert data["error"] == "invalid_blocks"
    assert data["errors"] == [message]


def test_valid_kinds_of_blocks_pass() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Digest", "emoji": True}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "hi"},
            "accessory": {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open"},
                "url": "https://x",
            },
        },
        {
            "type": "context",
            "elements": [
                {"type": "image", "image_url": "https://x/a.png", "alt_text": "a"},
                {"type": "plain_text", "text": "t"},
            ],
        },
        {
            "type": "image",
            "image_url": "https://x/chart.png",
            "alt_text": "chart",
            "title": {"type": "plain_text", "text": "Chart"},
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "static_select",
                    "action_id": "s",
                    "options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}],
                }
            ],
        },
        {
            "type": "rich_text",
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "x"}]}
            ],
        },
        {
            "type": "input",
            "label": {"type": "plain_text", "text": "Notes"},
            "element": {"type": "plain_text_input", "multiline": True},
            "optional": True,
        },
    ]
    assert validate_blocks(blocks) == []


def test_bad_or_missing_token_and_unknown_things(sandbox: SlackSandbox, client: WebClient) -> None:
    bad = WebClient(token="xoxb-not-the-token", base_url=sandbox.base_url)
    assert error_of(bad.auth_test)["error"] == "invalid_auth"
    raw = requests.post(sandbox.base_url + "auth.test", timeout=5).json()
    assert raw == {"ok": False, "error": "not_authed"}
    assert (
        error_of(lambda: client.chat_postMessage(channel="C_NOPE", text="x"))["error"]
        == "channel_not_found"
    )
    assert (
        error_of(lambda: client.chat_postMessage(channel="#random", text="x"))["error"]
        == "not_in_channel"
    )
    assert error_of(lambda: client.api_call("chat.fly"))["error"] == "unknown_method"
    assert error_of(lambda: client.users_info(user="U_NOPE"))["error"] == "user_not_found"
    assert [r.error for r in sandbox.rejections] == [
        "invalid_auth",
        "not_authed",
        "channel_not_found",
        "not_in_channel",
        "unknown_method",
        "user_not_found",
    ]
    assert len(sandbox.calls) == 6 and not any(c.ok for c in sandbox.calls)


MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Claim"},
    "blocks": [section("Claim ticket #4711?")],
}


def test_trigger_ids_are_checked_and_expire_after_3s(
    client: WebClient, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    assert error_of(lambda: client.views_open(trigger_id="123.456.abc", view=MODAL))["error"] == (
        "invalid_trigger_id"
    )
    late = sandbox.new_trigger_id("maya.okafor")
    clock.advance(3.1)
    assert (
        error_of(lambda: client.views_open(trigger_id=late, view=MODAL))["error"]
        == "expired_trigger_id"
    )
    fresh = sandbox.new_trigger_id("maya.okafor")
    clock.advance(2.9)
    assert client.views_open(trigger_id=fresh, view=MODAL)["ok"] is True
    assert error_of(lambda: client.views_open(trigger_id=fresh, view=MODAL))["error"] == (
        "exchanged_trigger_id"
    )
    assert [r.error for r in sandbox.rejections] == [
        "invalid_trigger_id",
        "expired_trigger_id",
        "exchanged_trigger_id",
    ]


def test_invalid_view_is_invalid_arguments(client: WebClient, sandbox: SlackSandbox) -> None:
    view = {**MODAL, "title": {"type": "plain_text", "text": "A title far longer than twenty-four"}}
    data = error_of(
        lambda: client.views_open(trigger_id=sandbox.new_trigger_id("maya.okafor"), view=view)
    )
    assert data["error"] == "invalid_arguments"
    assert data["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]


@pytest.fixture
def strict(tmp_path: Path, clock: FakeClock) -> Iterator[SlackSandbox]:
    """Slack's default: one message per second per channel, no burst."""
    sb = SlackSandbox(out_dir=tmp_path, seed=3, clock=clock)
    sb.start()
    yield sb
    sb.stop()


def test_second_message_within_a_second_is_429_with_retry_after(
    strict: SlackSandbox, clock: FakeClock
) -> None:
    client = WebClient(token=strict.bot_token, base_url=strict.base_url)
    client.chat_postMessage(channel="#csat-alerts", text="first")
    client.chat_postMessage(channel="#shoutouts", text="other channel is fine")
    clock.advance(0.4)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="#csat-alerts", text="second")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "1"
    assert info.value.response["error"] == "ratelimited"
    assert strict.rejections[-1].status == 429
    clock.advance(0.6)
    client.chat_postMessage(channel="#csat-alerts", text="a second later")
    assert [m["text"] for m in strict.messages("#csat-alerts")] == ["first", "a second later"]


def test_rate_limit_retry_handler_recovers(
    strict: SlackSandbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # slack_sdk's handler sleeps Retry-After (+ jitter): let that sleep move the fake clock.
    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=clock.sleep))
    client = WebClient(token=strict.bot_token, base_url=strict.base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    client.chat_postMessage(channel="#csat-alerts", text="one")
    client.chat_postMessage(channel="#csat-alerts", text="two")
    assert [m["text"] for m in strict.messages("#csat-alerts")] == ["one", "two"]
    assert [r.error for r in strict.rejections] == ["ratelimited"]
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] < 2.0
