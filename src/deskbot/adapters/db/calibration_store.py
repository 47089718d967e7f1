"""QA calibration sessions on SQLite or PostgreSQL (``services.calibration.CalibrationStore``),
and the candidate tickets a session is drawn from (``CalibrationTickets``).

A session, its tickets and its calibrators are written in one transaction; a scheduled session
is created once per ``schedule_key`` (unique). A scorecard is inserted once per (session,
ticket, calibrator) and only while the session is open: the session row is read ``FOR SHARE``
in the same transaction, so a close (an ``UPDATE`` of that row) waits for the insert or the
insert sees the close — never a score stored after the results were computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, and_, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import (
    CalibrationParticipant,
    CalibrationScoreRow,
    CalibrationSession,
    CalibrationTicket,
    Ticket,
    TicketMetric,
    TicketTag,
)
from deskbot.domain.calibration import CalibrationScore
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.services.calibration import NewSession, SessionRecord, StoredScore

_S: Table = CalibrationSession.__table__  # type: ignore[attr-defined]
_T: Table = CalibrationTicket.__table__  # type: ignore[attr-defined]
_P: Table = CalibrationParticipant.__table__  # type: ignore[attr-defined]
_C: Table = CalibrationScoreRow.__table__  # type: ignore[attr-defined]
_TICKETS: Table = Ticket.__table__  # type: ignore[attr-defined]
_METRICS: Table = TicketMetric.__table__  # type: ignore[attr-defined]
_TAGS: Table = TicketTag.__table__  # type: ignore[attr-defined]


class SqlCalibrationStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    # -- sessions ---------------------------------------------------------------------------

    def create(self, new: NewSession) -> tuple[int, bool]:
        """Create a session with its tickets and calibrators; with a ``schedule_key`` that
        exists already, return that session's id and ``False``."""
        if new.schedule_key is not None:
            existing = self._by_schedule_key(new.schedule_key)
            if existing is not None:
                return existing, False
        try:
            with self.db.engine.begin() as conn:
                session_id = int(
                    conn.execute(
                        insert(_S)
                        .values(
                            title=new.title,
                            facilitator=new.facilitator,
                            status="open",
                            how_chosen=new.how_chosen,
                            schedule_key=new.schedule_key,
                            acceptable_variance=new.acceptable_variance,
                            created_at=new.created_at,
                            deadline=new.deadline,
                        )
                        .returning(_S.c.id)
                    ).scalar_one()
                )
                conn.execute(
                    insert(_T),
                    [
                        {"session_id": session_id, "ticket_id": t, "channel": ch}
                        for t, ch in new.tickets
                    ],
                )
                conn.execute(
                    insert(_P),
                    [{"session_id": session_id, "calibrator": c} for c in new.calibrators],
                )
        except IntegrityError:
            # another replica created the scheduled session first
            if new.schedule_key is None:
                raise
            existing = self._by_schedule_key(new.schedule_key)
            assert existing is not None
            return existing, False
        return session_id, True

    def _by_schedule_key(self, key: str) -> int | None:
        with self.db.engine.connect() as conn:
            found = conn.execute(select(_S.c.id).where(_S.c.schedule_key == key)).scalar()
        return int(found) if found is not None else None

    def get(self, session_id: int) -> SessionRecord | None:
        with self.db.engine.connect() as conn:
            return self._read(conn, session_id)

    def _read(self, conn: Connection, session_id: int) -> SessionRecord | None:
        row = conn.execute(select(_S).where(_S.c.id == session_id)).mappings().first()
        if row is None:
            return None
        tickets = conn.execute(
            select(_T.c.ticket_id, _T.c.channel)
            .where(_T.c.session_id == session_id)
            .order_by(_T.c.ticket_id)
        ).all()
        calibrators = conn.execute(
            select(_P.c.calibrator).where(_P.c.session_id == session_id).order_by(_P.c.calibrator)
        ).scalars()
        return SessionRecord(
            id=int(row["id"]),
            title=row["title"],
            facilitator=row["facilitator"],
            status=row["status"],
            how_chosen=row["how_chosen"],
            schedule_key=row["schedule_key"],
            acceptable_variance=int(row["acceptable_variance"]),
            created_at=row["created_at"],
            deadline=row["deadline"],
            closed_at=row["closed_at"],
            lessons=row["lessons"],
            tickets=tuple((int(t), ch) for t, ch in tickets),
            calibrators=tuple(calibrators),
        )

    def sessions(self, *, status: str | None = None, limit: int = 50) -> list[SessionRecord]:
        """Newest first."""
        stmt = select(_S.c.id).order_by(_S.c.id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(_S.c.status == status)
        with self.db.engine.connect() as conn:
            ids = list(conn.execute(stmt).scalars())
            out = [self._read(conn, int(i)) for i in ids]
        return [s for s in out if s is not None]

    def due(self, now: datetime) -> list[int]:
        """Open sessions whose deadline has passed."""
        with self.db.engine.connect() as conn:
            return [
                int(i)
                for i in conn.execute(
                    select(_S.c.id)
                    .where(_S.c.status == "open", _S.c.deadline <= now)
                    .order_by(_S.c.id)
                ).scalars()
            ]

    def close(self, session_id: int, at: datetime) -> bool:
        """open -> closed (compare-and-set): ``True`` for the one caller that closed it."""
        with self.db.engine.begin() as conn:
            return (
                conn.execute(
                    update(_S)
                    .where(_S.c.id == session_id, _S.c.status == "open")
                    .values(status="closed", closed_at=at)
                ).rowcount
                == 1
            )

    def set_lessons(self, session_id: int, text: str, at: datetime) -> bool:
        """Record lessons learned once, on a closed session."""
        with self.db.engine.begin() as conn:
            return (
                conn.execute(
                    update(_S)
                    .where(_S.c.id == session_id, _S.c.status == "closed", _S.c.lessons.is_(None))
                    .values(lessons=text, lessons_at=at)
                ).rowcount
                == 1
            )

    # -- scorecards -------------------------------------------------------------------------

    def add_score(
        self,
        session_id: int,
        ticket_id: int,
        calibrator: str,
        scores: dict[str, int | None],
        notes: str | None,
        at: datetime,
    ) -> str:
        """Store a scorecard: ``"stored"``, ``"duplicate"`` (one exists already) or
        ``"closed"`` (the session is no longer open)."""
        with self.db.engine.begin() as conn:
            status = conn.execute(
                select(_S.c.status).where(_S.c.id == session_id).with_for_update(read=True)
            ).scalar()
            if status != "open":
                return "closed"
            exists = conn.execute(
                select(func.count())
                .select_from(_C)
                .where(
                    _C.c.session_id == session_id,
                    _C.c.ticket_id == ticket_id,
                    _C.c.calibrator == calibrator,
                )
            ).scalar_one()
            if exists:
                return "duplicate"
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(_C).values(
                            session_id=session_id,
                            ticket_id=ticket_id,
                            calibrator=calibrator,
                            notes=notes,
                            submitted_at=at,
                            **{k: scores.get(k) for k in COMPETENCY_KEYS},
                        )
                    )
            except IntegrityError:
                return "duplicate"  # a concurrent click won
        return "stored"

    def scores(self, session_id: int) -> list[StoredScore]:
        with self.db.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(_C)
                    .where(_C.c.session_id == session_id)
                    .order_by(_C.c.ticket_id, _C.c.calibrator)
                )
                .mappings()
                .all()
            )
        return [
            StoredScore(
                CalibrationScore(
                    r["calibrator"], int(r["ticket_id"]), {k: r[k] for k in COMPETENCY_KEYS}
                ),
                r["notes"],
                r["submitted_at"],
            )
            for r in rows
        ]


