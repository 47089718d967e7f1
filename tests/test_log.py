"""Logs carry no secrets and no customer e-mail addresses."""

from __future__ import annotations

import json

import pytest
import structlog

from deskbot.log import configure_logging, get_logger, redact_text


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_json_lines_with_secrets_and_emails_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    log = get_logger("deskbot.test")
    log.info(
        "zendesk.request",
        api_token="zd-9f8e7d6c5b4a",
        headers={"Authorization": "Basic Ym90QGV4YW1wbGUuY29tL3Rva2VuOnNlY3JldA=="},
        requester="Jane <jane.doe@customer.example>",
        note="slack said xoxb-1111-2222-abcdefg and xapp-1-A0-99-zz",
        ticket_id=42,
    )
    (event,) = _lines(capsys)
    text = json.dumps(event)
    for leaked in (
        "zd-9f8e7d6c5b4a",
        "Ym90QGV4",
        "jane.doe@customer.example",
        "xoxb-1111",
        "xapp-1",
    ):
        assert leaked not in text
    assert event["api_token"] == "[redacted]"
    assert event["headers"] == {"Authorization": "[redacted]"}
    assert event["requester"] == "Jane <[email]>"
    assert event["ticket_id"] == 42
    assert event["event"] == "zendesk.request"
    assert event["logger"] == "deskbot.test"
    assert event["level"] == "info"


def test_stdlib_loggers_are_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    configure_logging("info", "json")
    logging.getLogger("zenpy.lib.api").warning(
        "auth failed for agent@acme.example with Bearer abcdefghijkl"
    )
    (event,) = _lines(capsys)
    assert "agent@acme.example" not in json.dumps(event)
    assert "abcdefghijkl" not in json.dumps(event)


def test_levels_filter(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", "json")
    log = structlog.get_logger()
    log.info("quiet")
    log.warning("loud")
    assert [e["event"] for e in _lines(capsys)] == ["loud"]


def test_redact_text_keeps_ordinary_words() -> None:
    assert redact_text("ticket 42 solved by agent 7") == "ticket 42 solved by agent 7"
