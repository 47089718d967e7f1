"""A minimal local Zendesk for the sync tests: cursor ticket export and satisfaction ratings.

Only what the sync reads, served over real HTTP on 127.0.0.1 (port 0), so the real client
(zenpy + PacedSession) is exercised end to end. Records are shaped like the recorded fixtures
in tests/fixtures/zendesk. Replaced by the project's Zendesk sandbox once it lands.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from deskbot.adapters.zendesk.mapping import parse_rating_page, parse_ticket_page

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"  # recorded pages, see SOURCES.md


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


TEMPLATE = fixture("incremental_tickets_cursor_page.json")["tickets"][0]
METRIC_TEMPLATE = fixture("ticket_metric_airbyte.json")["ticket_metric"]
USER_TEMPLATE = fixture("incremental_users_time_page.json")["users"][0]


def make_ticket(ticket_id: int, generated: int, **extra: Any) -> dict[str, Any]:
    t = copy.deepcopy(TEMPLATE)
    t.update(
        id=ticket_id,
        url=f"https://d3v-zenpydev.zendesk.com/api/v2/tickets/{ticket_id}.json",
        created_at=iso(generated - 3600),
        updated_at=iso(generated),
        generated_timestamp=generated,
        subject=f"ticket {ticket_id}",
        requester_id=1000 + ticket_id % 7,
        tags=[f"t{ticket_id % 3}", "common"],
        status=["new", "open", "pending", "solved"][ticket_id % 4],
    )
    t.update(extra)
    return t


def make_metric(ticket_id: int, generated: int) -> dict[str, Any]:
    m = copy.deepcopy(METRIC_TEMPLATE)
    m.update(
        id=500_000 + ticket_id,
        ticket_id=ticket_id,
        updated_at=iso(generated),
        replies=ticket_id % 5,
        reopens=ticket_id % 2,
    )
    m["reply_time_in_minutes"] = {"calendar": ticket_id % 90, "business": ticket_id % 60}
    return m


def make_user(user_id: int) -> dict[str, Any]:
    u = copy.deepcopy(USER_TEMPLATE)
    u.update(id=user_id, name=f"user {user_id}", email=None)
    return u


def make_rating(rating_id: int, ticket_id: int, at: int, score: str = "good") -> dict[str, Any]:
    return {
        "url": f"https://example.zendesk.com/api/v2/satisfaction_ratings/{rating_id}.json",
        "id": rating_id,
        "assignee_id": 77,
        "group_id": 88,
        "requester_id": 1000 + ticket_id % 7,
        "ticket_id": ticket_id,
        "score": score,
        "created_at": iso(at),
        "updated_at": iso(at),
        "comment": None,
        "reason": None,
        "reason_code": None,
    }


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _decode(cursor: str) -> int:
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)[1])


class FakeZendesk:
    """Data and HTTP behaviour; ``start()`` returns the base URL."""

    def __init__(
        self,
        tickets: list[dict[str, Any]] | None = None,
        ratings: list[dict[str, Any]] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.tickets = sorted(tickets or [], key=lambda t: (t["generated_timestamp"], t["id"]))
        self.ratings = sorted(ratings or [], key=lambda r: (r["updated_at"], r["id"]))
        self.delay = delay
        self.counters: Counter[str] = Counter()
        self.requests: list[str] = []
        self.page_served = threading.Event()
        # Set once ``trip_after`` pages were served (the crash tests kill the client then).
        self.trip_after: int | None = None
        self.tripped = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # -- API ---------------------------------------------------------------------------------

    def ticket_export(self, query: dict[str, str]) -> dict[str, Any]:
        per_page = int(query.get("per_page", "1000"))
        if "cursor" in query:
            offset = _decode(query["cursor"])
        else:
            start = int(query["start_time"])
            offset = next(
                (i for i, t in enumerate(self.tickets) if t["generated_timestamp"] >= start),
                len(self.tickets),
            )
        chunk = self.tickets[offset : offset + per_page]
        nxt = offset + len(chunk)
        body: dict[str, Any] = {
            "tickets": chunk,
            "after_cursor": _encode(nxt),
            "after_url": f"http://fake/api/v2/incremental/tickets/cursor.json?cursor={_encode(nxt)}",
            "before_url": None,
            "before_cursor": None,
            "end_of_stream": nxt >= len(self.tickets),
        }
        include = query.get("include", "").split(",")
        if "users" in include:
            ids = sorted({t["requester_id"] for t in chunk if t.get("requester_id")})
            body["users"] = [make_user(i) for i in ids]
        if "metric_sets" in include:
            body["metric_sets"] = [make_metric(t["id"], t["generated_timestamp"]) for t in chunk]
        return body

    def rating_list(self, query: dict[str, str]) -> dict[str, Any]:
        size = int(query.get("page[size]", "100"))
        start = iso(int(query.get("start_time", "0")))
        end = iso(int(query.get("end_time", str(2**31))))
        matching = [r for r in self.ratings if start <= r["updated_at"] < end]
        offset = _decode(query["page[after]"]) if "page[after]" in query else 0
        chunk = matching[offset : offset + size]
        more = offset + size < len(matching)
        return {
            "satisfaction_ratings": chunk,
            "meta": {
                "has_more": more,
                "after_cursor": _encode(offset + size) if more else None,
                "before_cursor": None,
            },
            "links": {"next": None, "prev": None},
        }

    # -- server ------------------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                fake.requests.append(self.path)
                if fake.delay:
                    time.sleep(fake.delay)
                if parts.path == "/api/v2/incremental/tickets/cursor.json":
                    body = fake.ticket_export(query)
                elif parts.path == "/api/v2/satisfaction_ratings.json":
                    body = fake.rating_list(query)
                else:
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b'{"error":"RecordNotFound","description":"Not found"}')
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                fake.counters[parts.path] += 1
                fake.page_served.set()
                if fake.trip_after is not None and sum(fake.counters.values()) >= fake.trip_after:
                    fake.tripped.set()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def running(fake: FakeZendesk) -> Iterator[str]:
    url = fake.start()
    try:
        yield url
    finally:
        fake.stop()


class InMemorySource:
    """``ZendeskSource`` over a ``FakeZendesk`` without HTTP (real page parsing)."""

    def __init__(self, fake: FakeZendesk, synced_at: datetime | None = None) -> None:
        self.fake = fake
        self.synced_at = synced_at or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        self.calls: list[dict[str, Any]] = []

    def ticket_page(self, *, cursor: str | None, start_time: int | None, per_page: int) -> Any:
        query = {"per_page": str(per_page), "include": "users,groups,organizations,metric_sets"}
        if cursor:
            query["cursor"] = cursor
        else:
            query["start_time"] = str(start_time)
        self.calls.append({"stream": "tickets", **query})
        body = json.loads(json.dumps(self.fake.ticket_export(query)))
        return parse_ticket_page(body, self.synced_at)

    def rating_page(
        self, *, start_time: int, end_time: int, page: str | None, per_page: int
    ) -> Any:
        query = {
            "start_time": str(start_time),
            "end_time": str(end_time),
            "page[size]": str(per_page),
        }
        if page:
            query["page[after]"] = page.removeprefix("after:")
        self.calls.append({"stream": "satisfaction_ratings", **query})
        body = json.loads(json.dumps(self.fake.rating_list(query)))
        return parse_rating_page(body, self.synced_at)
