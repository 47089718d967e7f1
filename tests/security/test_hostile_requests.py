"""Hostile and malformed requests against the running app in HTTP mode.

Each case sends one request over a real socket and asserts: the status code (401 for anything
not authentic, 400 for anything authentic but malformed or incoherent, 413/404 where HTTP says
so), that nothing changed (follow-ups, ledger, Slack calls, the fakes behind the commands),
exactly one structured ``slack.request.rejected`` log line, and no traceback on stderr.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from security_env import (
    ADMIN,
    ALERT_TS,
    ALERTS,
    LEAD,
    OTHER_RATING,
    RATING,
    SECRET,
    Env,
    Reply,
    events,
    form_payload,
    sign,
)


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    send: Callable[[Env], Reply]


def _cmd(env: Env, text: str = "sync now", user: str = ADMIN) -> bytes:
    return env.command(text, user)


def _signed_with(secret: str) -> Callable[[Env], Reply]:
    def send(env: Env) -> Reply:
        body = _cmd(env)
        env.tick()
        ts = str(env.now)
        return env.post(
            body,
            signed=False,
            headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(body, ts, secret)},
        )

    return send


def _timestamp(offset: int) -> Callable[[Env], Reply]:
    def send(env: Env) -> Reply:
        body = _cmd(env)
        ts = str(env.now + offset)
        return env.post(
            body,
            signed=False,
            headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(body, ts)},
        )

    return send


def _bad_timestamp(value: str) -> Callable[[Env], Reply]:
    def send(env: Env) -> Reply:
        body = _cmd(env)
        return env.post(
            body,
            signed=False,
            headers={"X-Slack-Request-Timestamp": value, "X-Slack-Signature": sign(body, value)},
        )

    return send


def _signature(value: str) -> Callable[[Env], Reply]:
    def send(env: Env) -> Reply:
        return env.post(
            _cmd(env),
            signed=False,
            headers={"X-Slack-Request-Timestamp": str(env.now), "X-Slack-Signature": value},
        )

    return send


def _tampered(env: Env) -> Reply:
    body = _cmd(env, "help")
    ts = str(env.now)
    signature = sign(body, ts)
    forged = body.replace(b"text=help", b"text=sync+now")
    return env.post(
        forged,
        signed=False,
        headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature},
    )


def _replayed(env: Env) -> Reply:
    body = _cmd(env, "help", LEAD)
    ts = str(env.now + 1)
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(body, ts)}
    first = env.post(body, signed=False, headers=headers)
    assert first.status == 200  # help: answered, changes nothing
    env.settle()
    env.api.requests.clear()
    return env.post(body, signed=False, headers=headers)


def _body(data: bytes, content_type: str | None = "application/x-www-form-urlencoded"):
    return lambda env: env.post(data, content_type=content_type)


def _payload(value: object) -> Callable[[Env], Reply]:
    return lambda env: env.post(urllib.parse.urlencode({"payload": json.dumps(value)}).encode())


def _click(
    action_id: str = "followup_claim",
    value: str = f"{RATING}:1",
    user: str = LEAD,
    **kw: object,
) -> Callable[[Env], Reply]:
    return lambda env: env.post(env.click(action_id, value, user, **kw))  # type: ignore[arg-type]


def _submit(user: str, metadata: Callable[[Env], str], callback: str = "followup_handled_modal"):
    return lambda env: env.post(env.submit(user, metadata(env), callback))


def _edited_payload(mutate: Callable[[dict[str, object]], None]) -> Callable[[Env], Reply]:
    def send(env: Env) -> Reply:
        body = env.click("followup_claim", f"{RATING}:1", LEAD)
        payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
        mutate(payload)
        return env.post(form_payload(payload))

    return send


def _raw_short_body(env: Env) -> Reply:
    body = _cmd(env)
    ts = str(env.now)
    head = (
        "POST /slack/events HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {sign(body, ts)}\r\n"
        f"Content-Length: {len(body) + 100}\r\n\r\n"
    )
    return env.raw(head.encode() + body)


def _header_length(value: str) -> Callable[[Env], Reply]:
    return lambda env: env.post(_cmd(env), headers={"Content-Length": value})


def _deep(depth: int) -> bytes:
    return ("payload=" + urllib.parse.quote("[" * depth + "]" * depth)).encode()


def _many_fields(env: Env) -> Reply:
    fields = {f"f{i}": "x" for i in range(200)}
    return env.post(urllib.parse.urlencode({**fields, "command": "/deskbot"}).encode())


def _huge_field(env: Env) -> Reply:
    return env.post(env.command("stats " + "x" * 100_000, ADMIN))


def _huge_json_string(env: Env) -> Reply:
    return _payload(
        {"type": "block_actions", "user": {"id": LEAD}, "actions": [], "junk": "x" * 200_000}
    )(env)


CASES = [
    # -- not authentic: 401 -----------------------------------------------------------------
    Case("no signature headers", 401, lambda env: env.post(_cmd(env), signed=False)),
    Case("signature only", 401, _signature("v0=" + "0" * 64)),
    Case("wrong secret", 401, _signed_with("not-the-secret-at-all-0123456789")),
    Case("secret with a trailing space", 401, _signed_with(SECRET + " ")),
    Case("body changed after signing", 401, _tampered),
    Case("stale timestamp (301 s)", 401, _timestamp(-301)),
    Case("timestamp from the future (301 s)", 401, _timestamp(302)),  # the send ticks 1 s
    Case("timestamp one day old", 401, _timestamp(-86_400)),
    Case("timestamp not an integer", 401, _bad_timestamp("abc")),
    Case("timestamp with a fraction", 401, _bad_timestamp("1762074000.5")),
    Case("timestamp negative", 401, _bad_timestamp("-5")),
    Case("timestamp absurdly large", 401, _bad_timestamp("9" * 40)),
    Case("timestamp empty", 401, _bad_timestamp("")),
    Case("timestamp with spaces", 401, _bad_timestamp(" 1762074000 ")),
    Case("signature v1 scheme", 401, _signature("v1=" + "a" * 64)),
    Case("signature truncated", 401, _signature("v0=" + "a" * 63)),
    Case("signature upper-case hex", 401, _signature("v0=" + "A" * 64)),
    Case("signature not hex", 401, _signature("v0=" + "z" * 64)),
    Case("replayed request", 401, _replayed),
    Case("empty body, unsigned", 401, lambda env: env.post(b"", signed=False)),
    # -- authentic but malformed: 400 -------------------------------------------------------
    Case("body not UTF-8", 400, _body(b"payload=\xff\xfe\xfd")),
    Case("body is latin-1 text", 400, _body("command=/deskbot&text=caf\xe9".encode("latin-1"))),
    Case("payload not JSON", 400, _body(b"payload=%7Bnot+json")),
    Case("payload a JSON list", 400, _payload([{"type": "block_actions"}])),
    Case("payload a JSON string", 400, _payload("block_actions")),
    Case("payload JSON null", 400, _payload(None)),
    Case("payload nested 10,000 deep", 400, _body(_deep(10_000))),
    Case("payload nested 40 deep", 400, _body(_deep(40))),
    Case("payload with a 200 kB string", 400, _huge_json_string),
    Case("content type text/plain", 400, _body(b"command=/deskbot&user_id=U1", "text/plain")),
    Case("content type multipart", 400, _body(b"--x--", "multipart/form-data; boundary=x")),
    Case("no content type", 400, _body(b"command=/deskbot&user_id=UADMIN01", None)),
    Case("JSON body that is a list", 400, _body(b"[1, 2, 3]", "application/json")),
    Case("JSON body not JSON", 400, _body(b"{nope", "application/json")),
    Case("form field repeated", 400, _body(b"payload=%7B%7D&payload=%7B%7D")),
    Case("200 form fields", 400, _many_fields),
    Case("form without key=value", 400, _body(b"garbage")),
    Case("command text of 100 kB", 400, _huge_field),
    Case("command without user_id", 400, _body(b"command=%2Fdeskbot&text=help")),
    Case("command with a forged user_id", 400, _body(b"command=%2Fdeskbot&user_id=%3Cscript%3E")),
    Case("interaction without type", 400, _payload({"user": {"id": LEAD}, "actions": []})),
    Case("interaction without user", 400, _payload({"type": "block_actions", "actions": []})),
    Case(
        "actions not a list",
        400,
        _payload({"type": "block_actions", "user": {"id": LEAD}, "actions": "claim"}),
    ),
    Case(
        "view not an object",
        400,
        _payload({"type": "view_submission", "user": {"id": LEAD}, "view": ["x"]}),
    ),
    Case("Content-Length not a number", 400, _header_length("12abc")),
    Case("body shorter than Content-Length", 400, _raw_short_body),
    # -- authentic, well-formed, incoherent: 400 --------------------------------------------
    Case(
        "another slash command",
        400,
        lambda env: env.post(env.command("help", ADMIN, command="/other")),
    ),
    Case("unknown action id", 400, _click("followup_delete_everything")),
    Case("action id that only starts like ours", 400, _click("followup_clai")),
    Case("block_actions without actions", 400, _edited_payload(lambda p: p.update(actions=[]))),
    Case(
        "a shortcut", 400, _payload({"type": "shortcut", "user": {"id": LEAD}, "callback_id": "x"})
    ),
    Case(
        "an Events API callback",
        400,
        _body(b'{"type": "event_callback", "event": {}}', "application/json"),
    ),
    Case("button edited to another rating id", 400, _click(value=f"{OTHER_RATING}:1")),
    Case("button edited to an unknown rating", 400, _click(value="999999:1")),
    Case("button value not rating:generation", 400, _click(value="77; DROP TABLE followups")),
    Case("button clicked in another channel", 400, _click(channel="C0ELSEWHERE")),
    Case("button on another message", 400, _click(ts=ALERT_TS[OTHER_RATING])),
    Case(
        "Handled button edited to another rating",
        400,
        _click("followup_handled", f"{OTHER_RATING}:1"),
    ),
    Case(
        "view with an unknown callback id",
        400,
        _submit(LEAD, lambda env: env.bound(LEAD), "admin_panel"),
    ),
    Case(
        "view submitted for someone else's view", 400, _submit(ADMIN, lambda env: env.bound(LEAD))
    ),
    Case("view metadata not bound to anyone", 400, _submit(LEAD, lambda env: f"{RATING}:1")),
    Case("view bound to an empty user", 400, _submit(LEAD, lambda env: f"{RATING}:1|by:")),
    # -- HTTP: wrong door ---------------------------------------------------------------------
    Case("body over 1 MB", 413, lambda env: env.post(b"x" * 1_000_001)),
    Case("GET on the endpoint", 404, lambda env: env.post(b"", method="GET")),
    Case("POST elsewhere", 404, lambda env: env.post(_cmd(env), path="/admin")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request_is_refused_and_changes_nothing(
    env: Env, case: Case, capfd: pytest.CaptureFixture[str]
) -> None:
    before = env.snapshot()
    capfd.readouterr()
    reply = case.send(env)
    assert reply.status == case.status, reply.text
    after = env.snapshot()
    assert after == before
    assert env.row(RATING).state == "open" and env.row(RATING).claimed_by is None
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out
    rejected = [e for e in events(captured.err) if e.get("event") == "slack.request.rejected"]
    assert len(rejected) == 1, captured.err
    assert SECRET not in captured.err


def test_the_suite_is_as_large_as_the_docs_say() -> None:
    # docs/SECURITY.md quotes this count; keep them in step
    assert len(CASES) == 65


def test_a_genuine_click_passes_every_door(env: Env) -> None:
    """The control: the same request shapes, untampered, do reach the service."""
    reply = env.post(env.click("followup_claim", f"{RATING}:1", LEAD))
    assert reply.status == 200
    env.settle()
    row = env.row(RATING)
    assert row.state == "claimed" and row.claimed_by == LEAD


def test_a_slack_retry_is_acknowledged_and_never_processed(env: Env) -> None:
    before = env.snapshot()
    reply = env.post(
        env.click("followup_claim", f"{RATING}:1", LEAD), headers={"X-Slack-Retry-Num": "1"}
    )
    assert reply.status == 200
    assert env.snapshot() == before


def test_the_alert_channel_constant_is_the_one_alerts_use(env: Env) -> None:
    assert env.row(RATING).slack_channel == ALERTS


def test_brackets_inside_strings_are_not_nesting(env: Env) -> None:
    """A customer comment full of brackets, carried in the clicked message, is no attack."""
    body = env.click("followup_claim", f"{RATING}:1", LEAD)
    payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
    payload["message"] = {"text": "[[[[{{{{" * 20 + ' \\" ]]', "blocks": []}
    assert env.post(form_payload(payload)).status == 200
    env.settle()
    assert env.row(RATING).claimed_by == LEAD


def _abandon(env: Env, data: bytes) -> None:
    host, port = env.handle.server.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=5) as sock:
        sock.sendall(data)  # and close without reading: the client is gone


CONNECTION_GARBAGE = {
    "client gone mid-body": b"POST /slack/events HTTP/1.1\r\nContent-Length: 5000\r\n\r\nabc",
    "client gone after headers": b"POST /slack/events HTTP/1.1\r\nContent-Length: 10\r\n\r\n",
    "not HTTP at all": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",
    "request line too long": b"POST /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    "header too long": b"POST /slack/events HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    "200 headers": b"POST /slack/events HTTP/1.1\r\n"
    + b"".join(b"X-H%d: 1\r\n" % i for i in range(200))
    + b"\r\n",
}


@pytest.mark.parametrize("data", list(CONNECTION_GARBAGE.values()), ids=list(CONNECTION_GARBAGE))
def test_connection_garbage_never_prints_a_traceback_and_the_server_keeps_serving(
    env: Env, data: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    before = env.snapshot()
    capfd.readouterr()
    _abandon(env, data)
    # the next genuine request is still served (the thread that saw the garbage is done)
    assert env.post(env.command("help", LEAD)).status == 200
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out
    after = env.snapshot()
    assert after["followups"] == before["followups"] and after["ledger"] == before["ledger"]


def test_a_click_on_an_older_alert_of_the_rating_is_told_it_is_out_of_date(env: Env) -> None:
    before = env.snapshot()
    reply = env.post(env.click("followup_claim", f"{RATING}:0", LEAD, ts="1762000000.000001"))
    assert reply.status == 200
    assert any("out of date" in r for r in env.replies(LEAD))
    after = env.snapshot()
    assert after["followups"] == before["followups"] and after["ledger"] == before["ledger"]
