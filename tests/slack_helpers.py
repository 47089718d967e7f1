"""Test helpers for the Slack app: a tiny local Slack Web API, signed requests, settings.

The local server answers the Web API calls the app makes (``auth.test``, ``apps.connections.
open``, anything else ``{"ok": true}``) and records every request, including the messages the
app posts to ``response_url`` (which tests point at this server). It stands in until the Slack
sandbox lands.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import queue
import socket
import struct
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from deskbot.settings import Settings

SECRET = "test-signing-secret-0123456789abcdef"

ADMIN, LEAD, AGENT, OTHER_AGENT, STRANGER = (
    "UADMIN01",
    "ULEAD001",
    "UAGENT01",
    "UAGENT02",
    "UNOBODY1",
)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body).items()}


class FakeSlackApi:
    """A local Slack Web API + response_url endpoint that records what it receives."""

    def __init__(self, connections_open: dict[str, Any] | None = None) -> None:
        self.requests: list[Recorded] = []
        self.connections_open = connections_open or {"ok": False, "error": "not_allowed"}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                api.requests.append(Recorded(self.path, dict(self.headers), body))
                if self.path.startswith("/api/"):
                    payload = api.answer(self.path.removeprefix("/api/"))
                    data = json.dumps(payload).encode()
                    ctype = "application/json"
                else:
                    data, ctype = b"ok", "text/plain"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def answer(self, method: str) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://sandbox.slack.com/",
                "team": "Sandbox",
                "user": "deskbot",
                "team_id": "T111",
                "user_id": "UBOT0001",
                "bot_id": "BBOT0001",
                "is_enterprise_install": False,
            }
        if method == "apps.connections.open":
            return self.connections_open
        return {"ok": True}

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def calls(self, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Messages the app sent to response_url (paths under /hooks/)."""
        return [r.json() for r in self.calls("/hooks/")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fake_slack_api() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi()
    try:
        yield api
    finally:
        api.close()


def make_settings(mode: str = "http", **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "zendesk": {"subdomain": "acme"},
        "slack": {"mode": mode, "signing_secret": SECRET, "bot_token": "xoxb-test"},
        "roles": {"admins": [ADMIN], "leads": [LEAD]},
        "roster": {
            "agents": [
                {"zendesk_user_id": 101, "slack_user": AGENT, "lead": LEAD},
                {"zendesk_user_id": 102, "slack_user": OTHER_AGENT, "lead": LEAD},
                {"zendesk_user_id": 103, "slack_user": LEAD},
                {"zendesk_user_id": 104, "slack_user": ADMIN},
            ]
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings.model_validate(data)


def sign(body: str, timestamp: int, secret: str = SECRET) -> str:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    return signature


def signed_request(
    body: str,
    timestamp: int,
    secret: str = SECRET,
    signature: str | None = None,
    retry: int | None = None,
) -> BoltRequest:
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [str(timestamp)],
        "x-slack-signature": [signature or sign(body, timestamp, secret)],
    }
    if retry is not None:
        headers["x-slack-retry-num"] = [str(retry)]
        headers["x-slack-retry-reason"] = ["http_timeout"]
    return BoltRequest(body=body, headers=headers)


_trigger = count(1)


def command_body(
    text: str,
    user_id: str,
    response_url: str,
    command: str = "/deskbot",
    trigger: str | None = None,
) -> str:
    return urllib.parse.urlencode(
        {
            "token": "verification_token",
            "team_id": "T111",
            "team_domain": "sandbox",
            "channel_id": "C111",
            "channel_name": "support",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "response_url": response_url,
            "trigger_id": trigger or f"{next(_trigger)}.111.abc",
        }
    )


class FakeSocketModeServer:
    """A minimal WebSocket server speaking Slack's Socket Mode envelope protocol.

    One client at a time; answers pings; ``send`` delivers an envelope, ``received`` yields the
    JSON messages the client sends back (acknowledgements).
    """

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._conn: socket.socket | None = None
        self._connected = threading.Event()
        self._send_lock = threading.Lock()
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket=test"

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self._conn = conn
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        key = next(
            line.split(":", 1)[1].strip()
            for line in request.decode().split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
        conn.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        self._connected.set()
        self._frame(1, json.dumps({"type": "hello", "num_connections": 1}).encode())
        try:
            while True:
                opcode, payload = self._read_frame(conn)
                if opcode == 8:
                    return
                if opcode == 9:
                    self._frame(10, payload)
                elif opcode == 1:
                    self.received.put(json.loads(payload))
        except (OSError, ConnectionError):
            return

    @staticmethod
    def _read_exact(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _read_frame(self, conn: socket.socket) -> tuple[int, bytes]:
        first, second = self._read_exact(conn, 2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exact(conn, 2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(conn, 8))[0]
        mask = self._read_exact(conn, 4) if second & 0x80 else b"\0\0\0\0"
        data = self._read_exact(conn, length)
        return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def _frame(self, opcode: int, payload: bytes) -> None:
        assert self._conn is not None
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        with self._send_lock:
            self._conn.sendall(header + payload)

    def send(self, envelope: dict[str, Any]) -> None:
        assert self._connected.wait(5), "the Socket Mode client never connected"
        self._frame(1, json.dumps(envelope).encode())

    def next_message(self, timeout: float = 5) -> dict[str, Any]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self._listener.close()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
