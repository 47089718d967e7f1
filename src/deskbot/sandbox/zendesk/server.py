"""The sandbox HTTP server: the Zendesk Support API subset deskbot uses, plus control endpoints.

``ZendeskSandbox`` owns the data (``State``), the rate limiters, the fault plan, the counters and
the write log, and serves them from a stdlib ``ThreadingHTTPServer`` in a background thread.
Control endpoints under ``/_sandbox/`` (no auth, loopback clients only) expose the same controls
as the Python API for subprocess use.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import orjson

from deskbot.log import get_logger
from deskbot.sandbox.zendesk.data import (
    MINUTE,
    SCORES,
    State,
    Ticket,
    WriteError,
    iso,
    unique,
)
from deskbot.sandbox.zendesk.faults import Faults
from deskbot.sandbox.zendesk.ratelimit import Decision, FixedWindowLimiter
from deskbot.sandbox.zendesk.survey import (
    CSAT_MODES,
    LEGACY_DISABLED,
    QUESTION_TYPES,
    list_responses,
    show_response,
)

log = get_logger(__name__)

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
INVALID_ENDPOINT = {"error": "InvalidEndpoint", "description": "Not found"}
UNAUTHORIZED = {"error": "Couldn't authenticate you"}
INCREMENTAL_HEADER = "Zendesk-RateLimit-incremental-exports"
EXPORT_LAG = MINUTE  # tickets changed within the last minute are not exported yet
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
INCLUDES = ("users", "groups", "organizations", "metric_sets")


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _bad_request(param: str, message: str) -> ApiError:
    return ApiError(
        400,
        {
            "error": "InvalidPaginationParameter"
            if "page" in param or param == "cursor"
            else "InvalidValue",
            "description": f"{param}: {message}",
        },
    )


Response = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    base: str


class ZendeskSandbox:
    """A local Zendesk. See the module docstring of ``deskbot.sandbox.zendesk``."""

    def __init__(
        self,
        seed: int = 7,
        tickets: int = 2000,
        *,
        time_scale: float = 1.0,
        account_limit: int = 700,
        incremental_limit: int = 10,
        start: datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        metric_sets_shape: str = "inline",
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        live_clock: bool = False,
        email: str = "admin@example.com",
        token: str | None = None,
        clock_offset_seconds: float = 0.0,
        csat: str = "legacy",
        csat_points: int = 5,
        csat_question: str = "rating_scale_numeric",
    ) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError(
                "start must be a timezone-aware datetime (e.g. datetime(..., tzinfo=UTC))"
            )
        if metric_sets_shape not in ("inline", "sideload"):
            raise ValueError(
                f"metric_sets_shape must be 'inline' or 'sideload', got {metric_sets_shape!r}"
            )
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        if csat not in CSAT_MODES:
            raise ValueError(f"csat must be one of {', '.join(CSAT_MODES)}, got {csat!r}")
        if csat_points not in (2, 3, 5, 7, 10) or csat_question not in QUESTION_TYPES:
            raise ValueError("csat_points must be 2, 3, 5, 7 or 10; csat_question a rating type")
        self.csat_mode = csat  # see sandbox/zendesk/survey.py
        self.csat_points = csat_points
        self.csat_question = csat_question
        # ``clock_offset_seconds`` puts Zendesk's clock ahead of (> 0) or behind (< 0) the
        # host's: the generated times, the export and the ``Date`` header all follow it.
        when = (start or datetime.now(UTC).replace(second=0, microsecond=0)) + timedelta(
            seconds=clock_offset_seconds
        )
        self.clock_offset_seconds = clock_offset_seconds
        self.seed = seed
        self.time_scale = time_scale
        self.host = host
        self.port = port
        self.metric_sets_shape = metric_sets_shape
        self.email = email
        self.token = token or f"sandbox-token-{seed}"
        self._monotonic = monotonic or time.monotonic
        self._sleep = sleep or time.sleep  # for injected latency; tests record instead
        self._live = live_clock
        self._lock = threading.RLock()
        started = time.perf_counter()
        self.state = State(seed, tickets, int(when.timestamp()))
        # An account with no CSAT at all: tickets carry no satisfaction rating either.
        self.state.csat_enabled = csat != "none"
        log.info(
            "sandbox.zendesk.generated",
            tickets=tickets,
            seconds=round(time.perf_counter() - started, 2),
        )
        self.account_limiter = FixedWindowLimiter(account_limit, time_scale, self._monotonic)
        self.incremental_limiter = FixedWindowLimiter(
            incremental_limit, time_scale, self._monotonic
        )
        self.faults = Faults(seed)
        self._counters: dict[str, Any] = {
            "requests": 0,
            "by_kind": {},
            "by_status": {},
            "rate_limited": 0,
            "faults": 0,
            "writes": 0,
        }
        self._writes: list[dict[str, Any]] = []
        self._user_cache: dict[tuple[int, str], orjson.Fragment] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._live_origin = (self._monotonic(), self.state.now)
        self.base_url = ""

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        server = _Server((self.host, self.port), _Handler)
        server.sandbox = self
        self._server = server
        host, port = server.server_address[:2]
        self.port = int(port)
        self.base_url = f"http://{host!s}:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="zendesk-sandbox",
            daemon=True,
        )
        self._thread.start()
        log.info("sandbox.zendesk.started", base_url=self.base_url)
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        log.info("sandbox.zendesk.stopped")

    def __enter__(self) -> ZendeskSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- controls

    @property
    def now(self) -> datetime:
        with self._lock:
            self._catch_up()
            return datetime.fromtimestamp(self.state.now, UTC)

    def advance(self, minutes: float = 0, seconds: float = 0) -> dict[str, int]:
        """Move the sandbox clock, generating activity. Returns how many events of each kind."""
        span = int(minutes * 60 + seconds)
        if span < 0:
            raise ValueError(f"cannot move the sandbox clock backwards ({span} s)")
        with self._lock:
            events = self.state.advance(span)
            self._live_origin = (self._live_origin[0], self._live_origin[1] + span)
        log.info("sandbox.zendesk.advanced", seconds=span, events=sum(events.values()))
        return events

    def rate(self, ticket_id: int, score: str, comment: str | None = None) -> int:
        """A customer rates a solved ticket ``good`` or ``bad`` now (for demos and tests that
        need a rating at a known moment); returns the rating id."""
        if score not in ("good", "bad"):
            raise ValueError(f"score must be 'good' or 'bad', not {score!r}")
        with self._lock:
            self._catch_up()
            return self.state.customer_rates(ticket_id, score == "good", comment).id

    def system_touch(self, count: int) -> list[int]:
        """Give ``count`` tickets the current second as generated_timestamp (a bulk system
        change, as when Zendesk updates many tickets at once)."""
        with self._lock:
            return self.state.system_touch(count)

    @property
    def counters(self) -> dict[str, Any]:
        with self._lock:
            snap = dict(self._counters)
            snap["by_kind"] = dict(self._counters["by_kind"])
            snap["by_status"] = dict(self._counters["by_status"])
            return snap

    @property
    def writes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(w) for w in self._writes]

    def _catch_up(self) -> None:
        if not self._live:
            return
        mono0, now0 = self._live_origin
        target = now0 + int((self._monotonic() - mono0) * self.time_scale)
        if target > self.state.now:
            self.state.advance(target - self.state.now)

    def _count(self, key: str, sub: str | None = None) -> None:
        with self._lock:
            if sub is None:
                self._counters[key] += 1
            else:
                self._counters[key][sub] = self._counters[key].get(sub, 0) + 1

    # ---------------------------------------------------------------- request handling

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, client: str
    ) -> tuple[int, bytes, dict[str, str]]:
        split = urlsplit(raw_path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        base = f"http://{headers.get('host') or f'{self.host}:{self.port}'}"
        if path.startswith("/_sandbox/"):
            return self._control(method, path, body, client)
        kind = _kind(method, path)
        self._count("requests")
        self._count("by_kind", kind)
        out_headers: dict[str, str] = {}
        request = _Request(method, path, query, body, base)
        refused = self._admit(headers, path, out_headers)
        status, payload, extra = refused or self._api(request)
        out_headers.update(extra)
        self._count("by_status", str(status))
        if status == 429:
            self._count("rate_limited")
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return status, data, out_headers

    def _admit(self, headers: dict[str, str], path: str, out: dict[str, str]) -> Response | None:
        """Authentication and the rate-limit budgets: a refusal, or None to go on."""
        if not self._authorized(headers.get("authorization", "")):
            return 401, UNAUTHORIZED, {"WWW-Authenticate": 'Basic realm="Web Password"'}
        account = self.account_limiter.take()
        _rate_headers(out, account)
        incremental = path.startswith("/api/v2/incremental/")
        if incremental:
            inc = self.incremental_limiter.take()
            out[INCREMENTAL_HEADER] = (
                f"total={inc.limit}; remaining={inc.remaining}; resets={inc.reset_header}"
            )
            if not inc.allowed:
                return (
                    429,
                    {
                        "error": "TooManyRequests",
                        "description": "Rate limit for incremental exports exceeded",
                    },
                    {"Retry-After": inc.retry_after_header},
                )
        if not account.allowed:
            return (
                429,
                {"error": "TooManyRequests", "description": "Rate limit exceeded"},
                {"Retry-After": account.retry_after_header},
            )
        return None

    def _api(self, req: _Request) -> Response:
        method, path = req.method, req.path
        is_write = method in ("PUT", "POST", "DELETE", "PATCH")
        failure = None
        for fault in self.faults.decide(path, is_write):
            if fault.kind == "latency":
                self._sleep(fault.seconds)
            else:
                failure = fault
        if failure is not None and not failure.after_apply and failure.kind != "malformed":
            self._count("faults")
            if failure.kind == "rate_limit":
                return (
                    429,
                    {"error": "TooManyRequests", "description": "Rate limit exceeded"},
                    {"Retry-After": str(max(1, round(failure.seconds)))},
                )
            return _fault_response(failure.status)
        try:
            with self._lock:
                self._catch_up()
                status, payload, extra = self._route(req)
        except ApiError as exc:
            return exc.status, exc.body, {}
        if failure is not None:
            self._count("faults")
            if failure.kind == "malformed":
                data = orjson.dumps(payload)
                return status, data[: max(1, len(data) // 2)], extra
            return _fault_response(failure.status)
        return status, payload, extra

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.email}/token:{self.token}"

    def _route(self, req: _Request) -> Response:
        for route_method, pattern, fn in _ROUTES:
            if req.method != route_method:
                continue
            m = pattern.fullmatch(req.path)
            if m:
                return fn(self, req.base, req.query, req.body, *m.groups())
        return 404, INVALID_ENDPOINT, {}

    # ---------------------------------------------------------------- endpoints

    def _export(self, base: str, query: dict[str, str], _body: bytes) -> Response:
        st = self.state
        includes = [x for x in query.get("include", "").split(",") if x in INCLUDES]
        per_page = _int_param(query, "per_page", 1000, 1, 1000)
        if ("start_time" in query) == ("cursor" in query):
            raise ApiError(
                400,
                {
                    "error": "InvalidValue",
                    "description": "Give exactly one of start_time or cursor",
                },
            )
        if "start_time" in query:
            start = _int_param(query, "start_time", 0, 0, None)
            after = (start, 0)
        else:
            after = _decode_export_cursor(query["cursor"])
        page, more = st.export_after(after, st.now - EXPORT_LAG + 1, per_page)
        last = (page[-1].generated, page[-1].id) if page else after
        cursor = base64.b64encode(f"{last[0]}.0||{last[1]}|".encode()).decode()
        params = {"cursor": cursor}
        if "per_page" in query:
            params["per_page"] = str(per_page)
        if includes:
            params["include"] = ",".join(includes)
        out: dict[str, Any] = {
            "tickets": [],
            "after_url": f"{base}{EXPORT_PATH}?{urlencode(params, quote_via=quote)}",
            "before_url": None,
            "after_cursor": cursor,
            "before_cursor": None,
            "end_of_stream": not more,
        }
        self._fill_tickets(out, page, includes, base)
        return 200, out, {}

    def _fill_tickets(
        self, out: dict[str, Any], page: list[Ticket], includes: list[str], base: str
    ) -> None:
        st = self.state
        tickets = []
        inline = "metric_sets" in includes and self.metric_sets_shape == "inline"
        for t in page:
            tj = st.ticket_json(t, base)
            if inline:
                tj["metric_set"] = st.metric_json(t, base)
            tickets.append(tj)
        out["tickets"] = tickets
        if "metric_sets" in includes and not inline:
            out["metric_sets"] = [st.metric_json(t, base) for t in page]
        if "users" in includes:
            ids = unique(x for t in page for x in (t.requester_id, t.submitter_id, t.assignee_id))
            out["users"] = [self._user_fragment(i, base) for i in ids if i in st.users]
        if "groups" in includes:
            ids = unique(t.group_id for t in page)
            out["groups"] = [st.group_json(st.groups[i], base) for i in ids if i in st.groups]
        if "organizations" in includes:
            ids = unique(t.organization_id for t in page)
            out["organizations"] = [
                st.organization_json(st.organizations[i], base)
                for i in ids
                if i in st.organizations
            ]

    def _user_fragment(self, uid: int, base: str) -> orjson.Fragment:
        """A user's JSON, serialized once: users do not change, and a full export page
        sideloads about as many users as it has tickets."""
        key = (uid, base)
        cached = self._user_cache.get(key)
        if cached is None:
            raw = orjson.dumps(self.state.user_json(self.state.users[uid], base))
            # orjson's result keeps its ~8 KiB growth buffer; an exact copy is ~1 KiB.
            cached = orjson.Fragment(bytes(memoryview(raw)))
            self._user_cache[key] = cached
        return cached

    def _ratings(self, base: str, query: dict[str, str], _body: bytes) -> Response:
        st = self.state
        if self.csat_mode != "legacy":
            return 403, LEGACY_DISABLED, {}  # legacy CSAT is not the account's active one
        score = query.get("score") or None
        if score is not None and score not in SCORES:
            raise ApiError(
                400,
                {
                    "error": "InvalidValue",
                    "description": f"score: must be one of {', '.join(SCORES)}",
                },
            )
        start = _int_param(query, "start_time", None, 0, None)
        end = _int_param(query, "end_time", None, 0, None)

        def fetch(after_id: int, limit: int) -> tuple[list[Any], bool]:
            return st.ratings_matching(score, start, end, after_id, limit)

        filters: dict[str, str] = {
            k: query[k] for k in ("score", "start_time", "end_time") if k in query
        }
        return _paginate(
            base,
            "/api/v2/satisfaction_ratings.json",
            "satisfaction_ratings",
            query=query,
            filters=filters,
            fetch=fetch,
            render=lambda r: st.rating_json(r, base),
            ident=lambda r: r.id,
        )

    def _users(self, base: str, query: dict[str, str], _body: bytes) -> Response:
        st = self.state
        role = query.get("role") or None
        ids = st.user_ids

        def fetch(after_id: int, limit: int) -> tuple[list[Any], bool]:
            return _scan_ids(
                ids,
                after_id,
                limit,
                lambda i: st.users[i],
                lambda u: role is None or u.role == role,
            )

        filters = {"role": role} if role else {}
        return _paginate(
            base,
            "/api/v2/users.json",
            "users",
            query=query,
            filters=filters,
            fetch=fetch,
            render=lambda u: st.user_json(u, base),
            ident=lambda u: u.id,
        )

    def _groups(self, base: str, query: dict[str, str], _body: bytes) -> Response:
        st = self.state
        ids = sorted(st.groups)
        return _paginate(
            base,
            "/api/v2/groups.json",
            "groups",
            query=query,
            filters={},
            fetch=lambda a, n: _scan_ids(ids, a, n, lambda i: st.groups[i]),
            render=lambda g: st.group_json(g, base),
            ident=lambda g: g.id,
        )

    def _orgs(self, base: str, query: dict[str, str], _body: bytes) -> Response:
        st = self.state
        ids = sorted(st.organizations)
        return _paginate(
            base,
            "/api/v2/organizations.json",
            "organizations",
            query=query,
            filters={},
            fetch=lambda a, n: _scan_ids(ids, a, n, lambda i: st.organizations[i]),
            render=lambda o: st.organization_json(o, base),
            ident=lambda o: o.id,
        )

    def _me(self, base: str, _query: dict[str, str], _body: bytes) -> Response:
        return 200, {"user": self.state.user_json(self.state.users[self.state.admin_id], base)}, {}

    def _user(self, base: str, _query: dict[str, str], _body: bytes, uid: str) -> Response:
        user = self.state.users.get(int(uid))
        if user is None:
            raise ApiError(404, NOT_FOUND)
        return 200, {"user": self.state.user_json(user, base)}, {}

    def _show_many(self, base: str, query: dict[str, str], _body: bytes) -> Response:
        raw = query.get("ids", "")
        try:
            ids = [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            raise ApiError(
                400,
                {"error": "InvalidValue", "description": "ids: comma-separated user ids expected"},
            ) from None
        if len(ids) > 100:
            raise ApiError(
                400, {"error": "InvalidValue", "description": "ids: at most 100 ids per request"}
            )
        users = [
            self.state.user_json(self.state.users[i], base)
            for i in unique(ids)
            if i in self.state.users
        ]
        return (
            200,
            {"users": users, "next_page": None, "previous_page": None, "count": len(users)},
            {},
        )

    def _live_ticket(self, tid: str) -> Ticket:
        t = self.state.tickets.get(int(tid))
        if t is None or t.status == "deleted":
            raise ApiError(404, NOT_FOUND)
        return t

    def _tickets(self, base: str, query: dict[str, str], _body: bytes) -> Response:
        """``GET /tickets?external_id=``: Zendesk's lookup by external id (offset envelope)."""
        external_id = query.get("external_id")
        if not external_id:
            raise ApiError(
                400,
                {
                    "error": "InvalidPaginationParameter",
                    "description": "this sandbox lists "
                    "tickets by external_id only; use the incremental export for all tickets",
                },
            )
        found = [
            self.state.ticket_json(t, base) for t in self.state.tickets_by_external_id(external_id)
        ]
        return (
            200,
            {"tickets": found, "next_page": None, "previous_page": None, "count": len(found)},
            {},
        )

    def _ticket(self, base: str, _query: dict[str, str], _body: bytes, tid: str) -> Response:
        return 200, {"ticket": self.state.ticket_json(self._live_ticket(tid), base)}, {}

    def _metrics(self, base: str, _query: dict[str, str], _body: bytes, tid: str) -> Response:
        return 200, {"ticket_metric": self.state.metric_json(self._live_ticket(tid), base)}, {}

    def _comments(self, base: str, query: dict[str, str], _body: bytes, tid: str) -> Response:
        t = self._live_ticket(tid)
        comments = self.state.comments(t)
        by_id = {c.id: c for c in comments}
        ids = [c.id for c in comments]
        return _paginate(
            base,
            f"/api/v2/tickets/{t.id}/comments.json",
            "comments",
            query=query,
            filters={},
            fetch=lambda a, n: _scan_ids(ids, a, n, lambda i: by_id[i]),
            render=lambda c: self.state.comment_json(c, t),
            ident=lambda c: c.id,
        )

    def _update(self, base: str, _query: dict[str, str], body: bytes, tid: str) -> Response:
        data = _json_body(body)
        try:
            t, events = self.state.update_ticket(int(tid), data, self.state.admin_id)
        except WriteError as exc:
            raise ApiError(exc.status, exc.body) from None
        self._log_write("PUT", f"/api/v2/tickets/{t.id}.json", data, t.id)
        return 200, {"ticket": self.state.ticket_json(t, base), "audit": self._audit(t, events)}, {}

    def _create(self, base: str, _query: dict[str, str], body: bytes) -> Response:
        data = _json_body(body)
        try:
            t = self.state.create_ticket(data, self.state.admin_id)
        except WriteError as exc:
            raise ApiError(exc.status, exc.body) from None
        self._log_write("POST", "/api/v2/tickets.json", data, t.id)
        events = [{"type": "Create", "field_name": "status", "value": t.status}]
        return (
            201,
            {"ticket": self.state.ticket_json(t, base), "audit": self._audit(t, events)},
            {"Location": f"{base}/api/v2/tickets/{t.id}.json"},
        )

    def _audit(self, t: Ticket, events: list[dict[str, Any]]) -> dict[str, Any]:
        st = self.state
        audit_id = st.next_audit_id
        st.next_audit_id += 1
        numbered = [{"id": audit_id * 10 + i + 1, **e} for i, e in enumerate(events)]
        return {
            "id": audit_id,
            "ticket_id": t.id,
            "created_at": iso(t.updated),
            "author_id": st.admin_id,
            "metadata": {"system": {}, "custom": {}},
            "events": numbered,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
        }

    def _log_write(self, method: str, path: str, body: dict[str, Any], ticket_id: int) -> None:
        self._writes.append(
            {
                "method": method,
                "path": path,
                "body": body,
                "time": iso(self.state.now),
                "ticket_id": ticket_id,
            }
        )
        self._counters["writes"] += 1

    # ---------------------------------------------------------------- control endpoints

    def _control(
        self, method: str, path: str, body: bytes, client: str
    ) -> tuple[int, bytes, dict[str, str]]:
        if not ipaddress.ip_address(client).is_loopback:
            return (
                403,
                orjson.dumps(
                    {
                        "error": "Forbidden",
                        "description": "control endpoints are for loopback clients only",
                    }
                ),
                {},
            )
        try:
            data = _json_body(body) if body.strip() else {}
            if method == "POST" and path == "/_sandbox/advance":
                events = self.advance(
                    minutes=float(data.get("minutes", 0)), seconds=float(data.get("seconds", 0))
                )
                result: Any = {"now": iso(self.state.now), "events": events}
            elif method == "POST" and path == "/_sandbox/faults":
                if data.pop("clear", False):
                    self.faults.clear()
                if data:
                    self.faults.inject(**data)
                result = {"rules": self.faults.rules()}
            elif method == "POST" and path == "/_sandbox/touch":
                result = {"ticket_ids": self.system_touch(int(data.get("count", 1)))}
            elif method == "GET" and path == "/_sandbox/counters":
                result = self.counters
            elif method == "GET" and path == "/_sandbox/writes":
                result = {"writes": self.writes}
            elif method == "GET" and path == "/_sandbox/now":
                result = {"now": iso(int(self.now.timestamp()))}
            else:
                return 404, orjson.dumps(INVALID_ENDPOINT), {}
        except ApiError as exc:
            return exc.status, orjson.dumps(exc.body), {}
        except (TypeError, ValueError) as exc:
            return 400, orjson.dumps({"error": "InvalidValue", "description": str(exc)}), {}
        return 200, orjson.dumps(result), {}


