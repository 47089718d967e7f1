"""The one place structlog is configured.

JSON lines by default (for containers and log shippers); readable console output when stderr is
a terminal. A redaction processor removes secrets and e-mail addresses from every event before it
is rendered, whatever the caller passed in.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog

LogFormat = Literal["auto", "json", "console"]

REDACTED = "[redacted]"

# Keys whose values are credentials whatever they look like. Matched on whole words of the key
# (``bot_token``, ``X-Slack-Signature``, ``apiKey``), so ``author`` or ``passenger`` stay.
_SECRET_KEY = re.compile(
    r"(?:^|_)(?:pass(?:word|wd)?|secrets?|tokens?|api_?key|authorization|auth|cookies?"
    r"|credentials?|signature|signing_secret)(?:_|$)",
    re.IGNORECASE,
)
# Values that are credentials wherever they appear: Slack tokens, Basic/Bearer headers, a
# Zendesk API token (40 letters and digits, mixed case), a Slack signing secret (32 hex digits),
# a Slack request signature (v0=<64 hex digits>).
_SECRET_VALUE = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|(?:Basic|Bearer)\s+[A-Za-z0-9+/=._-]{8,}"
    r"|\bv0=[0-9a-f]{64}\b"
    r"|\b(?=[A-Za-z0-9]{0,39}[A-Z])(?=[A-Za-z0-9]{0,39}[a-z])(?=[A-Za-z0-9]{0,39}[0-9])"
    r"[A-Za-z0-9]{40}\b"
    r"|\b[0-9a-f]{32}\b)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Secret values loaded from the environment (``register_secret``): redacted by exact match,
# whatever their shape. Values shorter than this are too likely to occur innocently.
MIN_REGISTERED_SECRET = 6


class _Registered:
    """The registered secret values and one compiled pattern matching any of them."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.pattern: re.Pattern[str] | None = None
        self.lock = threading.Lock()

    def add(self, value: str) -> None:
        with self.lock:
            if value in self.values:
                return
            self.values.add(value)
            alternatives = sorted(self.values, key=len, reverse=True)
            self.pattern = re.compile("|".join(re.escape(v) for v in alternatives))

    def clear(self) -> None:
        with self.lock:
            self.values.clear()
            self.pattern = None


_registered = _Registered()


def register_secret(value: str | None) -> None:
    """Redact ``value`` wherever it appears in a log event from now on (exact match).

    ``deskbot.settings`` registers every secret it loads; call it for any other credential a
    process holds. Short values (under ``MIN_REGISTERED_SECRET`` characters) are ignored.
    """
    if value and len(value) >= MIN_REGISTERED_SECRET:
        _registered.add(value)


def forget_secrets() -> None:
    """Forget every registered secret (tests)."""
    _registered.clear()


def is_secret_key(key: str) -> bool:
    """Whether a field named ``key`` holds a credential (its value is always redacted)."""
    words = _CAMEL.sub("_", key).replace("-", "_")
    return _SECRET_KEY.search(words) is not None


def redact_text(text: str) -> str:
    """Remove credentials and e-mail addresses from free text."""
    pattern = _registered.pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _SECRET_VALUE.sub(REDACTED, text)
    return _EMAIL.sub("[email]", text)


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED if isinstance(k, str) and is_secret_key(k) and v else _redact(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(v, depth + 1) for v in value)
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no secrets and no customer e-mails leave the process."""
    # depth -1: the event's own fields are the top level, their values start at depth 0.
    event_dict.update(_redact(dict(event_dict), -1))
    return event_dict


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at write time (test runners and daemons swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", fmt: LogFormat = "auto") -> None:
    """Configure structlog (and route stdlib logging through it). Safe to call more than once."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # Libraries (zenpy, slack_sdk, apscheduler) log through stdlib logging: render them alike.
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                redact_processor,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))


class _LazyLogger:
    """Binds its values at each call, so the configuration in force *then* applies.

    ``structlog.get_logger().bind(...)`` at import time would resolve the logger once and
    freeze whatever configuration (level, renderer) existed before ``configure_logging``.
    """

    __slots__ = ("_initial",)

    def __init__(self, initial: dict[str, Any]) -> None:
        self._initial = initial

    def bind(self, **values: Any) -> _LazyLogger:
        return _LazyLogger({**self._initial, **values})

    def __getattr__(self, name: str) -> Any:
        return getattr(structlog.get_logger().bind(**self._initial), name)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A lazily bound structlog logger; ``name`` becomes the ``logger`` field of each event."""
    if name is not None:
        initial["logger"] = name
    return _LazyLogger(initial) if initial else structlog.get_logger()
