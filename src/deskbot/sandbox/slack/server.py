"""The Slack sandbox: an HTTP server speaking the Web API, plus the user simulator.

``slack_sdk.WebClient(token=sb.bot_token, base_url=sb.start())`` works against it unchanged.
Routes: ``/api/<method>`` (Web API), ``/_upload/<file id>`` (step 2 of ``files_upload_v2``),
``/_responses/<token>`` (the ``response_url`` of commands and interactions) and
``/files/<file id>/<name>`` (``url_private`` of uploaded files).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from rich.console import Console

from deskbot.log import get_logger
from deskbot.ports import Clock, SystemClock
from deskbot.sandbox.slack.api import ApiResponse, WebApi
from deskbot.sandbox.slack.blockkit import find_action, validate_blocks
from deskbot.sandbox.slack.simulator import (
    ACK_TIMEOUT_SECONDS,
    Delivery,
    deliver,
    form_body,
    payload_body,
)
from deskbot.sandbox.slack.state import ApiCall, ChannelRateLimiter, Rejection, SandboxState
from deskbot.sandbox.slack.transcript import (
    VIEWS_TRANSCRIPT,
    print_event,
    render_channel,
    render_views,
)
from deskbot.sandbox.slack.workspace import ENTERPRISE_NAME, TEAM_DOMAIN, Workspace

log = get_logger(__name__)

_MAX_BODY = 64 * 1024 * 1024


def _parse_args(content_type: str, raw: bytes, query: str) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    if not raw:
        return args
    if kind == "application/json":
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict):
            args.update(data)
        else:
            args["__invalid_json__"] = True
    elif kind == "application/x-www-form-urlencoded" or not kind:
        text = raw.decode("utf-8", errors="replace")
        args.update({k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()})
    return args


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(
            "slack_sandbox.http",
            request=self.requestline,
            status=args[1] if len(args) > 1 else None,
        )

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] = {}
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, response: ApiResponse) -> None:
        body = json.dumps(response.body).encode()
        self._send(response.status, body, "application/json; charset=utf-8", response.headers)

    def _send_text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        try:
            raw = self._read()
        except ValueError:
            self._send_text(413, "request_too_large")
            return
        self._dispatch(raw)

    def _dispatch(self, raw: bytes) -> None:
        try:
            self._route(raw)
        except Exception:  # a sandbox bug must not look like a network failure to the client
            log.exception("slack_sandbox.internal_error", path=urlsplit(self.path).path)
            self._send_json(ApiResponse(500, {"ok": False, "error": "internal_error"}))

    def _route(self, raw: bytes) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith("/api/"):
            method = path.removeprefix("/api/").strip("/")
            args = _parse_args(self.headers.get("Content-Type", ""), raw, parts.query)
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            token = token or (str(args["token"]) if args.get("token") else None)
            if args.pop("__invalid_json__", False):
                self._send_json(ApiResponse(200, {"ok": False, "error": "invalid_json"}))
                return
            self._send_json(sandbox._api.call(method, args, token))
        elif path.startswith("/_upload/") and self.command == "POST":
            status, text = sandbox._api.receive_upload(path.removeprefix("/_upload/"), raw)
            self._send_text(status, text)
        elif path.startswith("/_responses/") and self.command == "POST":
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                payload = None
            status, text = sandbox._api.respond(path.removeprefix("/_responses/"), payload)
            self._send_text(status, text)
        elif path.startswith("/files/") and self.command == "GET":
            self._serve_file(path)
        else:
            self._send_text(404, "not_found")

    def _serve_file(self, path: str) -> None:
        sandbox = self.server.sandbox
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {sandbox.bot_token}":
            self._send_text(403, "not_authed")
            return
        file_id = path.split("/")[2]
        with sandbox._state.lock:
            entry = sandbox._state.files.get(file_id)
            data = entry["data"] if entry else None
        if data is None:
            self._send_text(404, "file_not_found")
            return
        self._send(200, data, "application/octet-stream")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: SlackSandbox) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox


class SlackSandbox:
    """A local Slack: Web API server, recorder, transcript writer and user simulator.

    ``clock`` (a ``deskbot.ports.Clock``) drives message timestamps, the per-channel post rate
    and trigger-id expiry (3 s); pass a ``FakeClock`` in tests. ``signature_clock`` stamps the
    signed requests: real time by default, because receivers (slack_bolt's verifier) check
    the timestamp against the real clock within 5 minutes. ``post_rate_per_second`` /
    ``post_burst`` shape ``chat.postMessage``'s limit per channel. ``ack_timeout`` is how long
    a delivery waits for the app before Slack would give up (3 s).
    """

    def __init__(
        self,
        out_dir: Path | None = None,
        seed: int = 1,
        clock: Clock | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        post_rate_per_second: float = 1.0,
        post_burst: int = 1,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
        signature_clock: Clock | None = None,
        console: Console | None = None,
        transcript_interval: float = 0.5,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._signature_clock: Clock = signature_clock or SystemClock()
        created = int(self._clock.now().timestamp()) - 400 * 86400
        ws = Workspace.seeded(seed, created)
        self._state = SandboxState(workspace=ws, clock=self._clock)
        rng = ws.rng
        self.bot_token = (
            f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}-"
            + "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                for _ in range(24)
            )
        )
        self.signing_secret = f"{rng.getrandbits(128):032x}"
        self.verification_token = "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            for _ in range(24)
        )
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if self.out_dir is not None:
            self._state.files_dir = self.out_dir / "files"
        self.ack_timeout = ack_timeout
        self._api = WebApi(
            self._state,
            bot_token=self.bot_token,
            rate_limiter=ChannelRateLimiter(post_rate_per_second, post_burst),
        )
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.transcript_interval = transcript_interval
        self._dirty: set[str] = set()
        self._wake_writer = threading.Event()
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None
        self._console = console
        self._state.listeners.append(self._on_event)

    @property
    def scopes(self) -> list[str]:
        """The bot token's granted scopes (``x-oauth-scopes``); tests may remove some."""
        return self._api.scopes

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Listen (in a background thread) and return the Web API base URL for slack_sdk."""
        if self._server is not None:
            return self.base_url
        self._server = _Server((self._host, self._port), self)
        host, port = self._server.server_address[:2]
        self._state.base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="slack-sandbox",
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        if self.out_dir is not None:
            self._stopping.clear()
            self._writer = threading.Thread(
                target=self._transcript_writer, name="slack-sandbox-transcripts", daemon=True
            )
            self._writer.start()
        log.info("slack_sandbox.started", base_url=self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and write the transcripts one last time."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            log.info("slack_sandbox.stopped")
        if self._writer is not None:
            self._stopping.set()
            self._wake_writer.set()
            self._writer.join(timeout=5)
            self._writer = None
        self.write_transcripts()

    def __enter__(self) -> SlackSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self._state.base_url:
            raise RuntimeError("the Slack sandbox is not started; call start() first")
        return f"{self._state.base_url}/api/"

    # ------------------------------------------------------------------ workspace

    @property
    def workspace(self) -> Workspace:
        return self._state.workspace

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def enterprise_id(self) -> str:
        return self.workspace.enterprise_id

    @property
    def app_id(self) -> str:
        return self.workspace.app_id

    @property
    def bot_id(self) -> str:
        return self.workspace.bot_id

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    @property
    def users(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return copy.deepcopy(list(self.workspace.users.values()))

    @property
    def channels(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return copy.deepcopy(list(self.workspace.channels.values()))

    @property
    def usergroups(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [
                {**g, "users": list(self.workspace.usergroup_members[g["id"]])}
                for g in self.workspace.usergroups.values()
            ]

    def add_user(self, name: str, **fields: Any) -> dict[str, Any]:
        """Add a person: ``real_name``, ``email``, ``title``, ``tz``, ``is_admin``, ``is_bot``;
        ``channels`` (names or ids) to join. Returns the ``users.info`` object."""
        channels = fields.pop("channels", None)
        with self._state.lock:
            joined = [self._require_channel(ref)["id"] for ref in channels or []]
            user = self.workspace.add_user(name, **fields)
            for channel_id in joined:
                self.workspace.members[channel_id].append(user["id"])
                channel = self.workspace.channels[channel_id]
                if "num_members" in channel:
                    channel["num_members"] = len(self.workspace.members[channel_id])
            return copy.deepcopy(user)

    # -- people: scopes, tiers, user groups, deactivation (the people directory's tests) --

    def remove_scope(self, scope: str) -> None:
        """Answer ``missing_scope`` (``needed: scope``) where Slack needs it; without
        ``users:read.email`` users come without e-mails, as on Slack."""
        with self._state.lock:
            self._state.missing_scopes.add(scope)

    def grant_scope(self, scope: str) -> None:
        with self._state.lock:
            self._state.missing_scopes.discard(scope)

    def set_method_limit(self, method: str, per_minute: int | None) -> None:
        """Calls per minute ``method`` allows before 429 + Retry-After (None: unlimited)."""
        with self._state.lock:
            limits = self._state.method_limiter.limits
            if per_minute is None:
                limits.pop(method, None)
            else:
                limits[method] = per_minute

    def deactivate_user(self, user_id: str) -> None:
        with self._state.lock:
            self.workspace.users[user_id]["deleted"] = True

    def add_usergroup(self, handle: str, name: str, user_ids: list[str]) -> dict[str, Any]:
        with self._state.lock:
            return copy.deepcopy(self.workspace.add_usergroup(handle, name, list(user_ids)))

    def set_usergroup_members(self, handle: str, user_ids: list[str]) -> None:
        group_id = self.usergroup_id(handle)
        with self._state.lock:
            self.workspace.usergroup_members[group_id] = list(user_ids)
            self.workspace.usergroups[group_id]["user_count"] = len(user_ids)

    def add_channel(self, name: str, **fields: Any) -> dict[str, Any]:
        with self._state.lock:
            return copy.deepcopy(self.workspace.add_channel(name, **fields))

    def user_id(self, name: str) -> str:
        """A user's id from their name (``maya.okafor``) or id."""
        with self._state.lock:
            if name in self.workspace.users:
                return name
            user = self.workspace.user_by_name(name)
        if user is None:
            raise KeyError(f"no sandbox user named {name!r}; see SlackSandbox.users")
        return str(user["id"])

    def channel_id(self, name: str) -> str:
        """A channel's id from its name (``#support-leads``) or id; a user id gives their DM."""
        with self._state.lock:
            return str(self._require_channel(name)["id"])

    def usergroup_id(self, handle: str) -> str:
        with self._state.lock:
            for group in self.workspace.usergroups.values():
                if group["handle"] == handle.lstrip("@") or group["id"] == handle:
                    return str(group["id"])
        raise KeyError(f"no sandbox user group with handle {handle!r}; see SlackSandbox.usergroups")

    def _require_channel(self, ref: str) -> dict[str, Any]:
        channel = self.workspace.resolve_channel(ref)
        if channel is None and ref in self.workspace.users:
            channel = self.workspace.open_dm(ref)
        if channel is None and self.workspace.user_by_name(ref) is not None:
            channel = self.workspace.open_dm(self.workspace.user_by_name(ref)["id"])  # type: ignore[index]
        if channel is None:
            raise KeyError(f"no sandbox channel {ref!r}; see SlackSandbox.channels")
        return channel

    # ------------------------------------------------------------------ records

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages the bot posted (posts, ephemerals, file shares, response_url replies).

        In order, as they are now (``edited`` and ``history`` show updates); ``channel`` is an
        id or a name."""
        with self._state.lock:
            wanted = self._require_channel(channel)["id"] if channel else None
            return [
                copy.deepcopy(m)
                for m in self._state.messages
                if wanted is None or m["channel"] == wanted
            ]

    @property
    def files(self) -> list[dict[str, Any]]:
        """Uploaded files: ``name``, ``title``, ``channel`` (first shared to), ``channels``,
        ``bytes``, ``path`` (saved copy or None)."""
        with self._state.lock:
            return [
                {
                    "id": f["id"],
                    "name": f["name"],
                    "title": f["title"],
                    "channel": f["channels"][0] if f["channels"] else None,
                    "channels": list(f["channels"]),
                    "bytes": f["data"],
                    "path": f["path"],
                }
                for f in self._state.files.values()
                if f["data"] is not None
            ]

    @property
    def calls(self) -> list[ApiCall]:
        with self._state.lock:
            return list(self._state.calls)

    @property
    def rejections(self) -> list[Rejection]:
        with self._state.lock:
            return list(self._state.rejections)

    @property
    def views(self) -> list[dict[str, Any]]:
        """Views the bot opened/pushed/published: ``view``, ``user``, ``open``, ``submissions``."""
        with self._state.lock:
            return copy.deepcopy(list(self._state.views.values()))

    def new_trigger_id(self, user_id: str) -> str:
        """A fresh trigger id, as a user interaction would give the app (valid 3 s)."""
        with self._state.lock:
            return self._state.new_trigger(self.user_id(user_id))

    # ------------------------------------------------------------------ transcripts

    def transcript_path(self, channel: str) -> Path:
        """The Markdown transcript of a channel (id or name; ``"views"`` for modals), written
        now."""
        if self.out_dir is None:
            raise RuntimeError(
                "the Slack sandbox has no out_dir; pass SlackSandbox(out_dir=...) for transcripts"
            )
        with self._state.lock:
            if channel == VIEWS_TRANSCRIPT:
                self._dirty.discard(VIEWS_TRANSCRIPT)
                return self._write_views()
            channel_id = self._require_channel(channel)["id"]
            self._dirty.discard(channel_id)
            return self._write_channel(channel_id)

    def write_transcripts(self) -> list[Path]:
        """Write every channel's transcript that has something in it."""
        if self.out_dir is None:
            return []
        with self._state.lock:
            self._dirty.clear()
            ids = dict.fromkeys(m["channel"] for m in [*self._state.messages, *self._state.actions])
            paths = [self._write_channel(cid) for cid in ids]
            if self._state.views:
                paths.append(self._write_views())
            return paths

    def _transcript_dir(self) -> Path:
        assert self.out_dir is not None
        directory = self.out_dir / "transcript"
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _write_channel(self, channel_id: str) -> Path:
        directory = self._transcript_dir()
        path = directory / f"{self.workspace.channel_label(channel_id)}.md"
        text = render_channel(
            channel_id,
            messages=self._state.messages,
            actions=self._state.actions,
            ws=self.workspace,
            files=self._state.files,
            base=directory,
        )
        path.write_text(text, encoding="utf-8")
        return path

    def _write_views(self) -> Path:
        path = self._transcript_dir() / f"{VIEWS_TRANSCRIPT}.md"
        path.write_text(render_views(self._state.views, self.workspace), encoding="utf-8")
        return path

    def _on_event(self, event: dict[str, Any]) -> None:
        if self._console is not None:
            print_event(self._console, event, self.workspace)
        if self.out_dir is not None:
            self._dirty.add(VIEWS_TRANSCRIPT if event.get("event") == "view" else event["channel"])
            self._wake_writer.set()

    def flush_transcripts(self) -> list[Path]:
        """Write the transcripts that changed since the last flush (the writer does this
        every ``transcript_interval`` seconds; ``transcript_path`` and ``stop`` do it now)."""
        if self.out_dir is None:
            return []
        with self._state.lock:
            dirty, self._dirty = self._dirty, set()
            return [
                self._write_views() if key == VIEWS_TRANSCRIPT else self._write_channel(key)
                for key in sorted(dirty)
            ]

    def _transcript_writer(self) -> None:
        # Rewriting a channel's file on every message is quadratic; coalesce bursts instead.
        while not self._stopping.is_set():
            self._wake_writer.wait()
            if self._stopping.wait(self.transcript_interval):
                return
            self._wake_writer.clear()
            try:
                self.flush_transcripts()
            except OSError as exc:
                log.warning("slack_sandbox.transcript_failed", error=str(exc))

    # ------------------------------------------------------------------ playing the user

    def _user_obj(self, user_id: str) -> dict[str, Any]:
        user = self.workspace.users[user_id]
        return {
            "id": user_id,
            "username": user["name"],
            "name": user["name"],
            "team_id": self.team_id,
        }

    def _team_obj(self) -> dict[str, Any]:
        return {
            "id": self.team_id,
            "domain": TEAM_DOMAIN,
            "enterprise_id": self.enterprise_id,
            "enterprise_name": ENTERPRISE_NAME,
        }

    def _channel_name(self, channel: dict[str, Any]) -> str:
        return "directmessage" if channel.get("is_im") else str(channel["name"])

    def _deliver(self, url: str, body: str, retry: bool) -> Delivery:
        return deliver(
            url,
            body,
            signing_secret=self.signing_secret,
            now=lambda: self._signature_clock.now().timestamp(),
            retry=retry,
            ack_timeout=self.ack_timeout,
        )

    def send_slash_command(
        self,
        url: str,
        command: str = "/deskbot",
        text: str = "",
        user_id: str = "maya.okafor",
        channel_id: str = "support-leads",
        *,
        retry: bool = False,
    ) -> Delivery:
        """Type ``command text`` in a channel: a signed slash-command POST to the app at ``url``.
        The app's immediate answer is recorded like Slack shows it (ephemeral unless
        ``response_type`` is ``in_channel``)."""
        with self._state.lock:
            uid = self.user_id(user_id)
            channel = self._require_channel(channel_id)
            trigger_id = self._state.new_trigger(uid)
            response_url = self._state.new_response_url(channel["id"], uid, None, True)
            fields = {
                "token": self.verification_token,
                "team_id": self.team_id,
                "team_domain": TEAM_DOMAIN,
                "channel_id": channel["id"],
                "channel_name": self._channel_name(channel),
                "user_id": uid,
                "user_name": self.workspace.users[uid]["name"],
                "command": command,
                "text": text,
                "enterprise_id": self.enterprise_id,
                "enterprise_name": ENTERPRISE_NAME,
                "api_app_id": self.app_id,
                "is_enterprise_install": "false",
                "response_url": response_url,
                "trigger_id": trigger_id,
            }
            typed = f"{command} {text}".strip()
            self._state.add_action(channel["id"], uid, f"ran `{typed}`")
        delivery = self._deliver(url, form_body(fields), retry)
        with self._state.lock:
            self._record_ack(delivery, channel, uid, command)
        return delivery

    def _record_ack(
        self, delivery: Delivery, channel: dict[str, Any], user_id: str, command: str
    ) -> None:
        if delivery.status != 200:
            reason = (
                "operation_timeout"
                if delivery.timed_out
                else f"http_service_error (HTTP {delivery.status})"
            )
            self._state.add_action(
                channel["id"], user_id, f"saw “{command} failed with the error {reason}”"
            )
            self._state.record_call(
                "slash_command.ack", {"command": command}, delivery.status, reason, []
            )
            return
        if not delivery.body.strip():
            return
        try:
            answer = json.loads(delivery.body)
        except ValueError:
            answer = {"text": delivery.body}
        if not isinstance(answer, dict):
            answer = {"text": delivery.body}
        blocks = answer.get("blocks") or []
        errors = validate_blocks(blocks) if blocks else []
        if errors:
            self._state.record_call(
                "slash_command.ack",
                {"command": command},
                200,
                "invalid_blocks",
                [f"[ERROR] {e}" for e in errors],
            )
            return
        in_channel = answer.get("response_type") == "in_channel"
        self._state.add_message(
            {
                "kind": "message" if in_channel else "ephemeral",
                "source": "slash_ack",
                "channel": channel["id"],
                "ts": self._state.new_ts(),
                "text": str(answer.get("text") or ""),
                "blocks": blocks,
                "thread_ts": None,
                "user": self.bot_user_id if in_channel else user_id,
                "bot_id": self.bot_id,
                "files": [],
                **({} if in_channel else {"to": user_id}),
            }
        )

    def click_button(
        self,
        url: str,
        *,
        message_ts: str,
        channel: str,
        action_id: str,
        value: str | None = None,
        user_id: str = "maya.okafor",
        retry: bool = False,
    ) -> Delivery:
        """Click the element ``action_id`` on a message the bot posted (signed block_actions)."""
        with self._state.lock:
            uid = self.user_id(user_id)
            chan = self._require_channel(channel)
            message = self._state.find_message(chan["id"], message_ts)
            if message is None:
                raise KeyError(f"no message {message_ts} in {channel}; see SlackSandbox.messages()")
            found = find_action(message.get("blocks") or [], action_id)
            if found is None:
                raise KeyError(f"message {message_ts} has no element with action_id {action_id!r}")
            block_id, element = found
            is_ephemeral = message["kind"] == "ephemeral"
            now = self._state.now()
            action: dict[str, Any] = {
                "action_id": action_id,
                "block_id": block_id,
                "text": element.get("text", {"type": "plain_text", "text": action_id}),
                "value": value if value is not None else element.get("value", ""),
                "type": element.get("type", "button"),
                "action_ts": f"{now:.6f}",
            }
            if element.get("style"):
                action["style"] = element["style"]
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_obj(uid),
                "api_app_id": self.app_id,
                "token": self.verification_token,
                "container": {
                    "type": "message",
                    "message_ts": message_ts,
                    "channel_id": chan["id"],
                    "is_ephemeral": is_ephemeral,
                },
                "trigger_id": self._state.new_trigger(uid),
                "team": self._team_obj(),
                "enterprise": {"id": self.enterprise_id, "name": ENTERPRISE_NAME},
                "is_enterprise_install": False,
                "channel": {"id": chan["id"], "name": self._channel_name(chan)},
                "response_url": self._state.new_response_url(
                    chan["id"], uid, message_ts, is_ephemeral
                ),
                "actions": [action],
            }
            if not is_ephemeral:
                payload["message"] = self._api._history_message(message)
                payload["state"] = {"values": {}}
            label = (
                action["text"].get("text", action_id)
                if isinstance(action["text"], dict)
                else action_id
            )
            self._state.add_action(chan["id"], uid, f"clicked [{label}]")
        delivery = self._deliver(url, payload_body(payload), retry)
        if delivery.status != 200:
            with self._state.lock:
                reason = "operation_timeout" if delivery.timed_out else f"HTTP {delivery.status}"
                self._state.add_action(chan["id"], uid, f"saw a warning sign ({reason})")
                self._state.record_call(
                    "block_actions.ack", {"action_id": action_id}, delivery.status, reason, []
                )
        return delivery

    def submit_view(
        self,
        url: str,
        *,
        view_id: str | None = None,
        callback_id: str | None = None,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        private_metadata: str | None = None,
        user_id: str = "maya.okafor",
        retry: bool = False,
    ) -> Delivery:
        """Submit a modal the bot opened (by ``view_id``, or the user's latest open one with
        ``callback_id``): a signed ``view_submission``. ``values`` is Slack's
        ``{block_id: {action_id: value}}``; a plain string/list value is turned into the
        element's state shape (``value``, ``selected_option``, ``selected_options``…)."""
        with self._state.lock:
            uid = self.user_id(user_id)
            entry = self._find_view(uid, view_id, callback_id)
            view = copy.deepcopy(entry["view"])
            if private_metadata is not None:
                view["private_metadata"] = private_metadata
            view["state"] = {"values": self._state_values(view, values or {})}
            payload = {
                "type": "view_submission",
                "team": self._team_obj(),
                "user": self._user_obj(uid),
                "api_app_id": self.app_id,
                "token": self.verification_token,
                "trigger_id": self._state.new_trigger(uid),
                "view": view,
                "response_urls": [],
                "enterprise": {"id": self.enterprise_id, "name": ENTERPRISE_NAME},
                "is_enterprise_install": False,
            }
        delivery = self._deliver(url, payload_body(payload), retry)
        with self._state.lock:
            self._apply_view_answer(view["id"], delivery, view["state"]["values"])
        return delivery

    def _find_view(
        self, user_id: str, view_id: str | None, callback_id: str | None
    ) -> dict[str, Any]:
        views = self._state.views
        if view_id is not None:
            if view_id not in views:
                raise KeyError(f"no view {view_id}; see SlackSandbox.views")
            found: dict[str, Any] = views[view_id]
            return found
        candidates: list[dict[str, Any]] = list(views.values())
        for candidate in reversed(candidates):
            view = candidate["view"]
            if (
                candidate["user"] == user_id
                and candidate["open"]
                and view["type"] == "modal"
                and (callback_id is None or view["callback_id"] == callback_id)
            ):
                return cast(dict[str, Any], candidate)
        if callback_id is None:
            raise KeyError(f"user {user_id} has no open modal; pass view_id or callback_id")
        # A modal the sandbox did not see opening (e.g. a test of the submit handler alone).
        stub = self._api._store_view(
            {
                "type": "modal",
                "title": {"type": "plain_text", "text": "Modal"},
                "blocks": [],
                "callback_id": callback_id,
            },
            user_id,
        )
        created: dict[str, Any] = views[stub["id"]]
        return created

    @staticmethod
    def _state_values(
        view: dict[str, Any], values: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        elements: dict[tuple[str, str], dict[str, Any]] = {}
        for block in view.get("blocks") or []:
            element = block.get("element") if block.get("type") == "input" else None
            if isinstance(element, dict):
                elements[(block.get("block_id", ""), element.get("action_id", ""))] = element
        out: dict[str, Any] = {}
        for block_id, actions in values.items():
            for action_id, value in actions.items():
                element = elements.get((block_id, action_id), {"type": "plain_text_input"})
                out.setdefault(block_id, {})[action_id] = _element_state(element, value)
        for block in view.get("blocks") or []:
            if block.get("type") == "input" and not block.get("optional"):
                element = block.get("element") or {}
                if element.get("action_id") not in out.get(block.get("block_id", ""), {}):
                    label = (block.get("label") or {}).get("text", block.get("block_id"))
                    raise ValueError(
                        f"the modal's required input {label!r} (block_id "
                        f"{block.get('block_id')!r}, action_id {element.get('action_id')!r}) "
                        "has no value; Slack would not submit it"
                    )
        return out

    def _apply_view_answer(self, view_id: str, delivery: Delivery, values: dict[str, Any]) -> None:
        entry = self._state.views.get(view_id)
        if entry is None:
            return
        answer: Any = None
        if delivery.status == 200 and delivery.body.strip():
            try:
                answer = json.loads(delivery.body)
            except ValueError:
                answer = None
        action = answer.get("response_action") if isinstance(answer, dict) else None
        entry.setdefault("submissions", []).append(
            {
                "values": values,
                "status": delivery.status,
                "response_action": action,
                "answer": answer,
            }
        )
        if delivery.status == 200 and action in (None, "clear"):
            root = entry["view"]["root_view_id"]
            for other in self._state.views.values():
                same_stack = other["view"]["root_view_id"] == root or action == "clear"
                if (
                    same_stack
                    and other["user"] == entry["user"]
                    and other["view"]["type"] == "modal"
                ):
                    other["open"] = False
        elif action == "update" and isinstance(answer.get("view"), dict):
            self._api._store_view(answer["view"], entry["user"], view_id=view_id)
        if self.out_dir is not None:
            self._dirty.add(VIEWS_TRANSCRIPT)
            self._wake_writer.set()


def _element_state(element: dict[str, Any], value: Any) -> dict[str, Any]:  # noqa: PLR0911
    """A submitted value in Slack's ``view.state.values`` shape for ``element``'s type."""
    kind = element.get("type", "plain_text_input")
    if isinstance(value, dict):
        return {"type": kind, **value}
    options = {o.get("value"): o for o in element.get("options") or [] if isinstance(o, dict)}

    def option(v: Any) -> dict[str, Any]:
        return options.get(
            str(v), {"text": {"type": "plain_text", "text": str(v)}, "value": str(v)}
        )

    if kind in ("static_select", "radio_buttons", "external_select"):
        return {"type": kind, "selected_option": option(value)}
    if kind in ("checkboxes", "multi_static_select", "multi_external_select"):
        items = value if isinstance(value, list | tuple) else [value]
        return {"type": kind, "selected_options": [option(v) for v in items]}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": list(value)}
    if kind in ("conversations_select", "channels_select"):
        key = "selected_conversation" if kind == "conversations_select" else "selected_channel"
        return {"type": kind, key: value}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "timepicker":
        return {"type": kind, "selected_time": value}
    return {"type": kind, "value": None if value is None else str(value)}
