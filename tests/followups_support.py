"""Stateful ``responses`` mocks of the Zendesk and Slack endpoints follow-ups use, plus a
seeded store. They record every write so tests can count them."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
import responses
from pydantic import SecretStr
from slack_sdk import WebClient

from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Organization, SatisfactionRating, Ticket, User
from deskbot.adapters.slack.followup_notifier import SlackFollowupNotifier
from deskbot.adapters.zendesk.writer import ZendeskTicketWriter
from deskbot.services.followups import FollowupService
from deskbot.settings import Settings, ZendeskRateLimits, ZendeskSettings, parse_settings
from deskbot.testing import FakeClock, InMemoryLedger, LedgerRow

ZD = "https://acme.zendesk.com/api/v2"
SLACK = "https://slack.com/api/"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

AGENT = 1001
LEAD_ZD = 2001

CONFIG = """
zendesk:
  subdomain: acme
slack:
  channels:
    alerts: "#csat-alerts"
roster:
  agents:
    - zendesk_user_id: 1001
      slack_user: U0AGENT01
      lead: U0LEAD001
    - zendesk_user_id: 2001
      slack_user: U0LEAD001
followups:
  remind_after_hours: 4
  escalate_after_hours: 24
  escalation_channel: "#support-leads"
  burst_threshold: {burst}
  ticket_updates_per_minute: 60
  rules:
    - name: vip
      match:
        tags: [vip]
      actions:
        internal_note: "VIP bad rating. Reason: {{reason}}. Comment: {{comment}}"
        add_tags: [csat_followup, vip_followup]
        assign_to: lead
        slack_channel: "#vip-alerts"
    - name: default
      actions:
        internal_note: "Bad CSAT. Reason: {{reason}}. Comment: {{comment}}"
        add_tags: [csat_followup]
        assign_to: lead
