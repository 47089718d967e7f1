"""The Slack Web API methods deskbot uses, with Slack's request and response shapes.

``WebApi.call(method, args, token)`` answers like ``https://slack.com/api/<method>`` would:
``ok``/``error`` bodies with Slack's error codes, HTTP 429 with ``Retry-After`` when
``chat.postMessage`` exceeds the per-channel rate, and ``invalid_blocks`` with
``response_metadata.messages`` for malformed Block Kit. Every call is recorded.
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskbot.log import get_logger
from deskbot.sandbox.slack.blockkit import validate_blocks, validate_view
from deskbot.sandbox.slack.state import (
    METHOD_SCOPES,
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_TTL_SECONDS,
    TRIGGER_TTL_SECONDS,
    ChannelRateLimiter,
    ResponseUrl,
    SandboxState,
)
from deskbot.sandbox.slack.workspace import TEAM_DOMAIN, TEAM_NAME, Workspace

log = get_logger(__name__)

MAX_TEXT_CHARS = 40_000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


GRANTED_SCOPES = (
    "commands",
    "chat:write",
    "im:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "files:write",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "im:history",
)


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A Slack error answer: ``{"ok": false, "error": code, ...}``."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages or []
        self.headers = headers or {}
        self.extra = extra or {}


def _invalid_blocks(errors: list[str], code: str = "invalid_blocks") -> ApiError:
    return ApiError(
        code,
        messages=[f"[ERROR] {e}" for e in errors],
        extra={"errors": errors},
    )


def _json_arg(args: dict[str, Any], key: str, error: str) -> Any:
    """A JSON argument: slack_sdk sends it as a string in forms, as a value in JSON bodies."""
    value = args.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(error) from None
    return value


def _metadata_arg(args: dict[str, Any]) -> dict[str, Any] | None:
    """``metadata`` (``event_type`` + ``event_payload``), or ``None`` when not given."""
    if not args.get("metadata"):
        return None
    value = _json_arg(args, "metadata", "invalid_metadata_format")
    if not isinstance(value, dict) or not isinstance(value.get("event_type"), str):
        raise ApiError("invalid_metadata_format")
    payload = value.get("event_payload") or {}
    if not isinstance(payload, dict):
        raise ApiError("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": payload}


def _bool_arg(args: dict[str, Any], key: str) -> bool:
    value = args.get(key)
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _int_arg(args: dict[str, Any], key: str, default: int) -> int:
    value = args.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(
            "invalid_arguments", messages=[f"[ERROR] {key} must be an integer"]
        ) from None


def _ts_arg(args: dict[str, Any], key: str, default: float) -> float:
    value = args.get(key)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(f"invalid_ts_{key}") from None


def _paginate(
    items: list[Any], args: dict[str, Any], default_limit: int = 100
) -> tuple[list[Any], str]:
    limit = max(1, min(_int_arg(args, "limit", default_limit) or default_limit, 1000))
    cursor = str(args.get("cursor") or "")
    offset = 0
    if cursor:
        try:
            offset = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
        except ValueError:
            raise ApiError("invalid_cursor") from None
    page = items[offset : offset + limit]
    end = offset + limit
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return page, next_cursor


class WebApi:
    """Dispatches Web API calls against the sandbox state."""

    def __init__(
        self,
        state: SandboxState,
        *,
        bot_token: str,
        rate_limiter: ChannelRateLimiter,
    ) -> None:
        self.state = state
        self.ws: Workspace = state.workspace
        self.bot_token = bot_token
        self.rate_limiter = rate_limiter
        # What the sandbox's bot token was granted (tests remove some to see what deskbot says).
        self.scopes: list[str] = list(GRANTED_SCOPES)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.getPermalink": self.chat_get_permalink,
            "conversations.open": self.conversations_open,
            "conversations.list": self.conversations_list,
            "conversations.info": self.conversations_info,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "conversations.members": self.conversations_members,
            "users.list": self.users_list,
            "users.info": self.users_info,
            "users.lookupByEmail": self.users_lookup_by_email,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
            "files.info": self.files_info,
        }

    # ------------------------------------------------------------------ dispatch

    def call(self, method: str, args: dict[str, Any], token: str | None) -> ApiResponse:
        with self.state.lock:
            try:
                if not token:
                    raise ApiError("not_authed")
                if token != self.bot_token:
                    raise ApiError("invalid_auth")
                if method == "files.upload":
                    raise ApiError("method_deprecated")
                handler = self._methods.get(method)
                if handler is None:
                    raise ApiError("unknown_method", extra={"req_method": method})
                self._check_scope_and_tier(method)
                body = {"ok": True, **handler(args)}
                self.state.record_call(method, _redacted(args), 200, None, [])
                # Slack names the token's scopes on every answer.
                return ApiResponse(200, body, {"x-oauth-scopes": ",".join(self.scopes)})
            except ApiError as exc:
                body = {"ok": False, "error": exc.error, **exc.extra}
                if exc.messages:
                    body["response_metadata"] = {"messages": exc.messages}
                self.state.record_call(method, _redacted(args), exc.status, exc.error, exc.messages)
                log.info(
                    "slack_sandbox.rejected", method=method, error=exc.error, status=exc.status
                )
                return ApiResponse(exc.status, body, exc.headers)

    # ------------------------------------------------------------------ helpers

    def _check_scope_and_tier(self, method: str) -> None:
        """``missing_scope`` (with ``needed``) for a scope taken away; 429 + ``Retry-After``
        beyond the method's tier (``state.method_limiter``)."""
        scope = METHOD_SCOPES.get(method)
        if scope is not None and scope in self.state.missing_scopes:
            granted = sorted(set(METHOD_SCOPES.values()) - self.state.missing_scopes)
            raise ApiError(
                "missing_scope",
                extra={"needed": scope, "provided": ",".join(["chat:write", *granted])},
            )
        wait = self.state.method_limiter.acquire(method, self.state.now())
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})

    def _shown_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """A user as the token may see them: no e-mail without ``users:read.email``."""
        if "users:read.email" not in self.state.missing_scopes:
            return user
        profile = {k: v for k, v in user.get("profile", {}).items() if k != "email"}
        return {**user, "profile": profile}

    def _channel(self, args: dict[str, Any], key: str = "channel") -> dict[str, Any]:
        ref = str(args.get(key) or "")
        channel = self.ws.resolve_channel(ref) if ref else None
        if channel is None and ref in self.ws.users:
            # Posting to a user id posts to the app's DM with that person, as Slack does.
            channel = self.ws.open_dm(ref)
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    def _user(self, args: dict[str, Any], key: str = "user") -> dict[str, Any]:
        user = self.ws.users.get(str(args.get(key) or ""))
        if user is None:
            raise ApiError("user_not_found")
        return user

    def _content(self, args: dict[str, Any]) -> tuple[str, list[Any]]:
        text = args.get("text")
        text = "" if text is None else str(text)
        blocks = _json_arg(args, "blocks", "invalid_blocks_format")
        attachments = args.get("attachments")
        if blocks is not None and not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        if not text and not blocks and not attachments:
            raise ApiError("no_text")
        if len(text) > MAX_TEXT_CHARS:
            raise ApiError("msg_too_long")
        blocks = blocks or []
        errors = validate_blocks(blocks)
        if errors:
            raise _invalid_blocks(errors)
        return text, self._fill_ids(blocks)

    def _fill_ids(self, blocks: list[Any]) -> list[Any]:
        """Slack gives every stored block a ``block_id`` and every element an ``action_id``."""
        rng = self.ws.rng
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

        def short() -> str:
            return "".join(rng.choice(alphabet) for _ in range(4))

        for block in blocks:
            block.setdefault("block_id", short())
            elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
            for key in ("accessory", "element"):
                if isinstance(block.get(key), dict):
                    elements.append(block[key])
            for el in elements:
                if isinstance(el, dict) and el.get("type") not in (None, "image"):
                    el.setdefault("action_id", short())
        return blocks

    def _bot_message(self, channel: str, ts: str, text: str, blocks: list[Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "app_id": self.ws.app_id,
            "text": text,
            "ts": ts,
            "team": self.ws.team_id,
            "bot_profile": {
                "id": self.ws.bot_id,
                "app_id": self.ws.app_id,
                "name": "deskbot",
                "deleted": False,
                "team_id": self.ws.team_id,
            },
        }
        if blocks:
            message["blocks"] = blocks
        return message

    def _check_member(self, channel: dict[str, Any]) -> None:
        if channel.get("is_archived"):
            raise ApiError("is_archived")
        if self.ws.bot_user_id not in self.ws.members.get(channel["id"], []):
            raise ApiError("not_in_channel")

    def _record_posted(
        self,
        channel: dict[str, Any],
        message: dict[str, Any],
        *,
        source: str,
        kind: str = "message",
        thread_ts: str | None = None,
        to: str | None = None,
    ) -> dict[str, Any]:
        record = {
            "kind": kind,
            "source": source,
            "channel": channel["id"],
            "ts": message["ts"],
            "text": message.get("text", ""),
            "blocks": message.get("blocks", []),
            "thread_ts": thread_ts,
            "user": to if kind == "ephemeral" and to else message.get("user"),
            "bot_id": message.get("bot_id"),
            "files": message.get("files", []),
        }
        if to:
            record["to"] = to
        return self.state.add_message(record)

    # ------------------------------------------------------------------ auth

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": "deskbot",
            "team_id": self.ws.team_id,
            "user_id": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "enterprise_id": self.ws.enterprise_id,
            "is_enterprise_install": False,
        }

    # ------------------------------------------------------------------ chat

    def chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        self._check_member(channel)
        text, blocks = self._content(args)
        metadata = _metadata_arg(args)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts is not None:
            root = self.state.find_message(channel["id"], thread_ts)
            # Slack wants the thread's root: an unknown ts or a reply's ts is refused.
            if root is None or root["kind"] == "ephemeral" or root.get("thread_ts"):
                raise ApiError("invalid_thread_ts")
        wait = self.rate_limiter.acquire(channel["id"], self.state.now())
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
        ts = self.state.new_ts()
        message = self._bot_message(channel["id"], ts, text, blocks)
        if thread_ts:
            message["thread_ts"] = thread_ts
            parent = self.state.find_message(channel["id"], thread_ts)
            if parent is not None:
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        record = self._record_posted(
            channel, message, source="chat.postMessage", thread_ts=thread_ts
        )
        if metadata is not None:
            # Kept as Slack keeps it: returned by conversations.history/replies only when asked
            # with include_all_metadata (how deskbot finds its own posts after a crash).
            record["metadata"] = metadata
        return {"channel": channel["id"], "ts": ts, "message": message}

    def chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user = self._user(args)
        if user["id"] not in self.ws.members.get(channel["id"], []):
            raise ApiError("user_not_in_channel")
        text, blocks = self._content(args)
        ts = self.state.new_ts()
        message = self._bot_message(channel["id"], ts, text, blocks)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        self._record_posted(
            channel,
            message,
            source="chat.postEphemeral",
            kind="ephemeral",
            thread_ts=thread_ts,
            to=user["id"],
        )
        return {"message_ts": ts}

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("ts") or "")
        record = self.state.find_message(channel["id"], ts)
        if record is None or record.get("deleted") or record["kind"] == "ephemeral":
            raise ApiError("message_not_found")
        if record.get("bot_id") != self.ws.bot_id:
            raise ApiError("cant_update_message")
        text, blocks = self._content(args)
        has_blocks = args.get("blocks") is not None
        self.state.update_message(
            record,
            text=text if args.get("text") is not None else None,
            blocks=blocks if has_blocks else None,
            by=self.ws.bot_user_id,
        )
        message = self._bot_message(channel["id"], ts, record["text"], record["blocks"])
        message["edited"] = record["edited"]
        return {"channel": channel["id"], "ts": ts, "text": record["text"], "message": message}

    def chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("ts") or "")
        record = self.state.find_message(channel["id"], ts)
        if record is None or record.get("deleted") or record["kind"] == "ephemeral":
            raise ApiError("message_not_found")
        if record.get("bot_id") != self.ws.bot_id:
            raise ApiError("cant_delete_message")
        record["deleted"] = True
        return {"channel": channel["id"], "ts": ts}

    def chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("message_ts") or "")
        if self.state.find_message(channel["id"], ts) is None:
            raise ApiError("message_not_found")
        return {
            "channel": channel["id"],
            "permalink": (
                f"https://{TEAM_DOMAIN}.slack.com/archives/{channel['id']}/p{ts.replace('.', '')}"
            ),
        }

    # ------------------------------------------------------------------ conversations

    def conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._channel(args)
            return {"channel": {"id": channel["id"]}}
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 8:
            raise ApiError("too_many_users")
        for user_id in users:
            if user_id not in self.ws.users:
                raise ApiError("user_not_found")
        channel = self.ws.open_mpim(users) if len(users) > 1 else self.ws.open_dm(users[0])
        if _bool_arg(args, "return_im"):
            return {"no_op": True, "already_open": True, "channel": channel}
        return {"channel": {"id": channel["id"]}}

    def _visible_channel(self, channel: dict[str, Any]) -> dict[str, Any]:
        shown = dict(channel)
        if not channel.get("is_im"):
            shown["is_member"] = self.ws.bot_user_id in self.ws.members.get(channel["id"], [])
        return shown

    def conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",")}
        exclude_archived = _bool_arg(args, "exclude_archived")
        selected = []
        for channel in self.ws.channels.values():
            if channel.get("is_im"):
                kind = "im"
            elif channel.get("is_mpim"):
                kind = "mpim"
            else:
                kind = "private_channel" if channel.get("is_private") else "public_channel"
            if kind not in types or (exclude_archived and channel.get("is_archived")):
                continue
            if (
                kind == "private_channel"
                and self.ws.bot_user_id not in self.ws.members[channel["id"]]
            ):
                continue
            selected.append(self._visible_channel(channel))
        page, cursor = _paginate(selected, args)
        return {"channels": page, "response_metadata": {"next_cursor": cursor}}

    def conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._visible_channel(self._channel(args))}

    def conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        page, cursor = _paginate(self.ws.members.get(channel["id"], []), args)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def _history_message(
        self, record: dict[str, Any], with_metadata: bool = False
    ) -> dict[str, Any]:
        message = self._bot_message(
            record["channel"], record["ts"], record["text"], record["blocks"]
        )
        if record.get("bot_id") is None:
            message = {
                "type": "message",
                "user": record.get("user"),
                "text": record["text"],
                "ts": record["ts"],
            }
        if record.get("thread_ts"):
            message["thread_ts"] = record["thread_ts"]
        if record.get("reply_count"):
            message["thread_ts"] = record["ts"]
            message["reply_count"] = record["reply_count"]
        if record.get("edited"):
            message["edited"] = record["edited"]
        if record.get("files"):
            message["files"] = record["files"]
            message["upload"] = True
        if with_metadata and record.get("metadata"):
            message["metadata"] = record["metadata"]
        return message

    def _readable(self, channel: dict[str, Any]) -> list[dict[str, Any]]:
        if self.ws.bot_user_id not in self.ws.members.get(channel["id"], []):
            raise ApiError("not_in_channel")
        return [
            m
            for m in self.state.messages
            if m["channel"] == channel["id"] and m["kind"] != "ephemeral" and not m.get("deleted")
        ]

    def conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        oldest = _ts_arg(args, "oldest", 0.0)
        latest = _ts_arg(args, "latest", math.inf)
        top = [
            m
            for m in self._readable(channel)
            if (not m.get("thread_ts") or m["thread_ts"] == m["ts"])
            and oldest < float(m["ts"]) < latest
        ]
        top.sort(key=lambda m: float(m["ts"]), reverse=True)
        page, cursor = _paginate(top, args)
        with_metadata = _bool_arg(args, "include_all_metadata")
        return {
            "messages": [self._history_message(m, with_metadata) for m in page],
            "has_more": bool(cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("ts") or "")
        readable = self._readable(channel)
        parent = next((m for m in readable if m["ts"] == ts), None)
        if parent is None:
            raise ApiError("thread_not_found")
        replies = sorted(
            (m for m in readable if m.get("thread_ts") == ts and m["ts"] != ts),
            key=lambda m: float(m["ts"]),
        )
        page, cursor = _paginate([parent, *replies], args, default_limit=1000)
        return {
            "messages": [
                self._history_message(m, _bool_arg(args, "include_all_metadata")) for m in page
            ],
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }

    # ------------------------------------------------------------------ users

    def users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        page, cursor = _paginate(list(self.ws.users.values()), args, default_limit=200)
        return {
            "members": [self._shown_user(u) for u in page],
            "cache_ts": int(self.state.now()),
            "response_metadata": {"next_cursor": cursor},
        }

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": self._shown_user(self._user(args))}

    def users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self.ws.users.values():
            if str(user.get("profile", {}).get("email", "")).lower() == email and not user.get(
                "deleted"
            ):
                return {"user": user}
        raise ApiError("users_not_found")

    def usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        include_users = _bool_arg(args, "include_users")
        groups = []
        for group_id, group in self.ws.usergroups.items():
            shown = dict(group)
            if include_users:
                shown["users"] = list(self.ws.usergroup_members[group_id])
            groups.append(shown)
        return {"usergroups": groups}

    def usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group_id = str(args.get("usergroup") or "")
        if group_id not in self.ws.usergroups:
            raise ApiError("no_such_subteam")
        return {"users": list(self.ws.usergroup_members[group_id])}

    # ------------------------------------------------------------------ views

    def _exchange_trigger(self, args: dict[str, Any]) -> str:
        trigger_id = str(args.get("trigger_id") or "")
        trigger = self.state.triggers.get(trigger_id)
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if self.state.now() - trigger.issued_at > TRIGGER_TTL_SECONDS:
            raise ApiError("expired_trigger_id")
        if trigger.exchanged:
            raise ApiError("exchanged_trigger_id")
        trigger.exchanged = True
        return trigger.user

    def _view_arg(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _json_arg(args, "view", "invalid_arguments")
        errors = validate_view(view)
        if errors:
            raise _invalid_blocks(errors, "invalid_arguments")
        assert isinstance(view, dict)
        return view

    def _store_view(
        self,
        view: dict[str, Any],
        user: str,
        *,
        view_id: str | None = None,
        root: str | None = None,
        previous: str | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or self.ws.new_id("V")
        rng = self.ws.rng
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": self.ws.team_id,
            "type": view["type"],
            "blocks": self._fill_ids(view.get("blocks") or []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self.state.now())}.{rng.getrandbits(40):010x}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": self.ws.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.ws.team_id,
            "bot_id": self.ws.bot_id,
        }
        self.state.views[view_id] = {"view": stored, "user": user, "open": True}
        self.state._notify({"event": "view", "user": user, "view": stored})
        return stored

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args)
        user = self._exchange_trigger(args)
        if view["type"] != "modal":
            raise ApiError(
                "invalid_arguments",
                messages=["[ERROR] views.open needs a modal view [json-pointer:/view/type]"],
            )
        return {"view": self._store_view(view, user)}

    def views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args)
        user = self._exchange_trigger(args)
        open_views = [v for v in self.state.views.values() if v["user"] == user and v["open"]]
        if not open_views:
            raise ApiError("not_found")
        top = open_views[-1]["view"]
        return {"view": self._store_view(view, user, root=top["root_view_id"], previous=top["id"])}

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args)
        view_id = str(args.get("view_id") or "")
        external_id = str(args.get("external_id") or "")
        if not view_id and not external_id:
            raise ApiError(
                "invalid_arguments", messages=["[ERROR] either view_id or external_id is required"]
            )
        entry = (
            self.state.views.get(view_id)
            if view_id
            else next(
                (v for v in self.state.views.values() if v["view"]["external_id"] == external_id),
                None,
            )
        )
        if entry is None:
            raise ApiError("not_found")
        current = entry["view"]
        if args.get("hash") and args["hash"] != current["hash"]:
            raise ApiError("hash_conflict")
        return {
            "view": self._store_view(
                view,
                entry["user"],
                view_id=current["id"],
                root=current["root_view_id"],
                previous=current["previous_view_id"],
            )
        }

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args, "user_id")
        view = self._view_arg(args)
        if view["type"] != "home":
            raise ApiError(
                "invalid_arguments",
                messages=["[ERROR] views.publish needs a home view [json-pointer:/view/type]"],
            )
        existing = next(
            (
                v
                for v in self.state.views.values()
                if v["user"] == user["id"] and v["view"]["type"] == "home"
            ),
            None,
        )
        view_id = existing["view"]["id"] if existing else None
        return {"view": self._store_view(view, user["id"], view_id=view_id)}

    # ------------------------------------------------------------------ files

    def files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        if not filename:
            raise ApiError(
                "invalid_arguments", messages=["[ERROR] missing required field: filename"]
            )
        length = _int_arg(args, "length", -1)
        if length < 1:
            raise ApiError("invalid_arguments", messages=["[ERROR] missing required field: length"])
        file_id = self.ws.new_id("F")
        self.state.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "alt_txt": args.get("alt_txt"),
            "data": None,
            "created": int(self.state.now()),
            "channels": [],
            "path": None,
        }
        return {"upload_url": f"{self.state.base_url}/_upload/{file_id}", "file_id": file_id}

    def receive_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        """Step 2 of the upload flow: the bytes POSTed to the upload URL."""
        with self.state.lock:
            entry = self.state.files.get(file_id)
            if entry is None:
                return 404, "file_not_found"
            if entry["data"] is not None:
                return 400, "already_uploaded"
            entry["data"] = data
            entry["length"] = len(data)
            return 200, f"OK - {len(data)}"

    def _file_object(self, entry: dict[str, Any]) -> dict[str, Any]:
        name = entry["name"]
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        filetype = Path(name).suffix.lstrip(".").lower() or "binary"
        return {
            "id": entry["id"],
            "created": entry["created"],
            "timestamp": entry["created"],
            "name": name,
            "title": entry["title"],
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": self.ws.bot_user_id,
            "user_team": self.ws.team_id,
            "editable": False,
            "size": entry["length"],
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(entry["channels"]),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{self.state.base_url}/files/{entry['id']}/{name}",
            "url_private_download": f"{self.state.base_url}/files/{entry['id']}/download/{name}",
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{self.ws.bot_user_id}/{entry['id']}/{name}",
            "channels": list(entry["channels"]),
            "groups": [],
            "ims": [],
            "comments_count": 0,
            "alt_txt": entry.get("alt_txt") or "",
        }

    def files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        files = _json_arg(args, "files", "invalid_arguments")
        if not isinstance(files, list) or not files:
            raise ApiError("invalid_arguments", messages=["[ERROR] missing required field: files"])
        targets: list[dict[str, Any]] = []
        channel_ids = [c for c in str(args.get("channels") or "").split(",") if c]
        if args.get("channel_id"):
            channel_ids.insert(0, str(args["channel_id"]))
        for channel_id in channel_ids:
            channel = self._channel({"channel": channel_id})
            self._check_member(channel)
            targets.append(channel)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts and len(targets) != 1:
            raise ApiError(
                "invalid_arguments", messages=["[ERROR] thread_ts needs exactly one channel"]
            )
        entries = []
        for item in files:
            entry = self.state.files.get(str(item.get("id") if isinstance(item, dict) else ""))
            if entry is None or entry["data"] is None:
                raise ApiError("file_not_found")
            if item.get("title"):
                entry["title"] = str(item["title"])
            entries.append(entry)
        for entry in entries:
            self._save_file(entry)
            entry["channels"] = [c["id"] for c in targets]
        file_objects = [self._file_object(e) for e in entries]
        for channel in targets:
            ts = self.state.new_ts()
            message = {
                "type": "message",
                "user": self.ws.bot_user_id,
                "bot_id": self.ws.bot_id,
                "text": str(args.get("initial_comment") or ""),
                "ts": ts,
                "files": file_objects,
            }
            self._record_posted(
                channel,
                message,
                source="files.completeUploadExternal",
                kind="file",
                thread_ts=thread_ts,
            )
        return {"files": [{"id": f["id"], "title": f["title"]} for f in file_objects]}

    def files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        entry = self.state.files.get(str(args.get("file") or ""))
        if entry is None or entry["data"] is None:
            raise ApiError("file_not_found")
        return {
            "file": self._file_object(entry),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _save_file(self, entry: dict[str, Any]) -> None:
        directory = self.state.files_dir
        if directory is None or entry["path"] is not None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        safe = _SAFE_NAME.sub("_", Path(entry["name"]).name) or "file"
        stem, suffix = Path(safe).stem, Path(safe).suffix
        path = directory / safe
        n = 1
        while path.exists():
            n += 1
            path = directory / f"{stem}-{n}{suffix}"
        path.write_bytes(entry["data"])
        entry["path"] = path

    # ------------------------------------------------------------------ response_url

    def respond(self, token: str, payload: Any) -> tuple[int, str]:  # noqa: PLR0911 (one exit per Slack answer)
        """A POST to a ``response_url``: post, replace or delete like Slack does."""
        with self.state.lock:
            target: ResponseUrl | None = self.state.response_urls.get(token)
            if target is None:
                return 404, "no_service"
            if self.state.now() - target.issued_at > RESPONSE_URL_TTL_SECONDS:
                return 404, "expired_url"
            if target.uses >= RESPONSE_URL_MAX_USES:
                return 404, "used_url"
            if not isinstance(payload, dict):
                return 400, "invalid_payload"
            channel = self.ws.channels.get(target.channel)
            if channel is None:
                return 404, "channel_not_found"
            original = (
                self.state.find_message(target.channel, target.message_ts)
                if target.message_ts
                else None
            )
            if _bool_arg(payload, "delete_original"):
                if original is None:
                    return 404, "message_not_found"
                target.uses += 1
                original["deleted"] = True
                return 200, "ok"
            try:
                text, blocks = self._content(payload)
            except ApiError as exc:
                return 400, exc.error
            target.uses += 1
            if _bool_arg(payload, "replace_original") and original is not None:
                self.state.update_message(
                    original, text=text, blocks=blocks, by=self.ws.bot_user_id
                )
                return 200, "ok"
            in_channel = payload.get("response_type") == "in_channel"
            message = self._bot_message(target.channel, self.state.new_ts(), text, blocks)
            thread_ts = str(payload["thread_ts"]) if payload.get("thread_ts") else None
            self._record_posted(
                channel,
                message,
                source="response_url",
                kind="message" if in_channel else "ephemeral",
                thread_ts=thread_ts,
                to=None if in_channel else target.user,
            )
            return 200, "ok"


def _redacted(args: dict[str, Any]) -> dict[str, Any]:
    """Call arguments as recorded: the token itself is not kept."""
    return {k: v for k, v in args.items() if k != "token"}
