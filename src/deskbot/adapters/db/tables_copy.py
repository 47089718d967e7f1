"""SQLModel tables of the local copy of the help desk — tickets, tags, metric sets, users,
groups, organisations, CSAT ratings — with the sync's state and the per-day KPI rollups.

Kept apart from ``tables.py`` (which re-exports them beside every other table) so the commands
that only read the copy (``deskbot report``, ``health``) do not build the models of every
feature at start-up. Conventions: see ``tables.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlmodel import Field, SQLModel

__all__ = [
    "KPI_ROLLUP_DAYS",
    "KPI_ROLLUP_LABELS",
    "KPI_ROLLUP_MONTHS",
    "KPI_ROLLUP_STATE",
    "Group",
    "Organization",
    "SatisfactionRating",
    "SyncState",
    "Ticket",
    "TicketMetric",
    "TicketTag",
    "User",
]


def _bigint_pk() -> int:
    """A Zendesk id used as the primary key (never generated locally)."""
    return Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))  # type: ignore[no-any-return]


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_created", "created_at"),
        Index("ix_tickets_status", "status", "is_deleted"),
        Index("ix_tickets_group_created", "group_id", "created_at"),
        Index("ix_tickets_assignee_created", "assignee_id", "created_at"),
        Index("ix_tickets_org_status", "organization_id", "status"),
    )

    id: int = _bigint_pk()
    created_at: datetime
    updated_at: datetime
    generated_timestamp: int = Field(sa_type=BigInteger)
    status: str = Field(max_length=16)  # new/open/pending/hold/solved/closed/deleted
    is_deleted: bool = False
    priority: str | None = Field(default=None, max_length=16)
    type: str | None = Field(default=None, max_length=16)
    subject: str | None = Field(default=None, sa_type=Text)
    channel: str | None = Field(default=None, max_length=64)  # via.channel
    requester_id: int | None = Field(default=None, sa_type=BigInteger)
    submitter_id: int | None = Field(default=None, sa_type=BigInteger)
    assignee_id: int | None = Field(default=None, sa_type=BigInteger)
    group_id: int | None = Field(default=None, sa_type=BigInteger)
    organization_id: int | None = Field(default=None, sa_type=BigInteger)
    brand_id: int | None = Field(default=None, sa_type=BigInteger)
    tags: str = Field(default="", sa_type=Text)  # space-separated, as Zendesk writes them
    raw: str = Field(sa_type=Text)
    synced_at: datetime


class TicketTag(SQLModel, table=True):
    """One row per (ticket, tag): team-tag counts per agent stay an indexed SQL query."""

    __tablename__ = "ticket_tags"
    __table_args__ = (Index("ix_ticket_tags_tag", "tag", "ticket_id"),)

    ticket_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    tag: str = Field(primary_key=True, max_length=255)


class TicketMetric(SQLModel, table=True):
    """A ticket's metric set (from the ``metric_sets`` sideload or ``ticket.metric_set``)."""

    __tablename__ = "ticket_metrics"
    __table_args__ = (Index("ix_ticket_metrics_solved", "solved_at"),)

    ticket_id: int = _bigint_pk()
    metric_id: int | None = Field(default=None, sa_type=BigInteger)
    solved_at: datetime | None = None
    assignee_updated_at: datetime | None = None
    reply_time_calendar: int | None = None  # reply_time_in_minutes.calendar
    reply_time_business: int | None = None
    full_resolution_calendar: int | None = None  # full_resolution_time_in_minutes.calendar
    full_resolution_business: int | None = None
    replies: int | None = None
    reopens: int | None = None
    updated_at: datetime | None = None
    raw: str = Field(sa_type=Text)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_role", "role"),)

    id: int = _bigint_pk()
    name: str | None = Field(default=None, sa_type=Text)
    email: str | None = Field(default=None, sa_type=Text)  # kept for lookups; never logged
    role: str | None = Field(default=None, max_length=32)
    active: bool = True
    suspended: bool = False
    organization_id: int | None = Field(default=None, sa_type=BigInteger)
    default_group_id: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime | None = None
    raw: str = Field(sa_type=Text)


class Group(SQLModel, table=True):
    __tablename__ = "groups"

    id: int = _bigint_pk()
    name: str = Field(sa_type=Text)
    deleted: bool = False
    updated_at: datetime | None = None
    raw: str = Field(sa_type=Text)


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"

    id: int = _bigint_pk()
    name: str = Field(sa_type=Text)
    updated_at: datetime | None = None
    raw: str = Field(sa_type=Text)


