"""Run the Slack app: Socket Mode (default, no public URL) or an HTTP endpoint.

``start_slack(settings, app)`` returns at once with a handle whose ``stop()`` shuts everything
down; ``deskbot run`` calls it, tests call it with ``port=0``.

HTTP mode serves bolt's WSGI adapter (``slack_bolt.adapter.wsgi``) from a threaded stdlib WSGI
server: ``POST {settings.slack.http.path}`` goes to the app (which verifies the signature),
everything else is 404. The same WSGI callable (``wsgi_app``) can be served by gunicorn.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.errors import SlackApiError

from deskbot.adapters.slack.work import BackgroundWork
from deskbot.errors import SlackError
from deskbot.log import get_logger
from deskbot.settings import Settings

log = get_logger(__name__)

# Slack's requests are a few kilobytes; refuse anything absurd before reading it.
MAX_BODY_BYTES = 1_000_000


class SlackHandle(Protocol):
    def stop(self) -> None: ...


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """Access lines go to structlog at debug level instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        log.debug("slack.http.access", line=format % args)


def wsgi_app(app: App, path: str) -> Any:
    """A WSGI callable serving ``app`` at ``path`` (404 elsewhere, 413 for huge bodies)."""
    handler = SlackRequestHandler(app, path=path)

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [b"request body too large"]
        return handler(environ, start_response)

    return application


@dataclass
class HttpHandle:
    server: WSGIServer
    thread: threading.Thread
    work: BackgroundWork | None = None
    stopped: bool = field(default=False)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server.server_address[0])
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        if self.work is not None:
            self.work.shutdown(wait=True)
        log.info("slack.http.stopped")


@dataclass
class SocketHandle:
    handler: SocketModeHandler
    work: BackgroundWork | None = None

    def stop(self) -> None:
        self.handler.close()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
        if self.work is not None:
            self.work.shutdown(wait=True)
        log.info("slack.socket.stopped")


def start_slack(
    settings: Settings,
    app: App,
    *,
    host: str | None = None,
    port: int | None = None,
    work: BackgroundWork | None = None,
) -> HttpHandle | SocketHandle:
    """Start receiving Slack requests in the background, as ``settings.slack.mode`` says.

    ``host``/``port`` override ``settings.slack.http`` (tests bind ``127.0.0.1`` port 0).
    ``work``, when given, is drained on ``stop()``.
    """
    if settings.slack.mode == "http":
        http = settings.slack.http
        server = make_server(
            host if host is not None else http.host,
            port if port is not None else http.port,
            wsgi_app(app, http.path),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        thread = threading.Thread(
            target=server.serve_forever, name="slack-http", kwargs={"poll_interval": 0.2}
        )
        thread.daemon = True
        thread.start()
        handle = HttpHandle(server, thread, work)
        log.info("slack.http.started", url=handle.url, path=http.path)
        return handle
    socket = SocketModeHandler(app, app_token=settings.slack.require_app_token())
    try:
        socket.connect()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown error")
        raise SlackError(
            f"Slack refused the Socket Mode connection ({error}); check that slack.app_token "
            "is an app-level token (xapp-…) with the connections:write scope and that Socket "
            "Mode is enabled for the app, or set slack.mode: http"
        ) from exc
    log.info("slack.socket.connected")
    return SocketHandle(socket, work)
