"""A tiny local Slack Web API for tests (127.0.0.1, port 0).

slack_sdk's ``WebClient`` talks through ``urllib``, which the ``responses`` library cannot
intercept, so the tests point ``WebClient(base_url=...)`` at this server instead — the same way
deskbot reaches the Slack sandbox. It implements just what the notifier uses:
chat.postMessage (with metadata), conversations.history / .list, and the three steps of
files_upload_v2. ``faults`` queues error responses per method.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class FakeSlack:
    channels: dict[str, str] = field(default_factory=lambda: {"kpi": "C0KPI", "wins": "C0WINS"})
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    base_url: str = ""
    clock: Any = None  # message ts follow this clock (like Slack's wall clock) when set
    _ts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    def _next_ts(self) -> str:
        self._ts += 1
        base = int(self.clock.now().timestamp()) if self.clock is not None else 1790000000
        return f"{base}.{self._ts:06d}"

    def _channel(self, name: str) -> str | None:
        if name.startswith("#"):
            return self.channels.get(name[1:])
        return name if name in self.channels.values() else None

    def handle(
        self, method: str, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.calls.append((method, args))
            if self.faults.get(method):
                return self.faults[method].pop(0)
            return 200, self._answer(method, args), {}

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            channel = self._channel(str(args.get("channel", "")))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            message = {
                "type": "message",
                "ts": self._next_ts(),
                "text": args.get("text"),
                "blocks": args.get("blocks"),
                "thread_ts": args.get("thread_ts"),
            }
            if args.get("metadata"):
                meta = args["metadata"]
                message["metadata"] = json.loads(meta) if isinstance(meta, str) else meta
            self.messages[channel].append(message)
            return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}
        if method == "conversations.history":
            channel = self._channel(str(args.get("channel", "")))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            oldest = float(args.get("oldest") or 0)
            with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
            out = []
            for msg in reversed(self.messages[channel]):
                if float(msg["ts"]) < oldest:
                    continue
                copy = dict(msg)
                if not with_meta:
                    copy.pop("metadata", None)
                out.append(copy)
            return {"ok": True, "messages": out, "has_more": False}
        if method == "conversations.list":
            return {
                "ok": True,
                "channels": [{"id": cid, "name": name} for name, cid in self.channels.items()],
                "response_metadata": {"next_cursor": ""},
            }
        if method == "files.getUploadURLExternal":
            file_id = f"F{len(self.uploads) + 1:04d}"
            self.uploads.append({"id": file_id, "filename": args.get("filename")})
            return {
                "ok": True,
                "file_id": file_id,
                "upload_url": f"{self.base_url}upload/{file_id}",
            }
        if method == "files.completeUploadExternal":
            files = args.get("files")
            files = json.loads(files) if isinstance(files, str) else files
            for f in files:
                for upload in self.uploads:
                    if upload["id"] == f["id"]:
                        upload.update(
                            title=f.get("title"),
                            channel=args.get("channel_id"),
                            thread_ts=args.get("thread_ts"),
                        )
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": False, "error": "unknown_method"}


def _handler(slack: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _respond(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _args(self) -> dict[str, Any]:
            parts = urlsplit(self.path)
            args: dict[str, Any] = dict(parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type", "")
            if parts.path.startswith("/upload/"):
                args["_body"] = raw
            elif raw and "json" in ctype:
                args.update(json.loads(raw))
            elif raw and "form" in ctype:
                args.update(dict(parse_qsl(raw.decode())))
            elif raw:
                args["_body"] = raw
            return args

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            args = self._args()
            if path.startswith("/upload/"):
                slack.calls.append(("upload", {"bytes": len(args.get("_body", b""))}))
                self._respond(200, {"ok": True}, {})
                return
            method = path.removeprefix("/api/")
            status, body, headers = slack.handle(method, args)
            self._respond(status, body, headers)

    return Handler


@contextmanager
def serve(clock: Any = None) -> Iterator[FakeSlack]:
    slack = FakeSlack(clock=clock)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(slack))
    slack.base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield slack
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