class SatisfactionRating(SQLModel, table=True):
    """A CSAT rating. ``assignee_id``/``group_id`` are those at rating time (never rewritten
    from the ticket: agents get reassigned)."""

    __tablename__ = "satisfaction_ratings"
    __table_args__ = (
        Index("ix_ratings_created", "created_at"),
        Index("ix_ratings_ticket", "ticket_id"),
        Index("ix_ratings_assignee_created", "assignee_id", "created_at"),
        Index("ix_ratings_group_created", "group_id", "created_at"),
        # the follow-up pass reads only ratings changed since its look-back (migration 0011)
        Index("ix_ratings_updated", "updated_at"),
    )

    id: int = _bigint_pk()
    ticket_id: int | None = Field(default=None, sa_type=BigInteger)
    score: str = Field(max_length=32)  # offered / unoffered / good / bad (+ *_with_comment)
    assignee_id: int | None = Field(default=None, sa_type=BigInteger)
    group_id: int | None = Field(default=None, sa_type=BigInteger)
    requester_id: int | None = Field(default=None, sa_type=BigInteger)
    comment: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, sa_type=Text)
    reason_code: int | None = None
    created_at: datetime
    updated_at: datetime
    raw: str = Field(sa_type=Text)
    synced_at: datetime
    # Which CSAT the row comes from (migration 0010): "legacy" (satisfaction ratings; null on
    # rows synced before) or "survey_responses" (Zendesk's current CSAT, docs/SYNC.md).
    source: str | None = Field(default=None, max_length=32)
    survey_response_id: str | None = Field(default=None, max_length=64)
    raw_score: int | None = None  # the survey answer as given (1..scale)
    scale: int | None = None  # its scale's top (5 on a 1-5 scale, 2 on a 2-point one)
    # Whose rating it is: "rating_time" (the rating's own assignee/group, legacy) or
    # "ticket_at_solve" / "ticket_at_sync" (the ticket's when deskbot first stored the response).
    attribution: str | None = Field(default=None, max_length=32)


class SyncState(SQLModel, table=True):
    """Where each stream stands. Written in the same transaction as the page it describes."""

    __tablename__ = "sync_state"

    stream: str = Field(primary_key=True, max_length=64)
    cursor: str | None = Field(default=None, sa_type=Text)  # opaque export cursor
    position: int | None = Field(default=None, sa_type=BigInteger)  # epoch seconds
    rows_total: int = Field(default=0, sa_type=BigInteger)
    pages_total: int = Field(default=0, sa_type=BigInteger)
    backfill_complete: bool = False
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = None
    updated_at: datetime | None = None


# -- the per-day KPI rollups -------------------------------------------------------------------
# Plain SQLAlchemy tables on the same metadata: aggregates written and read in bulk, never
# loaded as models (and building a SQLModel class costs a cold command ~5 ms each).

KPI_ROLLUP_STATE = Table(
    "kpi_rollup_state",
    SQLModel.metadata,
    # One row (id 1, written by the migration): whether the rollups are built, for which
    # timezone and rollup version. Every writer of tickets or ratings updates it first
    # (``writes``), so rollup maintenance and a rebuild never interleave.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),  # "empty" (reports read the tickets) | "ready"
    Column("timezone", String(64)),
    Column("version", Integer, nullable=False),
    Column("writes", BigInteger, nullable=False),
    Column("rebuilt_at", DateTime(timezone=True)),
    Column("tickets", BigInteger, nullable=False),  # seen by the last rebuild
    Column("ratings", BigInteger, nullable=False),
)


def _cell_columns() -> list[Column[Any]]:
    """A rollup cell: what one span (a local day, or a calendar month keyed by its first day)
    holds for one (ticket group, ticket assignee) — 0 for none; ratings under the rating's own
    group and assignee; ``group_id = assignee_id = -1`` is the span's team row (the sum of the
    others). ``domain/rollups.py`` defines every field. Multisets are packed little-endian
    int64 (value, count) pairs."""
    counts = ["created", "solved", "with_replies", "one_touch", "with_reopens", "reopened"]
    return [
        Column("day", Date, primary_key=True),
        Column("group_id", BigInteger, primary_key=True, autoincrement=False),
        Column("assignee_id", BigInteger, primary_key=True, autoincrement=False),
        *[Column(name, Integer, nullable=False) for name in counts],
        Column("replies", BigInteger, nullable=False),
        *[
            Column(name, Integer, nullable=False)
            for name in ("backlog_in", "backlog_out", "good", "bad", "offered")
        ],
        *[
            Column(name, LargeBinary, nullable=False)
            for name in ("frt", "frt_business", "resolution", "resolution_business", "requesters")
        ],
    ]


def _cells_table(name: str) -> Table:
    return Table(
        name,
        SQLModel.metadata,
        *_cell_columns(),
        Index(f"ix_{name}_group", "group_id", "day"),
        Index(f"ix_{name}_assignee", "assignee_id", "day"),
    )


# One local day's cells.
KPI_ROLLUP_DAYS = _cells_table("kpi_rollup_days")
# One calendar month's cells: the sums of its days', so a long window reads its whole months
# here and only its ragged ends day by day.
KPI_ROLLUP_MONTHS = _cells_table("kpi_rollup_months")

# Per label, local day, ticket group and assignee (0 for none; -1/-1 the day's team row):
# kind "channel" counts the tickets created that day in that channel, "tag" the tickets solved
# that day carrying that tag, "bad_org" / "bad_requester" / "bad_nobody" the bad ratings by
# customer (under the rating's group and assignee). Keyed (kind, group, day, …): the team's and
# a group's rows of a window are one range; an agent's come through (kind, assignee_id, day), a
# list of tags through (kind, label, day) — both carry ``n``, so they answer on their own.
KPI_ROLLUP_LABELS = Table(
    "kpi_rollup_labels",
    SQLModel.metadata,
    Column("kind", String(16), primary_key=True),
    Column("group_id", BigInteger, primary_key=True, autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("label", String(255), primary_key=True),
    Column("assignee_id", BigInteger, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Index("ix_kpi_rollup_labels_assignee", "kind", "assignee_id", "day", "label", "n"),
    Index("ix_kpi_rollup_labels_label", "kind", "label", "day", "n"),
    sqlite_with_rowid=False,
)
