"""What a sync moves around: pages of mapped records and where each stream stands.

Pure data (no I/O). The Zendesk adapter turns an HTTP page into a ``TicketPage`` or a
``RatingPage``; the store applies one page and the stream's new ``StreamState`` in a single
transaction; the sync service decides what to fetch next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Row = dict[str, Any]

TICKETS = "tickets"
SATISFACTION_RATINGS = "satisfaction_ratings"
STREAMS: tuple[str, ...] = (TICKETS, SATISFACTION_RATINGS)


@dataclass(slots=True)
class PageRecords:
    """Rows for each table, ready for idempotent upserts (keys are column names)."""

    tickets: list[Row] = field(default_factory=list)
    ticket_tags: list[Row] = field(default_factory=list)
    ticket_metrics: list[Row] = field(default_factory=list)
    users: list[Row] = field(default_factory=list)
    groups: list[Row] = field(default_factory=list)
    organizations: list[Row] = field(default_factory=list)
    ratings: list[Row] = field(default_factory=list)
    # A ticket's ``satisfaction_rating`` (id, score, comment, reason): applied to ratings
    # already stored, so a change (bad → good) is followed even outside the ratings window.
    rating_changes: list[Row] = field(default_factory=list)
    # A good/bad rating seen only on a ticket is created from it (legacy CSAT: the ratings
    # window may have missed it). Off with CSAT survey responses, whose refresh re-reads them.
    create_missing_ratings: bool = True

    @property
    def primary_rows(self) -> int:
        """Rows of the stream itself (tickets or ratings), not its sideloads."""
        return len(self.tickets) + len(self.ratings)


@dataclass(frozen=True, slots=True)
class TicketPage:
    """One page of the cursor-based incremental ticket export."""

    records: PageRecords
    after_cursor: str | None
    end_of_stream: bool
    # Largest generated_timestamp on the page: the export's position (never updated_at).
    max_generated_timestamp: int | None
    # Time-based export pages only: where the next page starts (epoch seconds).
    end_time: int | None = None


@dataclass(frozen=True, slots=True)
class RatingPage:
    """One page of ``/api/v2/satisfaction_ratings`` inside a time window."""

    records: PageRecords
    # Opaque token for the next page (an ``after_cursor`` or a ``next_page`` URL); None at end.
    next_page: str | None
    max_updated_at: int | None  # epoch seconds


@dataclass(slots=True)
class StreamState:
    """One row of ``sync_state``."""

    stream: str
    cursor: str | None = None
    position: int | None = None  # epoch seconds
    rows_total: int = 0
    pages_total: int = 0
    backfill_complete: bool = False
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
