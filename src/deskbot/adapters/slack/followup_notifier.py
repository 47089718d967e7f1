"""Slack for follow-ups, through slack_sdk: post and update alerts, thread replies, the burst
summary, the Handled modal, and finding a message deskbot already posted.

Every message carries its idempotency key twice: in its ``metadata`` (``event_type``
``deskbot_followup``) and in the ``block_id`` of its first block, so that after a crash between
"Slack accepted the post" and "the ledger says done", ``find_message`` sees the post instead of
posting it again. ``base_url`` points the client at the Slack sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from deskbot.adapters.slack import followup_blocks as fb
from deskbot.adapters.slack.notifier import history_unreadable
from deskbot.errors import SlackError
from deskbot.log import get_logger
from deskbot.services.followups import AlertStatus, PermanentStepError, Posted

log = get_logger(__name__)

EVENT_TYPE = "deskbot_followup"
_BLOCK_PREFIX = "dk:"
# Errors no retry can fix: the step is marked failed and someone has to look.
_PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "missing_scope",
    "msg_too_long",
    "invalid_blocks",
    "thread_not_found",
}


def _tag_blocks(blocks: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    out = [dict(b) for b in blocks]
    if out:
        out[0]["block_id"] = (_BLOCK_PREFIX + key)[:255]
    return out


class SlackFollowupNotifier:
    """``deskbot.services.followups.FollowupNotifier`` on a ``slack_sdk.WebClient``."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
            client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
        self._channel_ids: dict[str, str] = {}

    @classmethod
    def from_token(cls, token: str, base_url: str | None = None) -> SlackFollowupNotifier:
        kwargs: dict[str, Any] = {"token": token}
        if base_url:
            kwargs["base_url"] = base_url
        return cls(WebClient(**kwargs))

    def _call(self, what: str, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            if error in _PERMANENT:
                raise PermanentStepError(f"{what}: Slack says {error}") from exc
            raise SlackError(f"{what}: Slack says {error or exc}") from exc
        except OSError as exc:  # connection refused, timeouts (urllib)
            raise SlackError(f"{what}: {type(exc).__name__}: {exc}") from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]],
        key: str,
        thread_ts: str | None,
    ) -> Posted:
        kwargs: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": _tag_blocks(blocks, key),
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"key": key}},
            "unfurl_links": False,
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        data = self._call(f"post to {channel}", "chat_postMessage", **kwargs)
        posted = Posted(channel=str(data.get("channel") or channel), ts=str(data["ts"]))
        if channel.startswith("#"):
            self._channel_ids[channel] = posted.channel
        log.info("slack.posted", channel=posted.channel, ts=posted.ts, key=key)
        return posted

    def post_alert(
        self,
        channel: str,
        alert: Mapping[str, Any],
        status: AlertStatus,
        key: str,
        thread_ts: str | None = None,
    ) -> Posted:
        return self._post(
            channel, fb.alert_text(alert, status), fb.alert_blocks(alert, status), key, thread_ts
        )

    def update_alert(
        self, channel: str, ts: str, alert: Mapping[str, Any], status: AlertStatus
    ) -> None:
        key = f"followup:{alert['rating_id']}:{alert['generation']}:alert"
        self._call(
            f"update message in {channel}",
            "chat_update",
            channel=channel,
            ts=ts,
            text=fb.alert_text(alert, status),
            blocks=_tag_blocks(fb.alert_blocks(alert, status), key),
        )

    def post_text(self, channel: str, text: str, key: str, thread_ts: str | None = None) -> Posted:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
        return self._post(channel, text, blocks, key, thread_ts)

    def post_burst_summary(
        self, channel: str, count: int, tickets: Sequence[int], key: str
    ) -> Posted:
        text, blocks = fb.burst_summary(count, tickets)
        return self._post(channel, text, blocks, key, None)

    def open_handled_modal(self, trigger_id: str, value: str) -> None:
        self._call(
            "open the Handled modal",
            "views_open",
            trigger_id=trigger_id,
            view=fb.handled_modal(value),
        )

    # -- finding what was already posted ---------------------------------------------------

    def _resolve(self, channel: str) -> str | None:
        if not channel.startswith("#"):
            return channel
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        name = channel[1:]
        cursor: str | None = None
        for _page in range(50):
            kwargs: dict[str, Any] = {"types": "public_channel,private_channel", "limit": 1000}
            if cursor:
                kwargs["cursor"] = cursor
            data = self._call("list channels", "conversations_list", **kwargs)
            for conv in data.get("channels") or []:
                if conv.get("name") == name:
                    self._channel_ids[channel] = str(conv["id"])
                    return self._channel_ids[channel]
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return None

    def find_message(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> Posted | None:
        channel_id = self._resolve(channel)
        if channel_id is None:
            return None
        cursor: str | None = None
        for _page in range(20):
            kwargs: dict[str, Any] = {
                "channel": channel_id,
                "oldest": f"{oldest.timestamp():.6f}",
                "limit": 200,
                "include_all_metadata": True,
            }
            if cursor:
                kwargs["cursor"] = cursor
            try:
                if thread_ts:
                    data = self._call(
                        "read thread", "conversations_replies", ts=thread_ts, **kwargs
                    )
                else:
                    data = self._call("read channel history", "conversations_history", **kwargs)
            except (PermanentStepError, SlackError) as exc:
                if not history_unreadable(exc):
                    raise
                log.warning("slack.history_unreadable", channel=channel, key=key, error=str(exc))
                return None
            for message in data.get("messages") or []:
                if _carries(message, key):
                    return Posted(channel=channel_id, ts=str(message["ts"]))
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return None


def _carries(message: Mapping[str, Any], key: str) -> bool:
    metadata = message.get("metadata") or {}
    if (metadata.get("event_payload") or {}).get("key") == key:
        return True
    blocks = message.get("blocks") or []
    return bool(blocks) and blocks[0].get("block_id") == (_BLOCK_PREFIX + key)[:255]
