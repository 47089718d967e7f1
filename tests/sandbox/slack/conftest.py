"""Fixtures for the Slack sandbox tests: a started sandbox on a fake clock, a WebClient on it,
and a tiny local HTTP receiver standing in for deskbot's Slack endpoint."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from deskbot.sandbox.slack import SlackSandbox
from deskbot.testing import FakeClock


@pytest.fixture
def sandbox(tmp_path: Path, clock: FakeClock) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(out_dir=tmp_path / "out", seed=7, clock=clock, post_burst=5)
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def client(sandbox: SlackSandbox) -> WebClient:
    return WebClient(token=sandbox.bot_token, base_url=sandbox.base_url)


@pytest.fixture
def png() -> bytes:
    return png_bytes()


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (red pixels), built by hand so the test needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    """What deskbot's HTTP endpoint would see; answers with ``status``/``body`` (or ``answer``)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    body: str = ""
    content_type: str = "application/json"
    hold_first: threading.Event | None = None  # block the first request until this is set
    answer: Any = None  # optional callable(Received) -> (status, body)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            got = Received(self.path, dict(self.headers), self.rfile.read(length).decode())
            state.requests.append(got)
            if state.hold_first is not None and len(state.requests) == 1:
                state.hold_first.wait(5)
            status, body = state.answer(got) if state.answer else (state.status, state.body)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    if state.hold_first is not None:
        state.hold_first.set()
    server.shutdown()
    server.server_close()
