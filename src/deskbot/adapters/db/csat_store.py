"""The CSAT survey-response side of the store: a page of responses and its stream state in one
transaction, the CSAT source deskbot detected, and the local tickets the refresh looks at.

One CSAT row per ticket: a survey response updates the ``satisfaction_ratings`` row its ticket
already has; a new one takes the id of the ticket's own ``satisfaction_rating`` as the ticket
export shows it (so the export's changes land on the same row), or ``-ticket_id`` while the
export shows none (an offered survey carries no id, or the ticket is not synced yet); such a
row takes the real id once the export shows it, as long as it was never good or bad.
``assignee_id`` / ``group_id`` are the ticket's when the response is first stored (Zendesk's
survey responses do not carry them): ``attribution`` says ``ticket_at_solve`` when the ticket
was solved or closed then, ``ticket_at_sync`` otherwise; once set they are kept, as the legacy
rating's are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.engine import Connection

from deskbot.adapters.db.rollups import RollupWriter
from deskbot.adapters.db.store import Database, utc
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.adapters.db.tables import SatisfactionRating, SyncState, Ticket
from deskbot.domain.csat_survey import SurveyResponse
from deskbot.domain.sync import StreamState

_RATINGS: Any = SatisfactionRating.__table__  # type: ignore[attr-defined]
_TICKETS: Any = Ticket.__table__  # type: ignore[attr-defined]
_STATE: Any = SyncState.__table__  # type: ignore[attr-defined]
SOLVED = ("solved", "closed")


@dataclass(frozen=True)
class ExportRating:
    """A ticket's ``satisfaction_rating`` as the ticket export last showed it."""

    ticket_id: int
    generated_timestamp: int
    updated_at: datetime | None
    rating_id: int | None
    score: str | None
    comment: str | None


def export_rating(raw: str | None) -> tuple[int | None, str | None, str | None]:
    try:
        doc = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return None, None, None
    sr = doc.get("satisfaction_rating") if isinstance(doc, dict) else None
    if not isinstance(sr, dict):
        return None, None, None
    rid = sr.get("id") if isinstance(sr.get("id"), int) else None
    score = sr.get("score") if isinstance(sr.get("score"), str) else None
    comment = sr.get("comment") if isinstance(sr.get("comment"), str) else None
    return rid, score, comment


def _attribution(
    resp: SurveyResponse, old: Any, ticket: Any
) -> tuple[int | None, int | None, str | None]:
    """Whose rating: the response's own agent (rating time), else what the row already holds,
    else the ticket's now (``ticket_at_solve`` when solved or closed)."""
    if resp.assignee_id is not None or resp.group_id is not None:
        return resp.assignee_id, resp.group_id, "rating_time"
    if old is not None and old["attribution"] in (
        "rating_time",
        "ticket_at_solve",
        "ticket_at_sync",
    ):
        return old["assignee_id"], old["group_id"], old["attribution"]
    if ticket is not None:
        status = "ticket_at_solve" if ticket["status"] in SOLVED else "ticket_at_sync"
        return ticket["assignee_id"], ticket["group_id"], status
    return None, None, None


class SqlCsatStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._sync = SqlSyncStore(database)

    # -- the survey-response stream ------------------------------------------------------------

    def apply_survey_page(
        self,
        responses: Sequence[tuple[SurveyResponse, Any]],
        state: StreamState,
        synced_at: datetime,
    ) -> int:
        """Upsert the responses (one row per ticket) and write ``state``; one transaction.
        Returns how many rows were written."""
        with self.database.engine.begin() as conn:
            rollups = RollupWriter.open(self.database, conn)
            rollups.watch(rating_ticket_ids=[resp.ticket_id for resp, _ in responses])
            rows = self._rows(conn, responses, synced_at)
            rollups.watch(rating_ids=[r["id"] for r in rows])
            self.database.upsert(conn, SatisfactionRating, rows)
            rollups.close()
            self._sync._write_state(conn, state)
        return len(rows)

    def _rows(
        self,
        conn: Connection,
        responses: Sequence[tuple[SurveyResponse, Any]],
        synced_at: datetime,
    ) -> list[dict[str, Any]]:
        latest: dict[int, tuple[SurveyResponse, Any]] = {}
        for resp, raw in responses:
            seen = latest.get(resp.ticket_id)
            if seen is None or (resp.created_at, resp.id) >= (seen[0].created_at, seen[0].id):
                latest[resp.ticket_id] = (resp, raw)
        if not latest:
            return []
        ids = list(latest)
        tickets = {
            r["id"]: r
            for r in conn.execute(
                select(
                    _TICKETS.c.id,
                    _TICKETS.c.status,
                    _TICKETS.c.assignee_id,
                    _TICKETS.c.group_id,
                    _TICKETS.c.raw,
                ).where(_TICKETS.c.id.in_(ids))
            ).mappings()
        }
        existing: dict[int, Any] = {}
        for r in conn.execute(
            select(_RATINGS)
            .where(_RATINGS.c.ticket_id.in_(ids))
            .order_by(_RATINGS.c.created_at, _RATINGS.c.id)
        ).mappings():
            existing[r["ticket_id"]] = r  # the newest row of the ticket wins
        rows: list[dict[str, Any]] = []
        for tid, (resp, raw) in latest.items():
            old = existing.get(tid)
            ticket = tickets.get(tid)
            if (
                old is not None
                and old["survey_response_id"]
                and old["survey_response_id"] != resp.id
                and utc(old["created_at"]) is not None
                and utc(old["created_at"]) > resp.created_at  # type: ignore[operator]
            ):
                continue  # an older response of a ticket that was surveyed again
            exported = export_rating(ticket["raw"])[0] if ticket is not None else None
            if old is not None:
                rid = old["id"]
                if rid < 0 and exported is not None and old["score"] in ("offered", "neutral"):
                    # The ticket now shows its rating id: take it (nothing can reference a row
                    # that was never good or bad: follow-ups start at bad).
                    conn.execute(delete(_RATINGS).where(_RATINGS.c.id == rid))
                    rid = exported
            else:
                rid = exported if exported is not None else -tid
            assignee, group, attribution = _attribution(resp, old, ticket)
            rows.append(
                {
                    "id": rid,
                    "ticket_id": tid,
                    "score": resp.score,
                    "assignee_id": assignee,
                    "group_id": group,
                    "requester_id": resp.responder_id,
                    "comment": resp.comment,
                    "reason": resp.reason,
                    "reason_code": None,
                    "created_at": resp.created_at,
                    "updated_at": resp.updated_at,
                    "raw": orjson.dumps(raw).decode(),
                    "synced_at": synced_at,
                    "source": "survey_responses",
                    "survey_response_id": resp.id,
                    "raw_score": resp.rating,
                    "scale": resp.scale,
                    "attribution": attribution,
                }
            )
        return rows

    # -- the refresh: tickets whose exported rating differs from the stored one -----------------

    def max_ticket_position(self) -> tuple[int, int]:
        with self.database.engine.connect() as conn:
            row = conn.execute(
                select(_TICKETS.c.generated_timestamp, _TICKETS.c.id)
                .order_by(_TICKETS.c.generated_timestamp.desc(), _TICKETS.c.id.desc())
                .limit(1)
            ).first()
        return (int(row[0]), int(row[1])) if row is not None else (0, 0)

    def tickets_after(self, after: tuple[int, int], limit: int) -> list[ExportRating]:
        """Synced tickets after ``(generated_timestamp, id)``, in that order, with their
        exported rating."""
        ts, tid = after
        with self.database.engine.connect() as conn:
            rows = conn.execute(
                select(
                    _TICKETS.c.id,
                    _TICKETS.c.generated_timestamp,
                    _TICKETS.c.raw,
                    _TICKETS.c.updated_at,
                )
                .where(
                    or_(
                        _TICKETS.c.generated_timestamp > ts,
                        and_(_TICKETS.c.generated_timestamp == ts, _TICKETS.c.id > tid),
                    )
                )
                .order_by(_TICKETS.c.generated_timestamp, _TICKETS.c.id)
                .limit(limit)
            ).all()
        out = []
        for r in rows:
            rid, score, comment = export_rating(r[2])
            out.append(ExportRating(int(r[0]), int(r[1]), utc(r[3]), rid, score, comment))
        return out

    def stored(
        self, ticket_ids: Sequence[int]
    ) -> dict[int, tuple[str, str | None, datetime | None]]:
        """(score, comment, updated_at) of each ticket's newest stored rating."""
        if not ticket_ids:
            return {}
        out: dict[int, tuple[str, str | None, datetime | None]] = {}
        with self.database.engine.connect() as conn:
            for r in conn.execute(
                select(
                    _RATINGS.c.ticket_id,
                    _RATINGS.c.score,
                    _RATINGS.c.comment,
                    _RATINGS.c.updated_at,
                )
                .where(_RATINGS.c.ticket_id.in_(list(ticket_ids)))
                .order_by(_RATINGS.c.created_at, _RATINGS.c.id)
            ):
                out[int(r[0])] = (r[1], r[2], utc(r[3]))
        return out

    # -- the detected source -----------------------------------------------------------------

    def source(self, stream: str) -> dict[str, Any] | None:
        with self.database.engine.connect() as conn:
            cursor = conn.execute(select(_STATE.c.cursor).where(_STATE.c.stream == stream)).first()
        if cursor is None or not cursor[0]:
            return None
        try:
            value = json.loads(cursor[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def record_source(
        self, stream: str, value: dict[str, Any], error: str | None, at: datetime
    ) -> None:
        row = {
            "stream": stream,
            "cursor": json.dumps(value, sort_keys=True),
            "rows_total": 0,
            "pages_total": 0,
            "backfill_complete": error is None,
            "last_success_at": None if error else utc(at),
            "last_error": error,
            "last_error_at": utc(at) if error else None,
            "updated_at": utc(at),
        }
        update = ["cursor", "backfill_complete", "last_error", "last_error_at", "updated_at"]
        if error is None:
            update.append("last_success_at")
        with self.database.engine.begin() as conn:
            self.database.upsert(conn, SyncState, [row], key=("stream",), update=update)


__all__ = ["ExportRating", "SqlCsatStore", "export_rating"]
