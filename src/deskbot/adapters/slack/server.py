"""Run the Slack app: Socket Mode (default, no public URL) or an HTTP endpoint.

``start_slack(settings, app)`` returns at once with a handle whose ``stop()`` shuts everything
down; ``deskbot run`` calls it, tests call it with ``port=0``.

HTTP mode serves bolt's WSGI adapter (``slack_bolt.adapter.wsgi``) from a threaded stdlib WSGI
server, behind ``authz_guard.RequestVerifier``: ``POST {settings.slack.http.path}`` is verified
(signature and timestamp on the raw bytes, then its shape) before bolt parses anything;
everything else is 404. The same WSGI callable (``wsgi_app``) can be served by gunicorn.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.errors import SlackApiError

from deskbot.adapters.slack.authz_guard import MAX_BODY_BYTES, RequestVerifier
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.errors import SlackError
from deskbot.log import get_logger
from deskbot.ports import Clock
from deskbot.settings import Settings

log = get_logger(__name__)

__all__ = ["MAX_BODY_BYTES", "HttpHandle", "SocketHandle", "start_slack", "wsgi_app"]


class SlackHandle(Protocol):
    def stop(self) -> None: ...


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed outside the app (a client gone mid-request…): one
        structured line instead of socketserver's traceback on stderr."""
        error = sys.exc_info()[1]
        log.warning("slack.http.connection_failed", error=type(error).__name__)


class _LogStream:
    """``wsgi.errors`` / the handler's stderr: whatever wsgiref would print goes to the
    structured log instead (never a raw traceback on stderr)."""

    def write(self, text: str) -> int:
        if text.strip():
            log.error("slack.http.stderr", text=text.strip()[-500:])
        return len(text)

    def flush(self) -> None:
        pass

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)


class _QuietHandler(WSGIRequestHandler):
    """Access lines go to structlog at debug level instead of stderr; so does anything else
    wsgiref would print."""

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        log.debug("slack.http.access", line=format % args)

    def get_stderr(self) -> Any:
        return _LogStream()


def wsgi_app(
    app: App, path: str, *, signing_secret: str | None = None, clock: Clock | None = None
) -> Any:
    """A WSGI callable serving ``app`` at ``path``: every request is verified on its raw bytes
    first (401 without ``signing_secret``: fail closed), 413 for huge bodies, 404 elsewhere."""
    verifier = RequestVerifier(signing_secret, clock)
    return verifier.wsgi(SlackRequestHandler(app, path=path), path)


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
    clock: Clock | None = None,
) -> HttpHandle | SocketHandle:
    """Start receiving Slack requests in the background, as ``settings.slack.mode`` says.

    ``host``/``port`` override ``settings.slack.http`` (tests bind ``127.0.0.1`` port 0).
    ``work``, when given, is drained on ``stop()``. ``clock`` judges request timestamps
    (default: the system clock).
    """
    if settings.slack.mode == "http":
        http = settings.slack.http
        server = make_server(
            host if host is not None else http.host,
            port if port is not None else http.port,
            wsgi_app(
                app, http.path, signing_secret=settings.slack.require_signing_secret(), clock=clock
            ),
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
