"""The door every Slack request passes first: signature, freshness, replays and retries.

``SlackGate`` is a bolt middleware installed where bolt's own ``RequestVerification`` would sit
(before authorization, so a forged request causes no Web API call at all). It verifies with
``authz_guard.RequestVerifier`` (slack_sdk's public ``SignatureVerifier`` with an injected
clock, so tests and the demo's accelerated clock agree with the 5-minute freshness window) —
the same check the HTTP server already made on the raw bytes before bolt parsed anything; here
it also covers requests dispatched to the app directly — and adds what bolt leaves to the app:

* a replayed request (same timestamp and signature seen before) is rejected with 401;
* a Slack retry (``X-Slack-Retry-Num``) and any second delivery of the same request
  (idempotency key: the trigger id, event id, or a hash of the payload) are acknowledged with an
  empty 200 and cause nothing, so Slack stops retrying. Retries are never processed, even when
  this process has not seen the first attempt: it may have been handled before a restart, and
  deskbot prefers at most once for actions people trigger (they can click again).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from deskbot.adapters.slack.authz_guard import Rejected, RequestVerifier
from deskbot.log import get_logger
from deskbot.ports import Clock

log = get_logger(__name__)

# Slack retries an unacknowledged request up to three times within about an hour; a stale
# signature (older than 5 minutes) is rejected anyway, so this is also ample for replays.
DEDUPE_TTL_SECONDS = 3600.0
DEDUPE_MAX_KEYS = 50_000


class RecentKeys:
    """Keys seen recently (bounded by age on the injected clock and by count). Thread-safe."""

    def __init__(
        self, clock: Clock, ttl_seconds: float = DEDUPE_TTL_SECONDS, max_keys: int = DEDUPE_MAX_KEYS
    ) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._max = max_keys
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        """Remember ``key``; False when it was already there (a duplicate)."""
        now = self._clock.monotonic()
        with self._lock:
            while self._keys:
                oldest, expires = next(iter(self._keys.items()))
                if expires > now and len(self._keys) < self._max:
                    break
                del self._keys[oldest]
            if key in self._keys:
                return False
            self._keys[key] = now + self._ttl
            return True

    def __contains__(self, key: str) -> bool:
        with self._lock:
            expires = self._keys.get(key)
            return expires is not None and expires > self._clock.monotonic()

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)


class SeenKeys(Protocol):
    """Where the gate remembers keys: ``RecentKeys`` (this process) or, shared by every
    replica, ``deskbot.adapters.db.replay_store.SharedKeys``."""

    def add(self, key: str) -> bool:
        """Remember ``key``; False when it was already there (a duplicate)."""
        ...


class ReplayStore(Protocol):
    """Makes the gate's two key memories (see ``SqlReplayStore``)."""

    def keys(self, namespace: str, ttl_seconds: float) -> SeenKeys: ...


def idempotency_key(body: dict[str, Any]) -> str:
    """What identifies one logical request across retries and duplicate deliveries."""
    kind = str(body.get("type") or ("slash_command" if "command" in body else "unknown"))
    trigger = body.get("trigger_id")
    if kind == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    if kind == "block_actions" and trigger:
        first = (body.get("actions") or [{}])[0]
        return f"block_actions:{trigger}:{first.get('action_id')}:{first.get('action_ts')}"
    if trigger:
        return f"{kind}:{trigger}"
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return f"{kind}:sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"


class SlackGate(Middleware):
    """Verify HTTP requests, reject replays, and swallow retries and duplicates.

    Socket Mode requests arrive over the app-token-authenticated WebSocket and carry no
    signature. Without a signing secret (a Socket Mode app), an HTTP request is always refused:
    the gate fails closed if such an app is ever served over HTTP.
    """

    def __init__(
        self, signing_secret: str | None, clock: Clock, replay_store: ReplayStore | None = None
    ) -> None:
        self._verifier = RequestVerifier(signing_secret, clock)
        # With a replay store (the database), every replica shares the keys (issue 13).
        self._signatures: SeenKeys = (
            replay_store.keys("signature", 600.0)
            if replay_store is not None
            else RecentKeys(clock, ttl_seconds=600.0)
        )
        self._requests: SeenKeys = (
            replay_store.keys("request", DEDUPE_TTL_SECONDS)
            if replay_store is not None
            else RecentKeys(clock)
        )

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],  # bolt's middleware signature
    ) -> BoltResponse:
        retry = req.headers.get("x-slack-retry-num", [None])[0]
        if req.mode != "socket_mode":
            timestamp = req.headers.get("x-slack-request-timestamp", [None])[0]
            signature = req.headers.get("x-slack-signature", [None])[0]
            try:
                self._verifier.authenticate(req.raw_body.encode(), timestamp, signature)
            except Rejected as exc:
                return _refused(exc.status)
            if retry is None and not self._signatures.add(f"{timestamp}:{signature}"):
                log.warning("slack.request.rejected", reason="replayed request")
                return _refused(401)
        key = idempotency_key(req.body)
        first_time = self._requests.add(key)
        if retry is not None or not first_time:
            # At most once: a retry may follow an attempt that did its work before a restart
            # (this memory is per process), so retries are acknowledged and never processed.
            log.info("slack.request.duplicate", kind=key.split(":", 1)[0], retry=retry)
            return BoltResponse(status=200, body="")
        return next()


def _refused(status: int) -> BoltResponse:
    return BoltResponse(status=status, body="rejected")
