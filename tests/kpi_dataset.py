"""A small hand-built help desk for KPI tests; every expected number is worked out in the tests.

Timezone Europe/Berlin; the window 2026-03-28..2026-03-29 contains the switch to summer time
(Sunday 29 March 2026, 02:00 CET -> 03:00 CEST), so it lasts 47 hours:
[2026-03-27 23:00 UTC, 2026-03-29 22:00 UTC). The previous window is
[2026-03-25 23:00 UTC, 2026-03-27 23:00 UTC).

Agents: Ada (100, group Support 10), Bob (101, group Billing 11).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import (
    Group,
    Organization,
    SatisfactionRating,
    Ticket,
    TicketMetric,
    TicketTag,
    User,
)

TZ = "Europe/Berlin"
ADA, BOB = 100, 101
SUPPORT, BILLING = 10, 11
ACME, GLOBEX = 900, 901


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


SYNCED = utc(2026, 4, 1)


def ticket(
    tid: int,
    created: datetime,
    status: str = "solved",
    *,
    deleted: bool = False,
    assignee: int | None = None,
    group: int | None = None,
    requester: int | None = None,
    org: int | None = None,
    channel: str | None = "email",
) -> dict[str, Any]:
    return {
        "id": tid,
        "created_at": created,
        "updated_at": created,
        "generated_timestamp": int(created.timestamp()),
        "status": status,
        "is_deleted": deleted,
        "priority": None,
        "type": None,
        "subject": f"ticket {tid}",
        "channel": channel,
        "requester_id": requester,
        "submitter_id": requester,
        "assignee_id": assignee,
        "group_id": group,
        "organization_id": org,
        "brand_id": None,
        "tags": "",
        "raw": "{}",
        "synced_at": SYNCED,
    }


def metric(
    tid: int,
    solved: datetime | None,
    reply: int | None = None,
    reply_b: int | None = None,
    res: int | None = None,
    res_b: int | None = None,
    replies: int | None = None,
    reopens: int | None = None,
) -> dict[str, Any]:
    return {
        "ticket_id": tid,
        "metric_id": tid + 10_000,
        "solved_at": solved,
        "assignee_updated_at": None,
        "reply_time_calendar": reply,
        "reply_time_business": reply_b,
        "full_resolution_calendar": res,
        "full_resolution_business": res_b,
        "replies": replies,
        "reopens": reopens,
        "updated_at": solved,
        "raw": "{}",
    }


def rating(
    rid: int,
    tid: int,
    score: str,
    created: datetime,
    *,
    assignee: int | None = None,
    group: int | None = None,
    requester: int | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    return {
        "id": rid,
        "ticket_id": tid,
        "score": score,
        "assignee_id": assignee,
        "group_id": group,
        "requester_id": requester,
        "comment": comment,
        "reason": None,
        "reason_code": None,
        "created_at": created,
        "updated_at": created,
        "raw": "{}",
        "synced_at": SYNCED,
    }


def user(
    uid: int, name: str, email: str, role: str = "agent", org: int | None = None
) -> dict[str, Any]:
    return {
        "id": uid,
        "name": name,
        "email": email,
        "role": role,
        "active": True,
        "suspended": False,
        "organization_id": org,
        "default_group_id": None,
        "updated_at": SYNCED,
        "raw": "{}",
    }


TICKETS = [
    # created 23:30 CET on 27 March: the previous window, not the current one
    ticket(1, utc(2026, 3, 27, 22, 30), "solved", assignee=BOB, group=BILLING, requester=503),
    # created exactly at the window start (00:00 CET on 28 March): counts
    ticket(2, utc(2026, 3, 27, 23, 0), "closed", assignee=ADA, group=SUPPORT, requester=500),
    # 23:59 CEST on 29 March: the last minute of the window
    ticket(
        3,
        utc(2026, 3, 29, 21, 59),
        "solved",
        assignee=ADA,
        group=SUPPORT,
        requester=500,
        org=GLOBEX,
    ),
    # 00:00 CEST on 30 March: the window's end is exclusive
    ticket(4, utc(2026, 3, 29, 22, 0), "open", group=SUPPORT, requester=504, org=ACME),
    # deleted: never counts anywhere
    ticket(
        5,
        utc(2026, 3, 28, 10, 0),
        "open",
        deleted=True,
        assignee=ADA,
        group=SUPPORT,
        requester=505,
        org=ACME,
    ),
    ticket(
        6,
        utc(2026, 3, 28, 12, 0),
        "solved",
        assignee=BOB,
        group=BILLING,
        requester=501,
        channel="web",
    ),
    ticket(7, utc(2026, 3, 20, 9, 0), "solved", assignee=ADA, group=SUPPORT, requester=502),
    ticket(8, utc(2026, 3, 10, 9, 0), "open", group=SUPPORT, requester=506, org=ACME),
    ticket(9, utc(2026, 3, 20, 9, 0), "pending", assignee=ADA, group=SUPPORT, requester=503),
]

METRICS = [
    metric(1, utc(2026, 3, 29, 22, 0), 5, 5, 10, 10, 1, 0),  # solved at the end: not in window
    metric(2, utc(2026, 3, 28, 8, 0), 10, 5, 100, 50, 1, 0),
    metric(3, utc(2026, 3, 29, 21, 30), 30, None, 300, 150, 3, 1),
    metric(5, utc(2026, 3, 28, 11, 0), 1, 1, 1, 1, 1, 0),  # deleted ticket
    metric(6, utc(2026, 3, 28, 13, 0), None, None, 60, None, 0, 0),
    metric(7, utc(2026, 3, 28, 9, 0), 20, 8, 1000, 400, 2, 0),
    metric(9, utc(2026, 3, 26, 12, 0), 15, 15, 200, 100, 2, 1),  # solved, later reopened
]

RATINGS = [
    rating(
        1,
        2,
        "good",
        utc(2026, 3, 28, 9, 0),
        assignee=ADA,
        group=SUPPORT,
        requester=500,
        comment="Thanks, Ada sorted it in minutes!",
    ),
    # at rating time the ticket belonged to Bob; it is Ada's now
    rating(
        2,
        3,
        "bad",
        utc(2026, 3, 29, 21, 45),
        assignee=BOB,
        group=SUPPORT,
        requester=500,
        comment="Still broken",
    ),
    rating(3, 6, "offered", utc(2026, 3, 28, 14, 0), assignee=BOB, group=BILLING, requester=501),
    rating(4, 7, "good", utc(2026, 3, 28, 10, 0), assignee=ADA, group=SUPPORT, requester=502),
    rating(5, 5, "bad", utc(2026, 3, 28, 12, 0), assignee=ADA, group=SUPPORT),  # deleted ticket
    rating(6, 4, "good", utc(2026, 3, 29, 22, 0), group=SUPPORT),  # after the window
    rating(7, 1, "unoffered", utc(2026, 3, 28, 15, 0), assignee=BOB, group=BILLING),
]

TAGS = [(2, "hooray"), (3, "lost_cause"), (7, "hooray"), (5, "hooray"), (9, "hooray"), (2, "vip")]

USERS = [
    user(ADA, "Ada Agent", "ada@example.com"),
    user(BOB, "Bob Agent", "bob@example.com"),
    user(500, "Carla Customer", "carla@example.org", role="end-user", org=GLOBEX),
    user(503, "Dan Doe", "dan@example.org", role="end-user"),
]


def load(db: Database) -> None:
    with db.engine.begin() as conn:
        db.upsert(conn, Ticket, TICKETS)
        db.upsert(conn, TicketMetric, METRICS, key=("ticket_id",))
        db.upsert(conn, SatisfactionRating, RATINGS)
        db.upsert(
            conn, TicketTag, [{"ticket_id": t, "tag": g} for t, g in TAGS], key=("ticket_id", "tag")
        )
        db.upsert(conn, User, USERS)
        db.upsert(
            conn,
            Group,
            [
                {"id": SUPPORT, "name": "Support", "deleted": False, "raw": "{}"},
                {"id": BILLING, "name": "Billing", "deleted": False, "raw": "{}"},
            ],
        )
        db.upsert(
            conn,
            Organization,
            [
                {"id": ACME, "name": "Acme", "raw": "{}"},
                {"id": GLOBEX, "name": "Globex", "raw": "{}"},
            ],
        )


def loaded_config(tmp_path: Path, extra_yaml: str = "") -> Path:
    """A SQLite file in ``tmp_path`` holding this dataset, and a configuration (Europe/Berlin)
    pointing at it, with ``extra_yaml`` appended; returns the configuration's path."""
    url = f"sqlite:///{tmp_path / 'deskbot.sqlite'}"
    database = Database(url)
    database.upgrade()
    load(database)
    database.dispose()
    path = tmp_path / "deskbot.yaml"
    path.write_text(
        "timezone: Europe/Berlin\n"
        f"data_dir: {tmp_path}\n"
        "zendesk:\n  subdomain: example\n"
        f"storage:\n  url: {url}\n" + extra_yaml,
        encoding="utf-8",
    )
    return path
