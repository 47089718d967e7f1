"""A running deskbot Slack app in HTTP mode, a seeded store, and an attacker's toolkit.

The app is the real one (``bootstrap.start_slack_app`` with a database: commands, follow-up
buttons and modal) behind the real WSGI server, reached over real sockets with ``http.client``
so that every header and byte is under the test's control. Requests are signed here with
``hmac`` directly (not with slack_sdk, which the app uses to verify), so a bug shared by signer
and verifier cannot hide. ``snapshot()`` captures everything a request could change: the
follow-up rows, the action ledger, every Web API / response_url call, and the fakes behind the
slash commands.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import socket
import urllib.parse
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from deskbot import bootstrap
from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Action, Followup, SatisfactionRating, Ticket
from deskbot.adapters.slack.server import HttpHandle
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.domain.authz import bind_view
from deskbot.services.providers import SlackServices
from deskbot.settings import Settings
from deskbot.testing import (
    FakeClock,
    FakeConfigReloader,
    FakeShoutouts,
    FakeStatsProvider,
    FakeSyncStatus,
    FakeSyncTrigger,
)
from kpi_dataset import rating, ticket
from slack_helpers import FakeSlackApi

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret

ADMIN = "UADMIN01"
LEAD = "ULEAD001"  # lead of the rated agent: the follow-up's owner
LEAD2 = "ULEAD002"  # another lead
RATED = "UAGENT01"  # the agent who got the bad rating (Zendesk 101)
AGENT2 = "UAGENT02"  # a plain agent (Zendesk 102)
AGENT3 = "UAGENT03"  # another plain agent (Zendesk 103)
EMPLOYEE = "UEMPLOY1"  # a workspace member, in a department, not an agent
GUEST = "UGUEST01"  # a guest: nobody deskbot knows

RATING, OTHER_RATING, UNOWNED = 77, 78, 79
ALERTS = "C0ALERTS"
ALERT_TS = {RATING: "1762074000.000100", OTHER_RATING: "1762074000.000200"}
ALERT_TS[UNOWNED] = "1762074000.000300"


def make_settings(base_url: str) -> Settings:
    return Settings.model_validate(
        {
            "timezone": "Europe/Berlin",
            "zendesk": {"subdomain": "acme"},
            "slack": {
                "mode": "http",
                "signing_secret": SECRET,
                "bot_token": "xoxb-security-test",
                "base_url": base_url,
                "channels": {"alerts": ALERTS},
            },
            "roles": {"admins": [ADMIN], "leads": [LEAD, LEAD2]},
            "roster": {
                "agents": [
                    {"zendesk_user_id": 101, "slack_user": RATED, "lead": LEAD},
                    {"zendesk_user_id": 102, "slack_user": AGENT2},
                    {"zendesk_user_id": 103, "slack_user": AGENT3},
                ],
                "departments": [{"name": "Finance", "members": [EMPLOYEE]}],
            },
        }
    )


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Reply:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Env:
    db: Database
    clock: FakeClock
    api: FakeSlackApi
    handle: HttpHandle
    work: BackgroundWork
    settings: Settings
    stats: FakeStatsProvider = field(default_factory=FakeStatsProvider)
    trigger: FakeSyncTrigger = field(default_factory=FakeSyncTrigger)
    reloader: FakeConfigReloader = field(default_factory=FakeConfigReloader)
    shoutouts: FakeShoutouts = field(default_factory=FakeShoutouts)
    sync_status: FakeSyncStatus = field(default_factory=FakeSyncStatus)

    # -- time and signing ----------------------------------------------------------------

    @property
    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def tick(self) -> None:
        """A new second: a fresh timestamp, so a signed request is never a replay."""
        self.clock.advance(seconds=1)

    # -- sending ---------------------------------------------------------------------------

    def post(
        self,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        signed: bool = True,
        content_type: str | None = "application/x-www-form-urlencoded",
        timestamp: str | None = None,
        path: str = "/slack/events",
        method: str = "POST",
    ) -> Reply:
        """Send ``body`` as is; sign it (fresh timestamp) unless told otherwise."""
        self.tick()
        ts = timestamp if timestamp is not None else str(self.now)
        out: dict[str, str] = {}
        if content_type is not None:
            out["Content-Type"] = content_type
        if signed:
            out["X-Slack-Request-Timestamp"] = ts
            out["X-Slack-Signature"] = sign(body, ts)
        out.update(headers or {})
        out.setdefault("Content-Length", str(len(body)))
        host, port = self.handle.server.server_address[:2]
        conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in out.items():
                conn.putheader(name, value)
            conn.endheaders()
            # the server may answer (413) without reading it all: then read that answer
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.send(body)
            response = conn.getresponse()
            return Reply(response.status, response.read())
        finally:
            conn.close()

    def raw(self, data: bytes) -> Reply:
        """Write raw bytes to the socket, close the writing side, read the answer."""
        host, port = self.handle.server.server_address[:2]
        with socket.create_connection((str(host), int(port)), timeout=10) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head else 0
        return Reply(status, payload)

    def command(self, text: str, user: str, **fields: str) -> bytes:
        data = {
            "token": "legacy",
            "team_id": "T111",
            "team_domain": "acme",
            "channel_id": "C0SUPPORT",
            "channel_name": "support",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/deskbot",
            "text": text,
            "response_url": self.api.url + "/hooks/commands/" + user,
            "trigger_id": f"{self.now}.1.{user}",
            **fields,
        }
        return urllib.parse.urlencode(data).encode()

    def click(
        self,
        action_id: str,
        value: str,
        user: str,
        *,
        ts: str | None = None,
        channel: str = ALERTS,
        rating_id: int = RATING,
    ) -> bytes:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T111"},
            "api_app_id": "A111",
            "team": {"id": "T111", "domain": "acme"},
            "container": {
                "type": "message",
                "message_ts": ts or ALERT_TS[rating_id],
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "channel": {"id": channel, "name": "csat-alerts"},
            "trigger_id": f"{self.now}.2.{user}",
            "response_url": self.api.url + "/hooks/actions/" + user,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "followup_actions",
                    "type": "button",
                    "value": value,
                    "action_ts": f"{self.now}.000001",
                }
            ],
        }
        return form_payload(payload)

    def submit(
        self,
        user: str,
        metadata: str,
        callback_id: str = "followup_handled_modal",
        note: str = "Called the customer",
    ) -> bytes:
        payload = {
            "type": "view_submission",
            "user": {"id": user, "username": user.lower(), "team_id": "T111"},
            "team": {"id": "T111", "domain": "acme"},
            "api_app_id": "A111",
            "trigger_id": f"{self.now}.3.{user}",
            "view": {
                "id": "V0MODAL01",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": metadata,
                "state": {
                    "values": {
                        "followup_note": {"note": {"type": "plain_text_input", "value": note}}
                    }
                },
            },
        }
        return form_payload(payload)

    def bound(self, user: str, rating_id: int = RATING) -> str:
        return bind_view(f"{rating_id}:1", user)

    # -- state -----------------------------------------------------------------------------

    def settle(self) -> None:
        assert self.work.wait_idle(timeout=10)

    def snapshot(self) -> dict[str, Any]:
        """Everything a request could change."""
        self.settle()
        f = Followup.__table__  # type: ignore[attr-defined]
        ledger = Action.__table__  # type: ignore[attr-defined]
        with self.db.engine.connect() as conn:
            followups = [tuple(r) for r in conn.execute(select(f).order_by(f.c.rating_id))]
            entries = [tuple(r) for r in conn.execute(select(ledger))]
        return {
            "followups": followups,
            "ledger": entries,
            "slack_calls": len(self.api.requests),
            "stats": len(self.stats.queries),
            "sync_now": len(self.trigger.requests),
            "reloads": self.reloader.calls,
            "shoutouts": self.shoutouts.calls,
            "sync_status": self.sync_status.calls,
        }

    def row(self, rating_id: int = RATING) -> Any:
        return SqlFollowupStore(self.db).get(rating_id)

    def replies(self, user: str) -> list[str]:
        """Private answers sent to ``user`` (response_url posts and ephemeral messages)."""
        self.settle()
        out = []
        for r in self.api.requests:
            if (r.path.endswith("/" + user) and r.path.startswith("/hooks/")) or (
                r.path == "/api/chat.postEphemeral" and user in r.body
            ):
                out.append(r.body)
        return out

    def reset(self) -> None:
        """Every follow-up open again, as the alerts were posted; no Slack calls recorded."""
        self.settle()
        store = SqlFollowupStore(self.db)
        at = self.clock.now()
        f = Followup.__table__  # type: ignore[attr-defined]
        with self.db.engine.begin() as conn:
            conn.execute(f.delete())
        for rating_id, owner in ((RATING, LEAD), (OTHER_RATING, LEAD), (UNOWNED, None)):
            assert store.open_generation(
                rating_id,
                None,
                generation=1,
                ticket_id=rating_id + 500,
                score="bad",
                rule="default",
                owner=owner,
                at=at,
            )
            store.set_alert(rating_id, 1, ALERTS, ALERT_TS[rating_id], at)
        self.api.requests.clear()


def form_payload(payload: Any) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def seed(db: Database, clock: FakeClock) -> None:
    rated = clock.now() - timedelta(hours=1)
    with db.engine.begin() as conn:
        for rating_id, assignee in ((RATING, 101), (OTHER_RATING, 102), (UNOWNED, 102)):
            tid = rating_id + 500
            db.upsert(conn, Ticket, [ticket(tid, rated - timedelta(days=1), assignee=assignee)])
            db.upsert(
                conn,
                SatisfactionRating,
                [rating(rating_id, tid, "bad_with_comment", rated, assignee=assignee)],
            )


def start(db: Database, clock: FakeClock, api: FakeSlackApi) -> Env:
    settings = make_settings(api.api_url)
    work = BackgroundWork()
    stats, trigger, reloader = FakeStatsProvider(), FakeSyncTrigger(), FakeConfigReloader()
    shoutouts, sync_status = FakeShoutouts(), FakeSyncStatus()
    services = SlackServices(
        stats=stats,
        sync_trigger=trigger,
        config_reloader=reloader,
        shoutouts=shoutouts,
        sync_status=sync_status,
    )
    handle = bootstrap.start_slack_app(
        settings, services, clock, host="127.0.0.1", port=0, work=work, database=db
    )
    assert isinstance(handle, HttpHandle)
    seed(db, clock)
    env = Env(db, clock, api, handle, work, settings, stats, trigger, reloader, shoutouts)
    env.sync_status = sync_status
    env.reset()
    return env


def events(captured: str) -> list[dict[str, object]]:
    """The structured log lines in captured stderr (anything else is kept as ``raw``)."""
    out: list[dict[str, object]] = []
    for line in captured.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            out.append({"raw": line})
            continue
        out.append(value if isinstance(value, dict) else {"raw": line})
    return out
