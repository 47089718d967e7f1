"""Playing the user: deliver signed slash commands and interactions the way Slack does.

Slack signs each request with ``X-Slack-Signature: v0=HMAC_SHA256(signing_secret,
"v0:{timestamp}:{raw body}")`` and ``X-Slack-Request-Timestamp``. Slash commands are form fields;
interactions are one form field, ``payload``, holding JSON (the shapes of the recorded fixtures in
``tests/fixtures/slack``). When the app does not answer within 3 seconds, Slack may deliver
again with ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

ACK_TIMEOUT_SECONDS = 3.0


def sign(signing_secret: str, timestamp: str, body: str | bytes) -> str:
    """Slack's request signature for ``body`` sent at ``timestamp``."""
    raw = body.decode() if isinstance(body, bytes) else body
    base = f"v0:{timestamp}:{raw}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """How the app answered a delivered request.

    Unpacks as ``status, body = delivery``. ``status`` is 0 when every attempt timed out.
    ``ack_seconds`` is the wall-clock time of the attempt that was answered (or of the last).
    """

    status: int
    body: str
    ack_seconds: float
    attempts: int
    timed_out: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.status, self.body))

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


def form_body(fields: dict[str, str]) -> str:
    """``application/x-www-form-urlencoded`` the way Slack encodes it (``+`` for spaces)."""
    return urlencode(fields)


def payload_body(payload: dict[str, Any]) -> str:
    """An interaction body: one form field ``payload`` holding the JSON document."""
    return urlencode({"payload": json.dumps(payload)})


def deliver(
    url: str,
    body: str,
    *,
    signing_secret: str,
    now: Callable[[], float],
    retry: bool = False,
    max_retries: int = 1,
    ack_timeout: float = ACK_TIMEOUT_SECONDS,
    session: requests.Session | None = None,
) -> Delivery:
    """POST a signed body; with ``retry``, re-deliver after a timeout like Slack's retries."""
    http = session or requests.Session()
    attempts = 0
    elapsed = 0.0
    try:
        for retry_num in range(0, (max_retries if retry else 0) + 1):
            attempts += 1
            ts = str(int(now()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sign(signing_secret, ts, body),
                "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            }
            if retry_num:
                headers["X-Slack-Retry-Num"] = str(retry_num)
                headers["X-Slack-Retry-Reason"] = "http_timeout"
            started = time.perf_counter()
            try:
                response = http.post(url, data=body.encode(), headers=headers, timeout=ack_timeout)
            except requests.Timeout:
                elapsed = time.perf_counter() - started
                continue
            elapsed = time.perf_counter() - started
            return Delivery(
                status=response.status_code,
                body=response.text,
                ack_seconds=elapsed,
                attempts=attempts,
                headers=dict(response.headers),
            )
        return Delivery(status=0, body="", ack_seconds=elapsed, attempts=attempts, timed_out=True)
    finally:
        if session is None:
            http.close()
