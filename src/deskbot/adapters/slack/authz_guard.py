"""The HTTP endpoint's first door: verify the raw bytes, then check the request's shape.

Nothing parses a request before its signature and timestamp are verified on the exact bytes
received (``slack_sdk.signature.SignatureVerifier``, a public API, with deskbot's injectable
clock). Only then is the body decoded and its shape checked; only a request that passes every
check reaches bolt. Every refusal is a 4xx with a short plain-text body and exactly one
structured ``slack.request.rejected`` log line (status, reason; never the body or a header
value). No refusal raises: a hostile request cannot produce a 500 or a traceback.

========  ==================================================================================
status    when
========  ==================================================================================
401       missing / malformed / wrong signature; missing, non-integer or stale timestamp;
          no signing secret configured (fail closed)
413       ``Content-Length`` above ``MAX_BODY_BYTES`` (refused unread)
400       anything else malformed: bad ``Content-Length``, body shorter than announced, not
          UTF-8, wrong content type, repeated or too many form fields, a field over
          ``MAX_FIELD_BYTES``, ``payload`` that is not a JSON object, JSON nested too deep, a
          slash command without ``command``/``user_id``, an interaction without ``type`` or
          ``user.id``
404       any method but POST, any path but the configured one
========  ==================================================================================

What a *verified, well-formed* request may ask for (known action ids, the right view, the
right rating) is checked next, in the bolt middleware ``deskbot.adapters.slack.authz_checks``;
who may do it is checked by the services (``deskbot.domain.authz``).
"""

from __future__ import annotations

import io
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier

from deskbot.log import get_logger
from deskbot.ports import Clock, SystemClock

log = get_logger(__name__)

# Slack's requests are a few kilobytes; refuse anything absurd before reading it.
MAX_BODY_BYTES = 1_000_000
# One form field (a slash command's text is at most a few thousand characters).
MAX_FIELD_BYTES = 16_384
MAX_FORM_FIELDS = 64
MAX_JSON_DEPTH = 32
FRESHNESS_SECONDS = 300

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")
_SLACK_ID = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,40}$")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Rejected(Exception):
    """A request refused: ``status`` for the HTTP answer, ``reason`` for the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_STATUS_TEXT = {
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    413: "413 Payload Too Large",
}


class EpochClock(SignatureClock):
    """slack_sdk's clock interface (epoch seconds) over deskbot's injectable clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


