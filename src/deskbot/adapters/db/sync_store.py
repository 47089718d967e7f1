"""The sync's side of the store: apply a page and its stream state in one transaction.

Satisfies ``deskbot.ports.SyncStore``. ``apply_page`` writes every table a page touches
(tickets, their tags and metric sets, the sideloaded users/groups/organizations, ratings) and
the stream's ``sync_state`` row inside one transaction: a crash at any point leaves either the
whole page with its cursor, or neither. Every write is an idempotent upsert, so re-applying a
page (after a crash before the commit was acknowledged) changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection

from deskbot.adapters.db.rollups import RollupWriter
from deskbot.adapters.db.store import Database, utc
from deskbot.adapters.db.tables import (
    Group,
    Organization,
    SatisfactionRating,
    SyncState,
    Ticket,
    TicketMetric,
    TicketTag,
    User,
)
from deskbot.domain.sync import PageRecords, StreamState
from deskbot.errors import SyncConflict


def _aware(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


_STATE_TABLE: Any = SyncState.__table__  # type: ignore[attr-defined]
_TAGS_TABLE: Any = TicketTag.__table__  # type: ignore[attr-defined]
_RATINGS_TABLE: Any = SatisfactionRating.__table__  # type: ignore[attr-defined]
# Scores worth a row before the ratings endpoint brings it: what KPIs and follow-ups read.
_CREATABLE = frozenset({"good", "bad", "good_with_comment", "bad_with_comment"})


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merged_raw(raw: str | None, change: dict[str, Any], changed_at: datetime | None) -> str:
    """The stored rating JSON with the ticket's newer values (as the endpoint would send)."""
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    body.update({k: change[k] for k in ("score", "comment", "reason")})
    if changed_at is not None:
        body["updated_at"] = _iso(changed_at)
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _rating_from_ticket(change: dict[str, Any]) -> dict[str, Any]:
    at = change["changed_at"]
    raw = {
        **change["embedded"],
        "ticket_id": change["ticket_id"],
        "assignee_id": change["assignee_id"],
        "group_id": change["group_id"],
        "requester_id": change["requester_id"],
        "created_at": _iso(at),
        "updated_at": _iso(at),
        "deskbot_source": "ticket_export",  # replaced by the ratings endpoint's own row
    }
    return {
        "id": change["rating_id"],
        "ticket_id": change["ticket_id"],
        "score": change["score"],
        "assignee_id": change["assignee_id"],
        "group_id": change["group_id"],
        "requester_id": change["requester_id"],
        "comment": change["comment"],
        "reason": change["reason"],
        "reason_code": None,
        "created_at": at,
        "updated_at": at,
        "raw": json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str),
        "synced_at": change.get("synced_at") or datetime.now(UTC),
    }


class SqlSyncStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- reads --------------------------------------------------------------------------------

    def state(self, stream: str) -> StreamState:
        with self.database.engine.connect() as conn:
            row = (
                conn.execute(select(_STATE_TABLE).where(_STATE_TABLE.c.stream == stream))
                .mappings()
                .first()
            )
        return self._to_state(row) if row is not None else StreamState(stream=stream)

    def states(self) -> list[StreamState]:
        with self.database.engine.connect() as conn:
            rows = conn.execute(select(_STATE_TABLE).order_by(_STATE_TABLE.c.stream)).mappings()
            return [self._to_state(r) for r in rows]

    @staticmethod
    def _to_state(row: Any) -> StreamState:
        return StreamState(
            stream=row["stream"],
            cursor=row["cursor"],
            position=row["position"],
            rows_total=row["rows_total"],
            pages_total=row["pages_total"],
            backfill_complete=bool(row["backfill_complete"]),
            last_success_at=_aware(row["last_success_at"]),
            last_error=row["last_error"],
            last_error_at=_aware(row["last_error_at"]),
        )

    # -- writes -------------------------------------------------------------------------------

    def apply_page(self, records: PageRecords, state: StreamState) -> None:
        with self.database.engine.begin() as conn:
            self.write_records(conn, records)
            self._write_state(conn, state)

    def write_records(self, conn: Connection, records: PageRecords) -> None:
        db = self.database
        rollups = RollupWriter.open(db, conn)
        rollups.watch(
            ticket_ids=[
                *(t["id"] for t in records.tickets),
                *(m["ticket_id"] for m in records.ticket_metrics),
                *(t["ticket_id"] for t in records.ticket_tags),
            ],
            rating_ids=[
                *(r["id"] for r in records.ratings),
                *(c["rating_id"] for c in records.rating_changes),
            ],
        )
        db.upsert(conn, Ticket, records.tickets)
        if records.tickets:
            # Tags are replaced, not merged: a tag removed in Zendesk disappears here too.
            ids = [t["id"] for t in records.tickets]
            conn.execute(delete(_TAGS_TABLE).where(_TAGS_TABLE.c.ticket_id.in_(ids)))
            db.upsert(conn, TicketTag, records.ticket_tags, key=("ticket_id", "tag"), update=())
        db.upsert(conn, TicketMetric, records.ticket_metrics, key=("ticket_id",))
        db.upsert(conn, User, records.users)
        db.upsert(conn, Group, records.groups)
        db.upsert(conn, Organization, records.organizations)
        db.upsert(conn, SatisfactionRating, records.ratings)
        if records.rating_changes:
            self._apply_rating_changes(conn, records)
        rollups.close()

    def _apply_rating_changes(self, conn: Connection, records: PageRecords) -> None:
        """A ticket's embedded rating, applied like a ratings page would (issue 13).

        A changed rating gets its new score/comment/reason, ``updated_at`` (when the ticket
        changed with it) and ``raw``, so follow-ups see the change. A good/bad rating not
        stored (the ratings window missed it, e.g. under clock skew) is created from the
        ticket; the ratings endpoint's own row replaces it whenever a window covers it. Rows
        from CSAT survey responses are left to the CSAT refresh (``services.csat_sync``).
        Ratings on this very page (from the ratings endpoint) win over the ticket's copy.
        """
        own = {r["id"] for r in records.ratings}
        changes = {c["rating_id"]: c for c in records.rating_changes if c["rating_id"] not in own}
        if not changes:
            return
        stored = {
            r.id: r
            for r in conn.execute(
                select(
                    _RATINGS_TABLE.c.id,
                    _RATINGS_TABLE.c.score,
                    _RATINGS_TABLE.c.comment,
                    _RATINGS_TABLE.c.reason,
                    _RATINGS_TABLE.c.updated_at,
                    _RATINGS_TABLE.c.raw,
                    _RATINGS_TABLE.c.source,
                ).where(_RATINGS_TABLE.c.id.in_(list(changes)))
            )
        }
        updates: list[dict[str, Any]] = []
        created: list[dict[str, Any]] = []
        for rating_id, change in changes.items():
            row = stored.get(rating_id)
            if row is None:
                creatable = change["score"] in _CREATABLE and change["changed_at"] is not None
                if records.create_missing_ratings and creatable:
                    created.append(_rating_from_ticket(change))
                continue
            if row.source == "survey_responses":
                # A CSAT survey response: the CSAT refresh re-reads the response itself (raw
                # score and scale, not only the verdict) for every ticket whose rating changed.
                continue
            if (row.score, row.comment, row.reason) == (
                change["score"],
                change["comment"],
                change["reason"],
            ):
                continue
            changed_at = change["changed_at"] or _aware(row.updated_at)
            previous = _aware(row.updated_at)
            if previous is not None and changed_at is not None and changed_at < previous:
                changed_at = previous  # never move updated_at backwards
            updates.append(
                {
                    "rating_id": rating_id,
                    "score": change["score"],
                    "comment": change["comment"],
                    "reason": change["reason"],
                    "new_updated_at": changed_at,
                    "new_raw": _merged_raw(row.raw, change, changed_at),
                }
            )
        if updates:
            conn.execute(
                update(_RATINGS_TABLE)
                .where(_RATINGS_TABLE.c.id == bindparam("rating_id"))
                .values(
                    score=bindparam("score"),
                    comment=bindparam("comment"),
                    reason=bindparam("reason"),
                    updated_at=bindparam("new_updated_at"),
                    raw=bindparam("new_raw"),
                ),
                updates,
            )
        if created:
            self.database.upsert(conn, SatisfactionRating, created, update=())

    def _write_state(self, conn: Connection, state: StreamState) -> None:
        """Write the stream's state if nobody else advanced it since we read it.

        ``pages_total`` is the stream's version: each page adds one, so the stored value must
        be ``state.pages_total - 1``. The check and the write are one UPDATE, atomic on SQLite
        (the write lock) and PostgreSQL (the row lock), so two syncs of one stream — a
        manual ``deskbot sync`` beside the daemon — cannot interleave pages: the later one
        rolls its page back and stops with ``SyncConflict``.
        """
        self.database.upsert(
            conn,
            SyncState,
            [
                {
                    "stream": state.stream,
                    "rows_total": 0,
                    "pages_total": 0,
                    "backfill_complete": False,
                }
            ],
            key=("stream",),
            update=(),
        )
        values = {
            "cursor": state.cursor,
            "position": state.position,
            "rows_total": state.rows_total,
            "pages_total": state.pages_total,
            "backfill_complete": state.backfill_complete,
            "last_success_at": utc(state.last_success_at),
            "last_error": state.last_error,
            "last_error_at": utc(state.last_error_at),
            "updated_at": utc(state.last_success_at),
        }
        result = conn.execute(
            update(_STATE_TABLE)
            .where(_STATE_TABLE.c.stream == state.stream)
            .where(_STATE_TABLE.c.pages_total == state.pages_total - 1)
            .values(**values)
        )
        if result.rowcount != 1:
            raise SyncConflict(
                f"another sync of stream {state.stream!r} committed a page meanwhile; this run "
                "stopped without writing its page (only one sync per stream should run: check "
                "for a second daemon or a manual `deskbot sync`)"
            )

    def record_error(self, stream: str, message: str, at: datetime) -> None:
        row = {
            "stream": stream,
            "rows_total": 0,
            "pages_total": 0,
            "backfill_complete": False,
            "last_error": message,
            "last_error_at": utc(at),
            "updated_at": utc(at),
        }
        with self.database.engine.begin() as conn:
            self.database.upsert(
                conn,
                SyncState,
                [row],
                key=("stream",),
                update=("last_error", "last_error_at", "updated_at"),
            )

    def reset_cursor(self, stream: str) -> None:
        with self.database.engine.begin() as conn:
            conn.execute(
                update(_STATE_TABLE)
                .where(_STATE_TABLE.c.stream == stream)
                .values(cursor=None, position=None, backfill_complete=False)
            )
