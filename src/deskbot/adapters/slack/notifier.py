"""Posting to Slack through slack_sdk's ``WebClient`` (implements ``deskbot.ports.Notifier``).

- Retries: slack_sdk's own handlers — ``RateLimitErrorRetryHandler`` honours ``Retry-After`` on
  429, ``ConnectionErrorRetryHandler`` retries dropped connections — with bounded counts,
  subclassed only to wait on the injected clock instead of ``time.sleep``.
- Pacing: at most ``messages_per_second`` posts per channel (Slack allows ~1/s/channel),
  waiting on the injected clock so tests never sleep and shutdown is not blocked.
- Markers: every post can carry message metadata (``event_type: deskbot_post``, payload
  ``{"key": marker}``); ``find_marked`` reads the channel history back so an interrupted job can
  see what it already posted.
- ``base_url`` points the client at a local Slack (the sandbox) instead of slack.com.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from deskbot.errors import SlackError
from deskbot.log import get_logger
from deskbot.ports import Clock, OutgoingMessage, PostedMessage, SystemClock

log = get_logger(__name__)

MARKER_EVENT = "deskbot_post"


# Errors meaning "this workspace or token cannot read history", not "try again later".
HISTORY_UNREADABLE = {"unknown_method", "missing_scope", "not_allowed_token_type"}


def history_unreadable(exc: BaseException) -> bool:
    """True when reading history is impossible here. A post whose outcome a crash left unknown
    is then sent again: a rare duplicate is better than an alert that is never posted."""
    cause = exc.__cause__
    if isinstance(cause, SlackApiError) and cause.response is not None:
        return str(cause.response.get("error", "")) in HISTORY_UNREADABLE
    return False


class ClockRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, waiting ``Retry-After`` on the injected clock (so shutdown can
    interrupt the wait and tests never sleep) and never longer than ``max_wait`` seconds."""

    def __init__(self, clock: Clock, max_retry_count: int = 3, max_wait: float = 120.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._clock = clock
        self._max_wait = max_wait

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or SlackError("Slack rate limited the request without a response")
        state.next_attempt_requested = True
        wait = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after":
                value = values[0] if isinstance(values, list) else values
                try:
                    wait = float(value)
                except ValueError:
                    wait = 1.0
        log.info("slack.rate_limited", retry_after=wait)
        self._clock.sleep(min(max(wait, 0.0), self._max_wait))
        state.increment_current_attempt()


class _ClockBackoff(RetryHandler):
    """slack_sdk's exponential backoff, waiting on the injected clock (shutdown can interrupt
    the wait, tests never sleep). Mixed into the built-in handlers below."""

    _clock: Clock

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self._clock.sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()


class ClockConnectionErrorRetryHandler(_ClockBackoff, ConnectionErrorRetryHandler):
    """slack_sdk's connection-error handler (exponential backoff), waiting on the clock."""

    def __init__(self, clock: Clock, max_retry_count: int = 2) -> None:
        ConnectionErrorRetryHandler.__init__(self, max_retry_count=max_retry_count)
        self._clock = clock


class ClockServerErrorRetryHandler(_ClockBackoff, ServerErrorRetryHandler):
    """slack_sdk's 500/503 handler (exponential backoff), waiting on the clock."""

    def __init__(self, clock: Clock, max_retry_count: int = 3) -> None:
        ServerErrorRetryHandler.__init__(self, max_retry_count=max_retry_count)
        self._clock = clock


def make_client(
    token: str,
    base_url: str | None = None,
    *,
    clock: Clock | None = None,
    rate_limit_retries: int = 3,
    connection_retries: int = 2,
    timeout: int = 30,
) -> WebClient:
    """A ``WebClient`` with deskbot's retry policy (slack_sdk's handlers, waiting on ``clock``)."""
    clock = clock or SystemClock()
    kwargs: dict[str, Any] = {}
    if base_url:
        kwargs["base_url"] = base_url
    return WebClient(
        token=token,
        timeout=timeout,
        retry_handlers=[
            ClockConnectionErrorRetryHandler(clock, max_retry_count=connection_retries),
            ClockRateLimitRetryHandler(clock, max_retry_count=rate_limit_retries),
        ],
        **kwargs,
    )


class SlackNotifier:
    """``Notifier`` over a ``WebClient``."""

    def __init__(
        self, client: WebClient, *, clock: Clock | None = None, messages_per_second: float = 1.0
    ) -> None:
        self._client = client
        self._clock = clock or SystemClock()
        self._interval = 1.0 / messages_per_second
        self._last_post: dict[str, float] = {}
        self._channel_ids: dict[str, str] = {}

    # -- helpers ----------------------------------------------------------------------------

    def _pace(self, channel: str) -> None:
        last = self._last_post.get(channel)
        if last is not None:
            wait = self._interval - (self._clock.monotonic() - last)
            if wait > 0:
                self._clock.sleep(wait)
        self._last_post[channel] = self._clock.monotonic()

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error") if exc.response else "no_response"
            hint = {
                "channel_not_found": "check the channel name and that it exists",
                "not_in_channel": "invite the bot to the channel (/invite @deskbot)",
                "invalid_auth": "check DESKBOT_SLACK_BOT_TOKEN",
                "ratelimited": "Slack kept rate limiting after retries; the job will retry",
            }.get(error, "see https://api.slack.com/methods for the error")
            raise SlackError(f"Slack {what} failed: {error}; {hint}") from exc

    def channel_id(self, channel: str) -> str:
        """The id of ``channel`` ('#name', a channel id, or a user id for the app's DM with
        that person); names and DMs are looked up once and cached."""
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        if channel[:1] in ("U", "W") and channel[1:].isalnum():
            # A DM: history and uploads need its D… id, which conversations.open returns.
            opened = self._call(
                "conversations.open", self._client.conversations_open, users=channel
            )
            self._channel_ids[channel] = str(opened["channel"]["id"])
            return self._channel_ids[channel]
        if not channel.startswith("#"):
            return channel
        cursor: str | None = None
        while True:
            page = self._call(
                "conversations.list",
                self._client.conversations_list,
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=200,
                cursor=cursor,
            )
            for conv in page.get("channels", []):
                self._channel_ids["#" + conv["name"]] = conv["id"]
            if channel in self._channel_ids:
                return self._channel_ids[channel]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                raise SlackError(
                    f"Slack channel {channel} not found; create it or invite the bot to it, "
                    "or configure the channel by id (C0123ABCD)"
                )

    # -- the port -----------------------------------------------------------------------------

    def post_message(
        self,
        channel: str,
        message: OutgoingMessage,
        *,
        marker: str | None = None,
        thread_ts: str | None = None,
    ) -> PostedMessage:
        self._pace(channel)
        kwargs: dict[str, Any] = {"channel": channel, "text": message.text}
        if message.blocks is not None:
            kwargs["blocks"] = message.blocks
        if marker is not None:
            kwargs["metadata"] = {"event_type": MARKER_EVENT, "event_payload": {"key": marker}}
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
        response = self._call("chat.postMessage", self._client.chat_postMessage, **kwargs)
        posted = PostedMessage(channel=str(response["channel"]), ts=str(response["ts"]))
        self._channel_ids.setdefault(channel, posted.channel)
        log.info("slack.posted", channel=posted.channel, ts=posted.ts, marker=marker)
        return posted

    def upload_file(
        self,
        channel: str,
        content: bytes,
        filename: str,
        title: str,
        *,
        thread_ts: str | None = None,
        comment: str | None = None,
    ) -> str:
        channel_id = self.channel_id(channel)
        self._pace(channel)
        response = self._call(
            "files.upload",
            self._client.files_upload_v2,
            channel=channel_id,
            content=content,
            filename=filename,
            title=title,
            thread_ts=thread_ts,
            initial_comment=comment,
        )
        file = response.get("file") or (response.get("files") or [{}])[0]
        file_id = str(file.get("id", ""))
        log.info("slack.uploaded", channel=channel_id, file=file_id, bytes=len(content))
        return file_id

    def find_marked(self, channel: str, prefix: str, since: datetime) -> dict[str, PostedMessage]:
        channel_id = self.channel_id(channel)
        found: dict[str, PostedMessage] = {}
        cursor: str | None = None
        while True:
            try:
                page = self._call(
                    "conversations.history",
                    self._client.conversations_history,
                    channel=channel_id,
                    oldest=f"{since.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except SlackError as exc:
                if not history_unreadable(exc):
                    raise
                log.warning("slack.history_unreadable", channel=channel, error=str(exc))
                return found
            for msg in page.get("messages", []):
                meta = msg.get("metadata") or {}
                key = (meta.get("event_payload") or {}).get("key")
                ours = meta.get("event_type") == MARKER_EVENT
                if ours and isinstance(key, str) and key.startswith(prefix):
                    found[key] = PostedMessage(channel_id, str(msg["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor or not page.get("has_more", True):
                return found