def reject(status: int, reason: str, **context: Any) -> Rejected:
    """Log the one ``slack.request.rejected`` line and return the exception to raise."""
    log.warning("slack.request.rejected", status=status, reason=reason, **context)
    return Rejected(status, reason)


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose bytes are authentic and whose shape is sound."""

    raw: bytes
    content_type: str
    body: Mapping[str, Any]  # the form fields (``payload`` decoded) or the JSON object


class RequestVerifier:
    """Signature, timestamp and shape checks on raw bytes; raises ``Rejected`` (already logged).

    Usable on its own (``check(headers, raw)``) by any HTTP front end, or as the WSGI
    middleware ``wsgi(inner, path)``.
    """

    def __init__(
        self,
        signing_secret: str | None,
        clock: Clock | None = None,
        *,
        max_body: int = MAX_BODY_BYTES,
        max_field: int = MAX_FIELD_BYTES,
    ) -> None:
        self._has_secret = bool(signing_secret)
        self._verifier = SignatureVerifier(
            signing_secret or "-", clock=EpochClock(clock or SystemClock())
        )
        self.max_body = max_body
        self.max_field = max_field

    # -- authenticity ----------------------------------------------------------------------

    def authenticate(self, raw: bytes, timestamp: str | None, signature: str | None) -> None:
        """Raise ``Rejected(401)`` unless ``raw`` carries a valid, fresh Slack signature."""
        if not self._has_secret:
            raise reject(401, "HTTP request but no signing secret configured")
        if timestamp is None or signature is None:
            raise reject(401, "missing signature or timestamp header")
        if not _TIMESTAMP.match(timestamp):
            raise reject(401, "timestamp header is not an integer")
        if not _SIGNATURE.match(signature):
            raise reject(401, "malformed signature header")
        try:
            valid = self._verifier.is_valid(raw, timestamp, signature)
        except UnicodeDecodeError:
            # slack_sdk signs the decoded text; a body that is not UTF-8 was not signed by Slack
            raise reject(400, "body is not UTF-8") from None
        if not valid:
            raise reject(401, "bad signature or stale timestamp")

    # -- shape -----------------------------------------------------------------------------

    def parse(self, raw: bytes, content_type: str | None) -> VerifiedRequest:
        """The decoded body of an authenticated request, or ``Rejected(400)``."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise reject(400, "body is not UTF-8") from None
        mime = (content_type or "").split(";", 1)[0].strip().lower()
        if mime == FORM:
            return VerifiedRequest(raw, mime, self._form(text))
        if mime == JSON:
            value = self._json(text, "body")
            return VerifiedRequest(raw, mime, value)
        raise reject(400, "unsupported content type", content_type=mime[:60])

    def _form(self, text: str) -> dict[str, Any]:
        try:
            pairs = urllib.parse.parse_qsl(
                text,
                keep_blank_values=True,
                strict_parsing=bool(text),
                errors="strict",
                max_num_fields=MAX_FORM_FIELDS,
            )
        except (ValueError, UnicodeDecodeError):
            raise reject(400, "malformed form body") from None
        fields: dict[str, Any] = {}
        for key, value in pairs:
            if key in fields:
                raise reject(400, "form field repeated", field=key[:40])
            if key != "payload" and len(value.encode()) > self.max_field:
                raise reject(400, "form field too large", field=key[:40])
            fields[key] = value
        if "payload" in fields:
            payload = self._json(fields["payload"], "payload")
            _check_interaction(payload)
            fields["payload"] = payload
        elif "command" in fields or "user_id" in fields:
            _check_command(fields)
        elif "ssl_check" not in fields:
            raise reject(400, "form body is neither a command nor an interaction")
        return fields

    def _json(self, text: str, what: str) -> dict[str, Any]:
        if _nesting(text) > MAX_JSON_DEPTH:
            raise reject(400, f"{what} is nested too deeply")
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise reject(400, f"{what} is not JSON") from None
        if not isinstance(value, dict):
            raise reject(400, f"{what} is not a JSON object", got=type(value).__name__)
        too_long = _longest_string(value)
        if too_long > self.max_field * 4:
            raise reject(400, f"{what} has a field too large")
        return value

    # -- both ------------------------------------------------------------------------------

    def check(self, headers: Mapping[str, str], raw: bytes) -> VerifiedRequest:
        """Authenticate and parse; ``headers`` keys are matched case-insensitively."""
        lower = {k.lower(): v for k, v in headers.items()}
        self.authenticate(
            raw, lower.get("x-slack-request-timestamp"), lower.get("x-slack-signature")
        )
        return self.parse(raw, lower.get("content-type"))

    def wsgi(self, inner: WsgiApp, path: str) -> WsgiApp:
        """A WSGI app: POST ``path`` is checked, then handed to ``inner`` with the same bytes;
        anything else is 404. ``inner`` is never given a request that failed a check."""

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != path:
                reject(
                    404, "not the Slack endpoint", method=str(environ.get("REQUEST_METHOD"))[:10]
                )
                return _answer(start_response, 404, "not found")
            try:
                raw = self._read(environ)
                headers = {
                    "content-type": environ.get("CONTENT_TYPE") or "",
                    **{
                        name: str(environ[key])
                        for name, key in (
                            ("x-slack-request-timestamp", "HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                            ("x-slack-signature", "HTTP_X_SLACK_SIGNATURE"),
                        )
                        if key in environ
                    },
                }
                self.check(headers, raw)
            except Rejected as exc:
                return _answer(start_response, exc.status, "rejected: " + exc.reason)
            forwarded = dict(environ)
            forwarded["wsgi.input"] = io.BytesIO(raw)
            forwarded["CONTENT_LENGTH"] = str(len(raw))
            try:
                return inner(forwarded, start_response)
            except Exception as exc:  # a bug behind the door: logged, structured, no traceback
                log.error("slack.request.failed", error=type(exc).__name__)
                return _answer(start_response, 500, "internal error")

        return application

    def _read(self, environ: Mapping[str, Any]) -> bytes:
        announced = str(environ.get("CONTENT_LENGTH") or "").strip()
        if not announced:
            raise reject(400, "no Content-Length")
        if not announced.isdigit():
            raise reject(400, "Content-Length is not a number")
        length = int(announced)
        if length > self.max_body:
            raise reject(413, "body too large", length=length)
        stream = environ["wsgi.input"]
        chunks: list[bytes] = []
        remaining = length
        while remaining > 0:
            chunk = stream.read(min(remaining, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining:
            raise reject(400, "body shorter than Content-Length")
        return b"".join(chunks)


def _answer(start_response: Callable[..., Any], status: int, text: str) -> list[bytes]:
    data = text.encode()
    start_response(
        _STATUS_TEXT.get(status, "500 Internal Server Error"),
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _nesting(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """The JSON nesting depth of ``text`` (brackets inside strings do not count), counted up
    to just past ``limit``."""
    if text.count("[") + text.count("{") <= limit:
        return 0 if "[" not in text and "{" not in text else 1
    depth = deepest = 0
    for token in _JSON_TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif char in "]}":
            depth -= 1
    return deepest


def _longest_string(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((max(len(str(k)), _longest_string(v)) for k, v in value.items()), default=0)
    if isinstance(value, list):
        return max((_longest_string(v) for v in value), default=0)
    return 0


def _slack_id(value: Any) -> bool:
    return isinstance(value, str) and _SLACK_ID.match(value) is not None


def _check_command(fields: Mapping[str, Any]) -> None:
    if not isinstance(fields.get("command"), str) or not fields["command"].startswith("/"):
        raise reject(400, "slash command without a command")
    if not _slack_id(fields.get("user_id")):
        raise reject(400, "slash command without a valid user_id")


def _check_interaction(payload: Mapping[str, Any]) -> None:
    if not isinstance(payload.get("type"), str):
        raise reject(400, "interaction without a type")
    user = payload.get("user")
    if not isinstance(user, dict) or not _slack_id(user.get("id")):
        raise reject(400, "interaction without a valid user.id")
    actions = payload.get("actions")
    if actions is not None and (
        not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions)
    ):
        raise reject(400, "actions is not a list of objects")
    for key in ("view", "container", "channel"):
        if key in payload and payload[key] is not None and not isinstance(payload[key], dict):
            raise reject(400, f"{key} is not an object")
