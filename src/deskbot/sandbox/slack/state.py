"""What the sandbox remembers: messages, files, views, trigger ids, response URLs, every call.

All of it is guarded by one lock: the HTTP server answers on several threads, and the test (or
the demo) reads the records from another.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskbot.ports import Clock, SystemClock
from deskbot.sandbox.slack.workspace import Workspace

TRIGGER_TTL_SECONDS = 3.0
RESPONSE_URL_TTL_SECONDS = 30 * 60.0
RESPONSE_URL_MAX_USES = 5


@dataclass(frozen=True)
class ApiCall:
    """One Web API call as the sandbox received it (accepted or not)."""

    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    status: int
    at: float


@dataclass(frozen=True)
class Rejection:
    """A call the sandbox refused, with Slack's error code and detail messages."""

    method: str
    args: dict[str, Any]
    error: str
    status: int
    messages: tuple[str, ...]
    at: float


@dataclass
class ResponseUrl:
    channel: str
    user: str
    message_ts: str | None
    is_ephemeral: bool
    issued_at: float
    uses: int = 0


@dataclass
class Trigger:
    user: str
    issued_at: float
    exchanged: bool = False


class ChannelRateLimiter:
    """Token bucket per key (Slack's ~1 message/s/channel): ``per_second``, ``burst``."""

    def __init__(self, per_second: float = 1.0, burst: int = 1) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("the rate limit needs per_second > 0 and burst >= 1")
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key: str, now: float) -> float:
        """0.0 when a message may go now (and spend a token), else the seconds until one may."""
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.per_second)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.per_second


# Calls per minute Slack allows the methods the people directory uses (Tier 2: ~20, Tier 3: ~50).
METHOD_LIMITS = {"users.list": 20, "usergroups.users.list": 20, "users.lookupByEmail": 50}
# The OAuth scope each method needs (answered ``missing_scope`` when it is taken away).
METHOD_SCOPES = {
    "users.list": "users:read",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
}


class MethodRateLimiter:
    """Slack's per-method tiers: at most ``limits[method]`` calls in any 60-second window."""

    def __init__(self, limits: dict[str, int] | None = None) -> None:
        self.limits = dict(METHOD_LIMITS if limits is None else limits)
        self._calls: dict[str, list[float]] = {}

    def acquire(self, method: str, now: float) -> float:
        """0.0 when the call may go now (and counts it), else the seconds to wait."""
        limit = self.limits.get(method)
        if limit is None:
            return 0.0
        recent = [t for t in self._calls.get(method, []) if now - t < 60.0]
        self._calls[method] = recent
        if len(recent) < limit:
            recent.append(now)
            return 0.0
        return max(0.001, 60.0 - (now - recent[0]))


@dataclass
class SandboxState:
    """Everything the sandbox knows; mutate only while holding ``lock``."""

    workspace: Workspace
    clock: Clock = field(default_factory=SystemClock)
    lock: threading.RLock = field(default_factory=threading.RLock)
    calls: list[ApiCall] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)
    base_url: str = ""  # "http://127.0.0.1:PORT" once the server listens
    files_dir: Path | None = None
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    method_limiter: MethodRateLimiter = field(default_factory=MethodRateLimiter)
    missing_scopes: set[str] = field(default_factory=set)  # scopes the app was not granted
    _seq: int = 0
    _last_ts: float = 0.0

    def now(self) -> float:
        """Slack's wall-clock time (Unix seconds) on the sandbox clock."""
        return self.clock.now().timestamp()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def new_ts(self) -> str:
        """A message timestamp: the clock's time, made unique and increasing like Slack's."""
        micros = round(self.now() * 1_000_000)
        last = round(self._last_ts * 1_000_000)
        micros = max(micros, last + 1)
        self._last_ts = micros / 1_000_000
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_trigger(self, user: str) -> str:
        rng = self.workspace.rng
        trigger_id = (
            f"{rng.randrange(10**11, 10**12)}.{rng.randrange(10**10, 10**11)}."
            f"{rng.getrandbits(128):032x}"
        )
        self.triggers[trigger_id] = Trigger(user=user, issued_at=self.now())
        return trigger_id

    def new_response_url(
        self, channel: str, user: str, message_ts: str | None, is_ephemeral: bool
    ) -> str:
        token = f"{self.workspace.new_id('', 9)}/{self.workspace.rng.getrandbits(96):024x}"
        self.response_urls[token] = ResponseUrl(
            channel=channel,
            user=user,
            message_ts=message_ts,
            is_ephemeral=is_ephemeral,
            issued_at=self.now(),
        )
        return f"{self.base_url}/_responses/{token}"

    # ------------------------------------------------------------------ records

    def record_call(
        self, method: str, args: dict[str, Any], status: int, error: str | None, messages: list[str]
    ) -> None:
        at = self.now()
        self.calls.append(ApiCall(method, args, error is None, error, status, at))
        if error is not None:
            self.rejections.append(Rejection(method, args, error, status, tuple(messages), at))

    def add_message(self, message: dict[str, Any]) -> dict[str, Any]:
        message["seq"] = self.next_seq()
        message.setdefault("channel_name", self.workspace.channel_label(message["channel"]))
        self.messages.append(message)
        self._notify({"event": "message", **message})
        return message

    def add_action(self, channel: str, user: str, text: str) -> None:
        entry = {
            "seq": self.next_seq(),
            "kind": "action",
            "channel": channel,
            "channel_name": self.workspace.channel_label(channel),
            "user": user,
            "text": text,
            "ts": self.new_ts(),
        }
        self.actions.append(entry)
        self._notify({"event": "action", **entry})

    def update_message(
        self, message: dict[str, Any], *, text: str | None, blocks: list[Any] | None, by: str
    ) -> None:
        message.setdefault("history", []).append(
            {"text": message.get("text", ""), "blocks": copy.deepcopy(message.get("blocks", []))}
        )
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": by, "ts": self.new_ts()}
        self._notify({"event": "update", **message})

    def find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = None
        for message in reversed(self.messages):
            if message["channel"] == channel and message["ts"] == ts:
                found = message
                break
        return found

    def _notify(self, event: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event)