"""


def make_settings(burst: int = 10) -> Settings:
    return parse_settings(CONFIG.format(burst=burst))


# --------------------------------------------------------------------------------------------
# Zendesk
# --------------------------------------------------------------------------------------------


@dataclass
class FakeZendesk:
    """Tickets with comments; PUT honours safe_update and refuses closed tickets."""

    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    writes: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    conflicts_to_inject: int = 0
    next_id: int = 9000
    clock_tick: int = 0

    def add_ticket(self, ticket_id: int, status: str = "solved", **extra: Any) -> None:
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "status": status,
            "subject": f"Order {ticket_id} arrived broken",
            "tags": [],
            "assignee_id": AGENT,
            "group_id": 10,
            "requester_id": 501,
            "updated_at": "2026-11-02T08:00:00Z",
            "external_id": None,
            **extra,
        }
        self.comments[ticket_id] = [
            {"id": ticket_id * 10, "body": "Hello", "plain_body": "Hello", "public": True}
        ]

    def _touch(self, ticket: dict[str, Any]) -> None:
        self.clock_tick += 1
        ticket["updated_at"] = f"2026-11-02T10:00:{self.clock_tick:02d}Z"

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback("GET", re.compile(ZD + r"/tickets/\d+\.json"), self._get)
        mock.add_callback("PUT", re.compile(ZD + r"/tickets/\d+\.json"), self._put)
        mock.add_callback("GET", re.compile(ZD + r"/tickets/\d+/comments\.json.*"), self._comments)
        mock.add_callback("GET", re.compile(ZD + r"/tickets\.json.*"), self._by_external_id)
        mock.add_callback("POST", ZD + "/tickets.json", self._create)
        mock.add_callback("GET", ZD + "/users/me.json", self._me)

    API_USER = 7  # the agent whose token deskbot uses

    def _me(self, _request: Any) -> tuple[int, dict[str, str], str]:
        user = {"id": self.API_USER, "name": "deskbot", "role": "admin"}
        return 200, {}, json.dumps({"user": user})

    @staticmethod
    def _id(request: Any) -> int:
        return int(re.search(r"/tickets/(\d+)", request.url).group(1))  # type: ignore[union-attr]

    def _get(self, request: Any) -> tuple[int, dict[str, str], str]:
        ticket = self.tickets.get(self._id(request))
        if ticket is None:
            return 404, {}, json.dumps({"error": "RecordNotFound", "description": "Not found"})
        return 200, {}, json.dumps({"ticket": ticket})

    def _comments(self, request: Any) -> tuple[int, dict[str, str], str]:
        comments = self.comments.get(self._id(request), [])
        return (
            200,
            {},
            json.dumps({"comments": comments, "next_page": None, "count": len(comments)}),
        )

    def _put(self, request: Any) -> tuple[int, dict[str, str], str]:
        ticket_id = self._id(request)
        body = json.loads(request.body)["ticket"]
        ticket = self.tickets[ticket_id]
        if ticket["status"] == "closed":
            return (
                422,
                {},
                json.dumps(
                    {
                        "error": "RecordInvalid",
                        "description": "Record validation errors",
                        "details": {
                            "status": [{"description": "Status: closed prevents ticket update"}]
                        },
                    }
                ),
            )
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            self._touch(ticket)  # someone else changed it
            return 409, {}, json.dumps({"error": "UpdateConflict", "description": "changed"})
        if body.get("safe_update") and body.get("updated_stamp") != ticket["updated_at"]:
            return 409, {}, json.dumps({"error": "UpdateConflict", "description": "stale"})
        self.writes.append(("update", ticket_id, body))
        if "comment" in body:
            c = body["comment"]
            self.comments[ticket_id].append(
                {
                    "id": len(self.writes),
                    "body": c["body"],
                    "plain_body": c["body"],
                    "public": c.get("public", True),
                }
            )
        ticket["tags"] = sorted(set(ticket["tags"]) | set(body.get("additional_tags", [])))
        for key in ("assignee_id", "group_id"):
            if key in body:
                ticket[key] = body[key]
        self._touch(ticket)
        return (
            200,
            {},
            json.dumps({"ticket": ticket, "audit": {"id": len(self.writes), "events": []}}),
        )

    def _by_external_id(self, request: Any) -> tuple[int, dict[str, str], str]:
        wanted = parse_qs(urlparse(request.url).query).get("external_id", [None])[0]
        found = [t for t in self.tickets.values() if wanted and t.get("external_id") == wanted]
        return 200, {}, json.dumps({"tickets": found, "next_page": None, "count": len(found)})

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)["ticket"]
        self.next_id += 1
        ticket_id = self.next_id
        self.writes.append(("create", ticket_id, body))
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "status": "open",
            "subject": body.get("subject"),
            "tags": body.get("tags", []),
            "assignee_id": body.get("assignee_id"),
            "group_id": body.get("group_id"),
            "requester_id": body.get("requester_id"),
            "updated_at": "2026-11-02T10:00:00Z",
            "external_id": body.get("external_id"),
            "via_followup_source_id": body.get("via_followup_source_id"),
        }
        self.comments[ticket_id] = [
            {"id": 1, "body": body["comment"]["body"], "public": body["comment"].get("public")}
        ]
        return (
            201,
            {},
            json.dumps({"ticket": self.tickets[ticket_id], "audit": {"id": 1, "events": []}}),
        )

    def write_count(self, kind: str | None = None) -> int:
        return sum(1 for w in self.writes if kind is None or w[0] == kind)


# --------------------------------------------------------------------------------------------
# Slack
# --------------------------------------------------------------------------------------------


CHANNEL_IDS = {"csat-alerts": "C0ALERTS", "vip-alerts": "C0VIP", "support-leads": "C0LEADS"}


@dataclass
class FakeSlack:
    """chat.postMessage / chat.update / conversations.* / views.open, with a message log."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    ts_counter: int = 0

    def install(self, mock: responses.RequestsMock) -> None:
        # slack_sdk uses urllib, not requests: the client below is given a requests transport.
        mock.add_callback("POST", SLACK + "chat.postMessage", self._post)
        mock.add_callback("POST", SLACK + "chat.update", self._update)
        mock.add_callback("POST", SLACK + "views.open", self._views_open)
        mock.add_callback("POST", re.compile(SLACK + r"conversations\.history.*"), self._history)
        mock.add_callback("POST", re.compile(SLACK + r"conversations\.replies.*"), self._replies)
        mock.add_callback("POST", re.compile(SLACK + r"conversations\.list.*"), self._list)

    @staticmethod
    def _channel_id(channel: str) -> str:
        return CHANNEL_IDS.get(channel.lstrip("#"), channel)

    def _post(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.ts_counter += 1
        message = {
            "channel": self._channel_id(body["channel"]),
            "ts": f"1762074000.{self.ts_counter:06d}",
            "text": body.get("text"),
            "blocks": body.get("blocks"),
            "thread_ts": body.get("thread_ts"),
            "metadata": body.get("metadata"),
        }
        self.messages.append(message)
        return 200, {}, json.dumps({"ok": True, "channel": message["channel"], "ts": message["ts"]})

    def _update(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.updates.append(body)
        return 200, {}, json.dumps({"ok": True, "channel": body["channel"], "ts": body["ts"]})

    def _views_open(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.views.append(body)
        return 200, {}, json.dumps({"ok": True, "view": body["view"]})

    @staticmethod
    def _query(request: Any) -> dict[str, str]:
        """Arguments from the URL's query and a form body (slack_sdk uses either)."""
        args = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        body = request.body
        if body:
            text = body.decode() if isinstance(body, bytes) else str(body)
            if not text.lstrip().startswith("{"):
                args.update({k: v[0] for k, v in parse_qs(text).items()})
        return args

    def _history(self, request: Any) -> tuple[int, dict[str, str], str]:
        q = self._query(request)
        found = [m for m in self.messages if m["channel"] == q["channel"] and not m["thread_ts"]]
        return 200, {}, json.dumps({"ok": True, "messages": found[::-1], "has_more": False})

    def _replies(self, request: Any) -> tuple[int, dict[str, str], str]:
        q = self._query(request)
        found = [
            m for m in self.messages if m["channel"] == q["channel"] and m["thread_ts"] == q["ts"]
        ]
        return 200, {}, json.dumps({"ok": True, "messages": found, "has_more": False})

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        channels = [{"id": cid, "name": name} for name, cid in CHANNEL_IDS.items()]
        return 200, {}, json.dumps({"ok": True, "channels": channels})

    def top_level(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if not m["thread_ts"] and (channel_id is None or m["channel"] == channel_id)
        ]

    def thread(self, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["thread_ts"] == ts]


def slack_notifier() -> SlackFollowupNotifier:
    """A notifier whose WebClient is served by ``responses`` (slack_sdk itself uses urllib)."""
    return SlackFollowupNotifier(_RequestsWebClient(token="xoxb-test", base_url=SLACK))


class _RequestsWebClient(WebClient):
    """WebClient sending through ``requests`` so the ``responses`` mock sees the calls."""

    def _perform_urllib_http_request(self, *, url: str, args: dict[str, Any]) -> dict[str, Any]:
        headers = dict(args["headers"])
        body: Any = args.get("params") or None
        if args.get("json"):
            body = json.dumps(args["json"])
            headers["Content-Type"] = "application/json;charset=utf-8"
        # slack_sdk POSTs every method; GET-style arguments are already in the URL's query.
        response = requests.post(url, headers=headers, data=body, timeout=5)
        return {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": response.text,
        }


def zendesk_settings(
    base_url: str | None = None,
    *,
    email: str = "bot@example.com",
    token: str = "token",
    account_per_minute: int | None = None,
) -> ZendeskSettings:
    return ZendeskSettings(
        subdomain="acme",
        base_url=base_url,
        email=SecretStr(email),
        api_token=SecretStr(token),
        rate_limits=ZendeskRateLimits(account_per_minute=account_per_minute),
    )


def zendesk_writer(
    clock: FakeClock, retries: int = 4, settings: ZendeskSettings | None = None
) -> ZendeskTicketWriter:
    """A writer on a ``PacedSession`` for ``settings`` (default: real Zendesk URLs, for
    ``responses``), spending the budgets shared by everything built with ``clock``."""
    return ZendeskTicketWriter.from_settings(
        settings or zendesk_settings(), clock, max_retries=retries
    )


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


def seed_ticket(
    db: Database, ticket_id: int, status: str = "solved", tags: str = "", org: int | None = None
) -> None:
    with db.session() as session:
        db.upsert(
            session,
            Ticket,
            [
                {
                    "id": ticket_id,
                    "created_at": T0 - timedelta(days=2),
                    "updated_at": T0 - timedelta(days=1),
                    "generated_timestamp": 1,
                    "status": status,
                    "is_deleted": False,
                    "subject": f"Order {ticket_id} arrived broken",
                    "requester_id": 501,
                    "assignee_id": AGENT,
                    "group_id": 10,
                    "organization_id": org,
                    "tags": tags,
                    "raw": "{}",
                    "synced_at": T0,
                }
            ],
        )


def seed_people(db: Database) -> None:
    with db.session() as session:
        db.upsert(
            session,
            User,
            [
                {
                    "id": 501,
                    "name": "Maria Lopez",
                    "email": "maria@example.com",
                    "role": "end-user",
                    "raw": "{}",
                },
                {
                    "id": AGENT,
                    "name": "Alex Agent",
                    "email": "alex@acme.test",
                    "role": "agent",
                    "raw": "{}",
                },
            ],
        )
        db.upsert(session, Organization, [{"id": 77, "name": "Globex", "raw": "{}"}])


def seed_rating(
    db: Database,
    rating_id: int,
    ticket_id: int,
    score: str = "bad",
    at: datetime = T0,
    assignee_id: int = AGENT,
) -> None:
    """What the sync does: upsert the rating in place."""
    with db.session() as session:
        db.upsert(
            session,
            SatisfactionRating,
            [
                {
                    "id": rating_id,
                    "ticket_id": ticket_id,
                    "score": score,
                    "assignee_id": assignee_id,
                    "group_id": 10,
                    "requester_id": 501,
                    "comment": "Nobody answered for a week",
                    "reason": "Issue took too long to resolve",
                    "created_at": T0 - timedelta(hours=1),
                    "updated_at": at,
                    "raw": "{}",
                    "synced_at": at,
                }
            ],
        )


# --------------------------------------------------------------------------------------------
# For subprocess tests: a ledger that survives kill -9, and the fakes behind a real HTTP server
# --------------------------------------------------------------------------------------------


class FileLedger(InMemoryLedger):
    """``InMemoryLedger`` persisted to a JSON file after every change (atomic replace), so a
    killed process leaves exactly what it had committed."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.exists():
            for key, row in json.loads(path.read_text()).items():
                self.rows[key] = LedgerRow(**row)

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in self.rows.items()}))
        os.replace(tmp, self.path)

    def begin(self, key: str, kind: str, subject: str | None, payload: dict[str, Any]) -> LedgerRow:
        row = super().begin(key, kind, subject, payload)
        self._save()
        return row

    def complete(self, key: str, result: dict[str, Any]) -> None:
        super().complete(key, result)
        self._save()

    def fail(self, key: str, error: str) -> None:
        super().fail(key, error)
        self._save()


@dataclass
class _Request:
    method: str
    url: str
    body: bytes | None


class FakeServices:
    """FakeZendesk and FakeSlack served over HTTP on 127.0.0.1 (port 0).

    ``kill_at = n``: the n-th write (Zendesk PUT/POST, Slack chat.postMessage) is applied, then
    the process in ``victim_pid`` is killed with SIGKILL before it sees the response — the
    window where only the remote side knows the write happened.
    """

    def __init__(self) -> None:
        self.zendesk, self.slack = FakeZendesk(), FakeSlack()
        self.routes: list[tuple[str, Any, Any]] = []
        self.zendesk.install(self)  # type: ignore[arg-type]
        self.slack.install(self)  # type: ignore[arg-type]
        self.kill_at: int | None = None
        self.victim_pid: int | None = None
        self.writes_seen = 0
        self.killed = False
        self._lock = threading.Lock()
        services = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                outcome = services.dispatch(self.command, self.path, body)
                if outcome is None:
                    self.close_connection = True
                    return
                status, text = outcome
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add_callback(self, method: str, pattern: Any, callback: Any) -> None:
        self.routes.append((method, pattern, callback))

    def dispatch(self, method: str, path: str, body: bytes | None) -> tuple[int, str] | None:
        url = (
            "https://acme.zendesk.com" if path.startswith("/api/v2/") else "https://slack.com"
        ) + path
        with self._lock:
            for route_method, pattern, callback in self.routes:
                hit = (
                    pattern.match(url)
                    if hasattr(pattern, "match")
                    else url.split("?")[0] == pattern
                )
                if route_method == method and hit:
                    status, _headers, text = callback(_Request(method, url, body))
                    is_write = method in ("PUT", "POST") and (
                        "/api/v2/" in url or "chat.postMessage" in url
                    )
                    if is_write and 200 <= status < 300:
                        self.writes_seen += 1
                        if self.kill_at == self.writes_seen and self.victim_pid:
                            os.kill(self.victim_pid, signal.SIGKILL)
                            self.killed = True
                            return None
                    return status, text
        return 404, json.dumps(
            {"error": "RecordNotFound", "description": f"no route {method} {path}"}
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class FollowupEnv:
    """A follow-up service's world: the database, a fake clock, Zendesk and Slack behind
    ``responses``, an in-memory ledger and settings (shared by the follow-up tests)."""

    db: Database
    clock: FakeClock
    zendesk: FakeZendesk
    slack: FakeSlack
    ledger: InMemoryLedger
    settings: Settings
    mock: responses.RequestsMock

    def service(self, **kw: Any) -> FollowupService:
        """A fresh service, as after a restart (only the store and ledger persist);
        ``tickets=None`` is one without a Zendesk writer."""
        tickets = kw.pop("tickets") if "tickets" in kw else zendesk_writer(self.clock)
        return FollowupService(
            self.settings,
            SqlFollowupStore(self.db),
            self.ledger,
            tickets,
            slack_notifier(),
            self.clock,
            **kw,
        )

    def store(self) -> SqlFollowupStore:
        return SqlFollowupStore(self.db)

    def bad(self, rating_id: int, ticket_id: int, status: str = "solved", tags: str = "") -> None:
        """A bad rating on a ticket, in Zendesk and in the local copy."""
        self.zendesk.add_ticket(ticket_id, status=status, tags=tags.split())
        seed_ticket(self.db, ticket_id, status=status, tags=tags)
        seed_rating(self.db, rating_id, ticket_id, "bad")

    def notes(self, ticket_id: int, marker: str) -> int:
        return sum(marker in c["body"] for c in self.zendesk.comments.get(ticket_id, []))


@contextmanager
def followup_env(db: Database) -> Iterator[FollowupEnv]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        zendesk, slack = FakeZendesk(), FakeSlack()
        zendesk.install(mock)
        slack.install(mock)
        seed_people(db)
        yield FollowupEnv(
            db=db,
            clock=FakeClock(T0 + timedelta(minutes=10)),
            zendesk=zendesk,
            slack=slack,
            ledger=InMemoryLedger(),
            settings=make_settings(),
            mock=mock,
        )