class SqlCalibrationTickets:
    """Candidate tickets from the synced copy (``services.calibration.CalibrationTickets``)."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def solved_between(self, start: datetime, end: datetime) -> dict[int, str | None]:
        """Tickets solved in ``[start, end)``, not deleted: id -> channel."""
        stmt = (
            select(_TICKETS.c.id, _TICKETS.c.channel)
            .join(_METRICS, _METRICS.c.ticket_id == _TICKETS.c.id)
            .where(
                _TICKETS.c.is_deleted.is_(False),
                _METRICS.c.solved_at >= start,
                _METRICS.c.solved_at < end,
            )
        )
        with self.db.engine.connect() as conn:
            return {int(i): ch for i, ch in conn.execute(stmt).all()}

    def tagged(self, tag: str, start: datetime, end: datetime) -> dict[int, str | None]:
        """Solved tickets in the window carrying ``tag``."""
        stmt = (
            select(_TICKETS.c.id, _TICKETS.c.channel)
            .join(_METRICS, _METRICS.c.ticket_id == _TICKETS.c.id)
            .join(_TAGS, and_(_TAGS.c.ticket_id == _TICKETS.c.id, _TAGS.c.tag == tag))
            .where(
                _TICKETS.c.is_deleted.is_(False),
                _METRICS.c.solved_at >= start,
                _METRICS.c.solved_at < end,
            )
        )
        with self.db.engine.connect() as conn:
            return {int(i): ch for i, ch in conn.execute(stmt).all()}

    def existing(self, ids: Sequence[int]) -> dict[int, str | None]:
        """Which of ``ids`` are synced, not-deleted tickets: id -> channel."""
        if not ids:
            return {}
        stmt = select(_TICKETS.c.id, _TICKETS.c.channel).where(
            _TICKETS.c.id.in_(list(ids)), _TICKETS.c.is_deleted.is_(False)
        )
        with self.db.engine.connect() as conn:
            return {int(i): ch for i, ch in conn.execute(stmt).all()}