# -------------------------------------------------------------------- helpers


def _kind(method: str, path: str) -> str:  # noqa: PLR0911 (a lookup table)
    if path.startswith("/api/v2/incremental/tickets"):
        return "incremental_tickets"
    if path.startswith("/api/v2/satisfaction_ratings"):
        return "satisfaction_ratings"
    if "/survey_responses" in path:
        return "survey_responses"
    if path.startswith("/api/v2/tickets"):
        if method != "GET":
            return "ticket_writes"
        if path.endswith("/metrics.json"):
            return "ticket_metrics"
        if path.endswith("/comments.json"):
            return "ticket_comments"
        return "tickets"
    for name in ("users", "groups", "organizations"):
        if path.startswith(f"/api/v2/{name}"):
            return name
    return "other"


def _fault_response(status: int) -> Response:
    if status == 429:
        body = {"error": "TooManyRequests", "description": "Sandbox fault: rate limited"}
        return 429, body, {"Retry-After": "1"}
    return status, {"error": "InternalError", "description": f"Sandbox fault: HTTP {status}"}, {}


def _rate_headers(out: dict[str, str], d: Decision) -> None:
    out["X-Rate-Limit"] = str(d.limit)
    out["X-Rate-Limit-Remaining"] = str(d.remaining)
    out["ratelimit-limit"] = str(d.limit)
    out["ratelimit-remaining"] = str(d.remaining)
    out["ratelimit-reset"] = d.reset_header


