"""SQLModel tables of the local copy of the help desk — tickets, tags, metric sets, users,
groups, organisations, CSAT ratings — with the sync's state and the per-day KPI rollups.

Kept apart from ``tables.py`` (which re-exports them beside every other table) so the commands
that only read the copy (``deskbot report``, ``health``) do not build the models of every
feature at start-up. Conventions: see ``tables.py``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

__all__ = [
    "Group",
    "KpiRollupDay",
    "KpiRollupLabel",
    "KpiRollupState",
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


class KpiRollupState(SQLModel, table=True):
    """One row (``id = 1``, written by the migration): whether the per-day rollups are built,
    for which timezone and rollup version. Every writer of tickets or ratings updates this row
    first (``writes``), so rollup maintenance and a rebuild never interleave."""

    __tablename__ = "kpi_rollup_state"

    id: int = Field(primary_key=True)
    status: str = Field(max_length=16)  # "empty" (not built: reports read the tickets) | "ready"
    timezone: str | None = Field(default=None, max_length=64)
    version: int = 0
    writes: int = Field(default=0, sa_type=BigInteger)
    rebuilt_at: datetime | None = None
    tickets: int = Field(default=0, sa_type=BigInteger)  # seen by the last rebuild
    ratings: int = Field(default=0, sa_type=BigInteger)


class KpiRollupDay(SQLModel, table=True):
    """What one local day holds for one (ticket group, ticket assignee) — 0 for none; ratings
    under the rating's own group and assignee; ``group_id = assignee_id = -1`` is the day's
    team row (the sum of the others). ``domain/rollups.py`` defines every field. Multisets
    are packed little-endian int64 (value, count) pairs."""

    __tablename__ = "kpi_rollup_days"
    __table_args__ = (
        Index("ix_kpi_rollup_days_group", "group_id", "day"),
        Index("ix_kpi_rollup_days_assignee", "assignee_id", "day"),
    )

    day: date = Field(primary_key=True)
    group_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    assignee_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    created: int = 0
    solved: int = 0
    with_replies: int = 0
    one_touch: int = 0
    with_reopens: int = 0
    reopened: int = 0
    replies: int = Field(default=0, sa_type=BigInteger)
    backlog_in: int = 0
    backlog_out: int = 0
    good: int = 0
    bad: int = 0
    offered: int = 0
    frt: bytes = b""
    frt_business: bytes = b""
    resolution: bytes = b""
    resolution_business: bytes = b""
    requesters: bytes = b""


class KpiRollupLabel(SQLModel, table=True):
    """Per label, local day, ticket group and assignee (0 for none; -1/-1 the day's team
    row): ``kind="channel"`` counts the tickets created that day in that channel, ``"tag"``
    the tickets solved that day carrying that tag."""

    __tablename__ = "kpi_rollup_labels"
    __table_args__ = (
        Index("ix_kpi_rollup_labels_group", "kind", "group_id", "label", "day"),
        Index("ix_kpi_rollup_labels_assignee", "kind", "assignee_id", "label", "day"),
        {"sqlite_with_rowid": False},
    )

    kind: str = Field(primary_key=True, max_length=16)
    label: str = Field(primary_key=True, max_length=255)
    day: date = Field(primary_key=True)
    group_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    assignee_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    n: int = 0