def _int_param(
    query: dict[str, str], name: str, default: int | None, low: int, high: int | None
) -> Any:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(name, f"must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise _bad_request(name, f"must be {bound}, got {value}")
    return value


def _decode_export_cursor(raw: str) -> tuple[int, int]:
    try:
        text = base64.b64decode(raw, validate=True).decode()
        ts, _, rest = text.partition("||")
        return int(float(ts)), int(rest.rstrip("|"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_request("cursor", "not a cursor this endpoint issued") from None


def _encode_list_cursor(last_id: int) -> str:
    inner = base64.b64encode(str(last_id).encode()).decode()
    return base64.b64encode(orjson.dumps({"o": "id", "v": inner})).decode()


def _decode_list_cursor(raw: str) -> int:
    try:
        doc = orjson.loads(base64.b64decode(raw, validate=True))
        return int(base64.b64decode(doc["v"]).decode())
    except (
        binascii.Error,
        orjson.JSONDecodeError,
        KeyError,
        TypeError,
        ValueError,
        UnicodeDecodeError,
    ):
        raise _bad_request("page[after]", "not a cursor this endpoint issued") from None


def _scan_ids(
    ids: list[int],
    after_id: int,
    limit: int,
    get: Callable[[int], Any],
    keep: Callable[[Any], bool] | None = None,
) -> tuple[list[Any], bool]:
    out: list[Any] = []
    for i in ids[bisect.bisect_right(ids, after_id) :]:
        obj = get(i)
        if keep is not None and not keep(obj):
            continue
        if len(out) == limit:
            return out, True
        out.append(obj)
    return out, False


def _paginate(
    base: str,
    path: str,
    key: str,
    *,
    query: dict[str, str],
    filters: dict[str, str],
    fetch: Callable[[int, int], tuple[list[Any], bool]],
    render: Callable[[Any], dict[str, Any]],
    ident: Callable[[Any], int],
) -> Response:
    """Cursor pagination when any ``page[...]`` parameter is given (Zendesk's recommended
    style, what zenpy sends), offset pagination (``page``, ``per_page``) otherwise."""
    cursor_mode = any(k.startswith("page[") for k in query)
    if cursor_mode:
        if "page[before]" in query:
            raise _bad_request("page[before]", "backwards paging is not supported by the sandbox")
        size = _int_param(query, "page[size]", 100, 1, 100)
        after_id = _decode_list_cursor(query["page[after]"]) if query.get("page[after]") else 0
        items, more = fetch(after_id, size)
        after = _encode_list_cursor(ident(items[-1])) if items else None
        before = _encode_list_cursor(ident(items[0]) - 1) if items else None

        def link(name: str, value: str | None) -> str | None:
            if value is None:
                return None
            params = {**filters, name: value, "page[size]": str(size)}
            return f"{base}{path}?{urlencode(params, quote_via=quote)}"

        return (
            200,
            {
                key: [render(x) for x in items],
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": before},
                "links": {"prev": link("page[before]", before), "next": link("page[after]", after)},
            },
            {},
        )
    per_page = _int_param(query, "per_page", 100, 1, 100)
    page = _int_param(query, "page", 1, 1, None)
    everything, _ = fetch(0, 10**9)
    chunk = everything[(page - 1) * per_page : page * per_page]

    def page_url(n: int) -> str:
        params = {**filters, "page": str(n), "per_page": str(per_page)}
        return f"{base}{path}?{urlencode(params, quote_via=quote)}"

    has_next = page * per_page < len(everything)
    return (
        200,
        {
            key: [render(x) for x in chunk],
            "next_page": page_url(page + 1) if has_next else None,
            "previous_page": page_url(page - 1) if page > 1 else None,
            "count": len(everything),
        },
        {},
    )


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, {"error": "InvalidValue", "description": f"Request body is not valid JSON: {exc}"}
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            400, {"error": "InvalidValue", "description": "Request body must be a JSON object"}
        )
    return data


_ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
    ("GET", re.compile(r"/api/v2/incremental/tickets/cursor(?:\.json)?"), ZendeskSandbox._export),
    ("GET", re.compile(r"/api/v2/satisfaction_ratings(?:\.json)?"), ZendeskSandbox._ratings),
    ("GET", re.compile(r"/api/v2/users/me(?:\.json)?"), ZendeskSandbox._me),
    ("GET", re.compile(r"/api/v2/users/show_many(?:\.json)?"), ZendeskSandbox._show_many),
    ("GET", re.compile(r"/api/v2/users/(\d+)(?:\.json)?"), ZendeskSandbox._user),
    ("GET", re.compile(r"/api/v2/users(?:\.json)?"), ZendeskSandbox._users),
    ("GET", re.compile(r"/api/v2/groups(?:\.json)?"), ZendeskSandbox._groups),
    ("GET", re.compile(r"/api/v2/organizations(?:\.json)?"), ZendeskSandbox._orgs),
    ("GET", re.compile(r"/api/v2/tickets(?:\.json)?"), ZendeskSandbox._tickets),
    ("GET", re.compile(r"/api/v2/tickets/(\d+)(?:\.json)?"), ZendeskSandbox._ticket),
    ("GET", re.compile(r"/api/v2/tickets/(\d+)/metrics(?:\.json)?"), ZendeskSandbox._metrics),
    ("GET", re.compile(r"/api/v2/tickets/(\d+)/comments(?:\.json)?"), ZendeskSandbox._comments),
    ("PUT", re.compile(r"/api/v2/tickets/(\d+)(?:\.json)?"), ZendeskSandbox._update),
    ("POST", re.compile(r"/api/v2/tickets(?:\.json)?"), ZendeskSandbox._create),
    ("GET", re.compile(r"/api/v2/guide/survey_responses(?:\.json)?"), list_responses),
    (
        "GET",
        re.compile(r"/api/v2/guide/(?:([a-z]{2}(?:-[a-z]{2})?)/)?survey_responses/([0-9A-Z]+)"),
        show_response,
    ),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: ZendeskSandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header on the sandbox's clock (which may be offset from the host's)."""
        if timestamp is None:
            timestamp = self.server.sandbox.now.timestamp()
        return super().date_time_string(timestamp)

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, data, extra = self.server.sandbox.handle(
                self.command, self.path, headers, body, self.client_address[0]
            )
        except Exception:
            log.exception("sandbox.zendesk.handler_error", path=urlsplit(self.path).path)
            status, data, extra = (
                500,
                orjson.dumps({"error": "InternalError", "description": "sandbox bug"}),
                {},
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_PUT = _serve
    do_POST = _serve
    do_DELETE = _serve
    do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # Per-request access logs would drown benchmarks; counters carry the numbers.
        return
