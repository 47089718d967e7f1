"""Internal NPS storage: who was asked (``nps_asks``) apart from what was answered
(``nps_answers``), with nothing that joins them. docs/nps.md says what an admin with database
access can and cannot learn.

* An answer is written, in the same transaction that marks its ask answered, only as a sealed
  box (AES-256-GCM under a key the database does not hold) in ``nps_sealed``.
* At the round's release one transaction opens every box of the round, writes the answers of
  each department at or above the anonymity threshold to ``nps_answers`` with fresh random ids
  in a shuffled order (every row then carries the same PostgreSQL ``xmin``; SQLite ``rowid``
  and PostgreSQL ``ctid`` follow the shuffle, not the answering order), and deletes the boxes
  (``PRAGMA secure_delete`` on SQLite overwrites them). Departments below the threshold keep
  their boxes, re-sealed, held for the quarter's pool; a pool below the threshold at the end of
  the quarter is destroyed unread.
* Answers carry department, quarter, round (or pool), score, comment and the "may share" flag:
  no respondent, no ask id, no timestamp.
* Every state change of an ask is a compare-and-set ``UPDATE … WHERE`` so two replicas or two
  clicks cannot both win.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from deskbot.adapters.db.store import Database, required_utc, utc
from deskbot.adapters.db.tables import (
    NpsAnswer,
    NpsAsk,
    NpsCell,
    NpsOptOut,
    NpsReplyRoute,
    NpsRound,
    NpsSealed,
)
from deskbot.domain.nps import AskHistory, Category, ReleasedCell, category
from deskbot.services.nps import NewAsk

_ASKS = NpsAsk.__table__  # type: ignore[attr-defined]
_ROUNDS = NpsRound.__table__  # type: ignore[attr-defined]
_SEALED = NpsSealed.__table__  # type: ignore[attr-defined]
_ANSWERS = NpsAnswer.__table__  # type: ignore[attr-defined]
_CELLS = NpsCell.__table__  # type: ignore[attr-defined]
_ROUTES = NpsReplyRoute.__table__  # type: ignore[attr-defined]
_OPTOUTS = NpsOptOut.__table__  # type: ignore[attr-defined]

# Statuses that count as "asked" for the cooldown and the quarterly cap.
ASKED = ("planned", "sending", "sent", "answered", "expired")

AnswerResult = Literal["ok", "answered", "expired", "not_yours", "unknown", "not_sent"]


def _round(row: Any) -> RoundRecord:
    return RoundRecord(
        row.id, row.quarter, required_utc(row.planned_at), required_utc(row.close_at), row.status
    )


class SealError(Exception):
    """A box could not be opened (wrong key, tampered row)."""


class Sealer:
    """AES-256-GCM boxes and HMAC route ids under keys derived (HKDF-SHA256) from one secret."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < 16:
            raise ValueError("the NPS sealing secret must be at least 16 bytes")
        self._box = AESGCM(self._derive(raw, b"deskbot-nps-box-v1"))
        self._route_key = self._derive(raw, b"deskbot-nps-route-v1")

    @staticmethod
    def _derive(secret: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)

    def seal(self, value: dict[str, Any]) -> bytes:
        nonce = uuid.uuid4().bytes[:12]
        data = json.dumps(value, separators=(",", ":")).encode()
        return nonce + self._box.encrypt(nonce, data, b"nps")

    def open(self, box: bytes) -> dict[str, Any]:
        try:
            data = self._box.decrypt(bytes(box[:12]), bytes(box[12:]), b"nps")
        except Exception as exc:  # InvalidTag, short input
            raise SealError("an NPS box cannot be opened with this key") from exc
        value = json.loads(data)
        assert isinstance(value, dict)
        return value

    def route_id(self, answer_id: str) -> str:
        return hmac.new(self._route_key, answer_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AskRecord:
    id: str
    round_id: str
    quarter: str
    slack_user_id: str
    department: str
    send_at: datetime
    expires_at: datetime
    status: str
    answered: bool
    claimed_at: datetime | None
    sent_at: datetime | None
    dm_channel: str | None
    message_ts: str | None
    reminder: str | None
    expiry: str | None


@dataclass(frozen=True)
class RoundRecord:
    id: str
    quarter: str
    planned_at: datetime
    close_at: datetime
    status: str


@dataclass(frozen=True)
class AnswerRecord:
    id: str
    department: str
    quarter: str
    round_id: str | None
    cell: str
    score: int
    comment: str | None
    may_share: bool
    discussed: bool

    @property
    def category(self) -> Category:
        return category(self.score)


@dataclass(frozen=True)
class CellRecord:
    department: str
    cell: str
    quarter: str
    round_id: str | None
    released: bool
    asked: int
    answered: int
    promoters: int
    passives: int
    detractors: int
    decided_at: datetime

    def released_cell(self) -> ReleasedCell:
        return ReleasedCell(
            cell=self.cell,
            department=self.department,
            quarter=self.quarter,
            round_id=self.round_id,
            promoters=self.promoters,
            passives=self.passives,
            detractors=self.detractors,
            asked=self.asked,
            answered=self.answered,
        )


def _ask(row: Any) -> AskRecord:
    return AskRecord(
        id=row.id,
        round_id=row.round_id,
        quarter=row.quarter,
        slack_user_id=row.slack_user_id,
        department=row.department,
        send_at=required_utc(row.send_at),
        expires_at=required_utc(row.expires_at),
        status=row.status,
        answered=bool(row.answered),
        claimed_at=utc(row.claimed_at),
        sent_at=utc(row.sent_at),
        dm_channel=row.dm_channel,
        message_ts=row.message_ts,
        reminder=row.reminder,
        expiry=row.expiry,
    )


def _answer(row: Any) -> AnswerRecord:
    return AnswerRecord(
        id=row.id,
        department=row.department,
        quarter=row.quarter,
        round_id=row.round_id,
        cell=row.cell,
        score=int(row.score),
        comment=row.comment,
        may_share=bool(row.may_share),
        discussed=bool(row.discussed),
    )


def _cell(row: Any) -> CellRecord:
    return CellRecord(
        department=row.department,
        cell=row.cell,
        quarter=row.quarter,
        round_id=row.round_id,
        released=bool(row.released),
        asked=int(row.asked),
        answered=int(row.answered),
        promoters=int(row.promoters),
        passives=int(row.passives),
        detractors=int(row.detractors),
        decided_at=required_utc(row.decided_at),
    )


def new_id() -> str:
    """A random id (uuid4): says nothing about when or in which order a row was written."""
    return uuid.uuid4().hex


class SqlNpsStore:
    """The NPS tables on SQLite or PostgreSQL (``deskbot.services.nps.NpsStore``)."""

    def __init__(self, database: Database, sealer: Sealer) -> None:
        self.db = database
        self.sealer = sealer
        # Shuffles that protect anonymity are never seeded.
        self._shuffle: Callable[[list[Any]], None] = random.SystemRandom().shuffle

    def _insert_ignore(self, table: Any) -> Any:
        dialect = postgresql if self.db.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    # -- planning -------------------------------------------------------------------------

    def ask_history(self, quarter: str) -> dict[str, AskHistory]:
        asked = _ASKS.c.status.in_(ASKED)
        stmt = (
            select(
                _ASKS.c.slack_user_id,
                func.max(_ASKS.c.send_at).label("last"),
                func.count().filter(_ASKS.c.quarter == quarter).label("in_quarter"),
            )
            .where(asked)
            .group_by(_ASKS.c.slack_user_id)
        )
        with self.db.engine.connect() as conn:
            return {
                row.slack_user_id: AskHistory(utc(row.last), int(row.in_quarter or 0))
                for row in conn.execute(stmt)
            }

    def department_load(self, quarter: str) -> dict[str, int]:
        stmt = (
            select(_ASKS.c.department, func.count())
            .where(_ASKS.c.quarter == quarter, _ASKS.c.status.in_(ASKED))
            .group_by(_ASKS.c.department)
        )
        with self.db.engine.connect() as conn:
            return {str(d): int(n) for d, n in conn.execute(stmt)}

    def create_round(
        self,
        round_id: str,
        quarter: str,
        planned_at: datetime,
        close_at: datetime,
        asks: Sequence[NewAsk],
    ) -> bool:
        """The round and all its asks in one transaction; False (nothing written) when the
        round exists already (another replica, a rerun)."""
        stmt = (
            self._insert_ignore(_ROUNDS)
            .values(
                id=round_id,
                quarter=quarter,
                planned_at=planned_at,
                close_at=close_at,
                status="open",
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(_ROUNDS.c.id)
        )
        with self.db.engine.begin() as conn:
            # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT.
            if conn.execute(stmt).first() is None:
                return False
            rows = [
                {
                    "id": new_id(),
                    "round_id": round_id,
                    "quarter": quarter,
                    "slack_user_id": a.slack_user_id,
                    "department": a.department,
                    "send_at": a.send_at,
                    "expires_at": a.expires_at,
                    "status": "planned",
                    "answered": False,
                }
                for a in asks
            ]
            if rows:
                conn.execute(insert(_ASKS), rows)
        return True

    def round(self, round_id: str) -> RoundRecord | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_ROUNDS).where(_ROUNDS.c.id == round_id)).first()
        if row is None:
            return None
        return RoundRecord(
            row.id,
            row.quarter,
            required_utc(row.planned_at),
            required_utc(row.close_at),
            row.status,
        )

    def rounds(self) -> list[RoundRecord]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_ROUNDS).order_by(_ROUNDS.c.planned_at)).all()
        return [
            RoundRecord(
                r.id, r.quarter, required_utc(r.planned_at), required_utc(r.close_at), r.status
            )
            for r in rows
        ]

    # -- opt-out --------------------------------------------------------------------------

    def opted_out(self) -> set[str]:
        with self.db.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(_OPTOUTS.c.slack_user_id))}

    def set_opt_out(self, slack_user_id: str, out: bool, now: datetime) -> tuple[bool, int]:
        """Opt out (cancelling asks not yet sent) or back in; (changed, asks cancelled)."""
        with self.db.engine.begin() as conn:
            if out:
                stmt = (
                    self._insert_ignore(_OPTOUTS)
                    .values(slack_user_id=slack_user_id, opted_out_at=now)
                    .on_conflict_do_nothing(index_elements=["slack_user_id"])
                    .returning(_OPTOUTS.c.slack_user_id)
                )
                changed = conn.execute(stmt).first() is not None
                cancelled = conn.execute(
                    update(_ASKS)
                    .where(_ASKS.c.slack_user_id == slack_user_id, _ASKS.c.status == "planned")
                    .values(status="cancelled")
                ).rowcount
                return changed, int(cancelled)
            gone = conn.execute(
                delete(_OPTOUTS).where(_OPTOUTS.c.slack_user_id == slack_user_id)
            ).rowcount
            return gone == 1, 0

    # -- asks -----------------------------------------------------------------------------

    def ask(self, ask_id: str) -> AskRecord | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_ASKS).where(_ASKS.c.id == ask_id)).first()
        return _ask(row) if row is not None else None

    def asks(self, round_id: str | None = None) -> list[AskRecord]:
        stmt = select(_ASKS).order_by(_ASKS.c.send_at, _ASKS.c.id)
        if round_id is not None:
            stmt = stmt.where(_ASKS.c.round_id == round_id)
        with self.db.engine.connect() as conn:
            return [_ask(r) for r in conn.execute(stmt)]

    def due_sends(self, now: datetime, stale_before: datetime, limit: int) -> list[AskRecord]:
        """Planned asks whose moment has come, and sends a dead sender left claimed."""
        stmt = (
            select(_ASKS)
            .where(
                or_(
                    and_(_ASKS.c.status == "planned", _ASKS.c.send_at <= now),
                    and_(_ASKS.c.status == "sending", _ASKS.c.claimed_at < stale_before),
                ),
                _ASKS.c.expires_at > now,
            )
            .order_by(_ASKS.c.send_at, _ASKS.c.id)
            .limit(limit)
        )
        with self.db.engine.connect() as conn:
            return [_ask(r) for r in conn.execute(stmt)]

    def claim_send(self, ask: AskRecord, now: datetime) -> bool:
        """planned -> sending, or take over a stale claim (guarded by the previous claim)."""
        guard = (
            _ASKS.c.status == "planned"
            if ask.status == "planned"
            else and_(_ASKS.c.status == "sending", _ASKS.c.claimed_at == ask.claimed_at)
        )
        stmt = (
            update(_ASKS)
            .where(_ASKS.c.id == ask.id, guard)
            .values(status="sending", claimed_at=now)
        )
        with self.db.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def mark_sent(self, ask_id: str, now: datetime, channel: str, ts: str) -> bool:
        stmt = (
            update(_ASKS)
            .where(_ASKS.c.id == ask_id, _ASKS.c.status == "sending")
            .values(status="sent", sent_at=now, dm_channel=channel, message_ts=ts)
        )
        with self.db.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def unclaim_send(self, ask_id: str) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(_ASKS)
                .where(_ASKS.c.id == ask_id, _ASKS.c.status == "sending")
                .values(status="planned", claimed_at=None)
            )

    def expire_unsent(self, now: datetime) -> int:
        """Asks that could not go out before their expiry never will."""
        stmt = (
            update(_ASKS)
            .where(_ASKS.c.status.in_(("planned", "sending")), _ASKS.c.expires_at <= now)
            .values(status="expired", expiry="shown")
        )
        with self.db.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def due_reminders(self, now: datetime, sent_before: datetime) -> list[AskRecord]:
        stmt = (
            select(_ASKS)
            .where(
                _ASKS.c.status == "sent",
                or_(_ASKS.c.reminder.is_(None), _ASKS.c.reminder == "claimed"),
                _ASKS.c.sent_at <= sent_before,
                _ASKS.c.expires_at > now,
            )
            .order_by(_ASKS.c.sent_at, _ASKS.c.id)
        )
        with self.db.engine.connect() as conn:
            return [_ask(r) for r in conn.execute(stmt)]

    def set_reminder(self, ask_id: str, before: str | None, after: str) -> bool:
        guard = _ASKS.c.reminder.is_(None) if before is None else _ASKS.c.reminder == before
        stmt = update(_ASKS).where(_ASKS.c.id == ask_id, guard).values(reminder=after)
        with self.db.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def due_expiries(self, now: datetime) -> list[AskRecord]:
        """Sent asks past their expiry, and expiries whose message update is not yet shown."""
        stmt = (
            select(_ASKS)
            .where(
                or_(
                    and_(_ASKS.c.status == "sent", _ASKS.c.expires_at <= now),
                    and_(_ASKS.c.status == "expired", _ASKS.c.expiry == "claimed"),
                )
            )
            .order_by(_ASKS.c.expires_at, _ASKS.c.id)
        )
        with self.db.engine.connect() as conn:
            return [_ask(r) for r in conn.execute(stmt)]

    def expire(self, ask_id: str) -> bool:
        stmt = (
            update(_ASKS)
            .where(_ASKS.c.id == ask_id, _ASKS.c.status == "sent")
            .values(status="expired", expiry="claimed")
        )
        with self.db.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def expiry_shown(self, ask_id: str) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(update(_ASKS).where(_ASKS.c.id == ask_id).values(expiry="shown"))

    # -- answers --------------------------------------------------------------------------

    def record_answer(
        self, ask_id: str, slack_user_id: str, score: int, now: datetime
    ) -> tuple[AnswerResult, str | None]:
        """Mark the ask answered and keep its answer sealed, in one transaction; the first
        click wins, every later one changes nothing. Returns the result and the box's id."""
        with self.db.engine.begin() as conn:
            won = conn.execute(
                update(_ASKS)
                .where(
                    _ASKS.c.id == ask_id,
                    _ASKS.c.slack_user_id == slack_user_id,
                    _ASKS.c.status == "sent",
                    _ASKS.c.expires_at > now,
                )
                .values(status="answered", answered=True)
            ).rowcount
            if won == 1:
                row = conn.execute(
                    select(_ASKS.c.round_id, _ASKS.c.department).where(_ASKS.c.id == ask_id)
                ).one()
                box_id = new_id()
                value = {
                    "ask": ask_id,
                    "to": slack_user_id,
                    "department": row.department,
                    "score": score,
                    "comment": None,
                    "may_share": False,
                }
                conn.execute(
                    insert(_SEALED).values(
                        id=box_id, round_id=row.round_id, box=self.sealer.seal(value)
                    )
                )
                return "ok", box_id
            ask = conn.execute(select(_ASKS).where(_ASKS.c.id == ask_id)).first()
        if ask is None:
            return "unknown", None
        if ask.slack_user_id != slack_user_id:
            return "not_yours", None
        if ask.answered:
            return "answered", None
        if ask.status == "expired" or required_utc(ask.expires_at) <= now:
            return "expired", None
        return "not_sent", None

    def add_comment(
        self, box_id: str, ask_id: str, slack_user_id: str, comment: str, may_share: bool
    ) -> Literal["ok", "closed", "not_yours", "already"]:
        """Add the comment to a sealed answer of an open round; a compare-and-set on the box,
        so two submissions cannot both win."""
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(_SEALED.c.box).where(
                    _SEALED.c.id == box_id, _SEALED.c.held_quarter.is_(None)
                )
            ).first()
        if row is None:
            return "closed"  # released (or held) already: the round is over
        old = bytes(row.box)
        value = self.sealer.open(old)
        if value.get("ask") != ask_id or value.get("to") != slack_user_id:
            return "not_yours"
        if value.get("comment"):
            return "already"
        value["comment"], value["may_share"] = comment, may_share
        stmt = (
            update(_SEALED)
            .where(_SEALED.c.id == box_id, _SEALED.c.box == old, _SEALED.c.held_quarter.is_(None))
            .values(box=self.sealer.seal(value))
        )
        with self.db.engine.begin() as conn:
            return "ok" if conn.execute(stmt).rowcount == 1 else "already"

    # -- release --------------------------------------------------------------------------

    def closable_rounds(self, now: datetime) -> list[str]:
        """Open rounds past their close time, or whose every ask is answered or expired."""
        waiting = (
            select(_ASKS.c.id)
            .where(
                _ASKS.c.round_id == _ROUNDS.c.id,
                _ASKS.c.status.in_(("planned", "sending", "sent")),
            )
            .exists()
        )
        stmt = (
            select(_ROUNDS.c.id)
            .where(_ROUNDS.c.status == "open", or_(_ROUNDS.c.close_at <= now, ~waiting))
            .order_by(_ROUNDS.c.planned_at)
        )
        with self.db.engine.connect() as conn:
            return [r[0] for r in conn.execute(stmt)]

    def release_round(self, round_id: str, threshold: int, now: datetime) -> list[CellRecord]:
        """Close the round once (compare-and-set) and decide every department's cell in the
        same transaction; returns the decisions ([] when another run did it)."""
        with self.db.engine.begin() as conn:
            if self.db.dialect == "sqlite":
                conn.execute(text("PRAGMA secure_delete = ON"))
            claimed = conn.execute(
                update(_ROUNDS)
                .where(_ROUNDS.c.id == round_id, _ROUNDS.c.status == "open")
                .values(status="released")
            ).rowcount
            if claimed != 1:
                return []
            quarter = conn.execute(
                select(_ROUNDS.c.quarter).where(_ROUNDS.c.id == round_id)
            ).scalar_one()
            # Nobody may answer a closed round any more.
            conn.execute(
                update(_ASKS)
                .where(
                    _ASKS.c.round_id == round_id,
                    _ASKS.c.status.in_(("planned", "sending", "sent")),
                )
                .values(status="expired", expiry="claimed")
            )
            counts: dict[str, list[int]] = {}
            for dept, answered, n in conn.execute(
                select(_ASKS.c.department, _ASKS.c.answered, func.count())
                .where(_ASKS.c.round_id == round_id, _ASKS.c.status != "cancelled")
                .group_by(_ASKS.c.department, _ASKS.c.answered)
            ):
                entry = counts.setdefault(dept, [0, 0])
                entry[0] += int(n)
                if answered:
                    entry[1] += int(n)
            boxes = conn.execute(
                select(_SEALED.c.id, _SEALED.c.box).where(
                    _SEALED.c.round_id == round_id, _SEALED.c.held_quarter.is_(None)
                )
            ).all()
            by_dept: dict[str, list[tuple[str, dict[str, Any]]]] = {}
            for box_id, box in boxes:
                value = self.sealer.open(bytes(box))
                by_dept.setdefault(str(value["department"]), []).append((box_id, value))
            cell = f"round:{round_id}"
            decisions = []
            for dept in sorted(set(counts) | set(by_dept)):
                asked, answered = counts.get(dept, [0, 0])
                items = by_dept.get(dept, [])
                release = len(items) >= threshold
                tallies = _tally(v for _, v in items) if release else (0, 0, 0)
                if release:
                    self._write_answers(conn, dept, quarter, round_id, cell, items)
                    conn.execute(delete(_SEALED).where(_SEALED.c.id.in_([i for i, _ in items])))
                elif items:
                    # Held for the quarter's pool, re-sealed so nothing ties it to the ask.
                    for box_id, value in items:
                        conn.execute(
                            update(_SEALED)
                            .where(_SEALED.c.id == box_id)
                            .values(held_quarter=quarter, box=self.sealer.seal(value))
                        )
                record = CellRecord(
                    dept, cell, quarter, round_id, release, asked, answered, *tallies, now
                )
                conn.execute(insert(_CELLS).values(**_cell_values(record)))
                decisions.append(record)
            return decisions

    def release_pools(self, quarter: str, threshold: int, now: datetime) -> list[CellRecord]:
        """At the end of a quarter: each department's held answers are released together when
        they reach the threshold, else destroyed unread. Once per (department, quarter)."""
        cell = f"pool:{quarter}"
        with self.db.engine.begin() as conn:
            if self.db.dialect == "sqlite":
                conn.execute(text("PRAGMA secure_delete = ON"))
            boxes = conn.execute(
                select(_SEALED.c.id, _SEALED.c.box).where(_SEALED.c.held_quarter == quarter)
            ).all()
            by_dept: dict[str, list[tuple[str, dict[str, Any]]]] = {}
            for box_id, box in boxes:
                value = self.sealer.open(bytes(box))
                by_dept.setdefault(str(value["department"]), []).append((box_id, value))
            decisions = []
            for dept, items in sorted(by_dept.items()):
                claim = (
                    self._insert_ignore(_CELLS)
                    .values(
                        department=dept,
                        cell=cell,
                        quarter=quarter,
                        round_id=None,
                        released=False,
                        decided_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["department", "cell"])
                    .returning(_CELLS.c.cell)
                )
                if conn.execute(claim).first() is None:
                    continue
                release = len(items) >= threshold
                tallies = _tally(v for _, v in items) if release else (0, 0, 0)
                if release:
                    self._write_answers(conn, dept, quarter, None, cell, items)
                conn.execute(delete(_SEALED).where(_SEALED.c.id.in_([i for i, _ in items])))
                record = CellRecord(
                    dept, cell, quarter, None, release, len(items), len(items), *tallies, now
                )
                conn.execute(
                    update(_CELLS)
                    .where(_CELLS.c.department == dept, _CELLS.c.cell == cell)
                    .values(**_cell_values(record))
                )
                decisions.append(record)
            return decisions

    def held_quarters(self) -> list[str]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(_SEALED.c.held_quarter).where(_SEALED.c.held_quarter.is_not(None)).distinct()
            )
            return sorted(str(r[0]) for r in rows)

    def _write_answers(
        self,
        conn: Any,
        department: str,
        quarter: str,
        round_id: str | None,
        cell: str,
        items: list[tuple[str, dict[str, Any]]],
    ) -> None:
        values = [v for _, v in items]
        self._shuffle(values)
        rows = []
        routes = []
        for v in values:
            answer_id = new_id()
            rows.append(
                {
                    "id": answer_id,
                    "department": department,
                    "quarter": quarter,
                    "round_id": round_id,
                    "cell": cell,
                    "score": int(v["score"]),
                    "comment": v.get("comment"),
                    "may_share": bool(v.get("may_share")),
                    "discussed": False,
                }
            )
            if v.get("comment"):
                routes.append(
                    {
                        "id": self.sealer.route_id(answer_id),
                        "box": self.sealer.seal({"to": v["to"]}),
                    }
                )
        conn.execute(insert(_ANSWERS), rows)
        if routes:
            self._shuffle(routes)
            conn.execute(insert(_ROUTES), routes)

    # -- results --------------------------------------------------------------------------

    def cells(
        self,
        *,
        department: str | None = None,
        quarters: Iterable[str] | None = None,
        released: bool | None = True,
        since: datetime | None = None,
    ) -> list[CellRecord]:
        stmt = select(_CELLS).order_by(_CELLS.c.quarter, _CELLS.c.decided_at, _CELLS.c.cell)
        if department is not None:
            stmt = stmt.where(func.lower(_CELLS.c.department) == department.lower())
        if quarters is not None:
            stmt = stmt.where(_CELLS.c.quarter.in_(list(quarters)))
        if released is not None:
            stmt = stmt.where(_CELLS.c.released == released)
        if since is not None:
            stmt = stmt.where(_CELLS.c.decided_at >= since)
        with self.db.engine.connect() as conn:
            return [_cell(r) for r in conn.execute(stmt)]

    def answers_in(self, department: str, cell: str) -> list[AnswerRecord]:
        """A released cell's answers, ordered by their random id (not by anything real)."""
        stmt = (
            select(_ANSWERS)
            .where(_ANSWERS.c.department == department, _ANSWERS.c.cell == cell)
            .order_by(_ANSWERS.c.id)
        )
        with self.db.engine.connect() as conn:
            return [_answer(r) for r in conn.execute(stmt)]

    def answer(self, answer_id: str) -> AnswerRecord | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_ANSWERS).where(_ANSWERS.c.id == answer_id)).first()
        return _answer(row) if row is not None else None

    def mark_discussed(self, answer_id: str) -> bool:
        stmt = (
            update(_ANSWERS)
            .where(_ANSWERS.c.id == answer_id, _ANSWERS.c.discussed.is_(False))
            .values(discussed=True)
        )
        with self.db.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def reply_recipient(self, answer_id: str) -> str | None:
        """The Slack id of the comment's author, computed with the key; None without a route."""
        with self.db.engine.connect() as conn:
            box = conn.execute(
                select(_ROUTES.c.box).where(_ROUTES.c.id == self.sealer.route_id(answer_id))
            ).scalar_one_or_none()
        if box is None:
            return None
        return str(self.sealer.open(bytes(box))["to"])


def _tally(values: Iterable[dict[str, Any]]) -> tuple[int, int, int]:
    p = a = d = 0
    for v in values:
        c = category(int(v["score"]))
        if c is Category.PROMOTER:
            p += 1
        elif c is Category.PASSIVE:
            a += 1
        else:
            d += 1
    return p, a, d


def _cell_values(c: CellRecord) -> dict[str, Any]:
    return {
        "department": c.department,
        "cell": c.cell,
        "quarter": c.quarter,
        "round_id": c.round_id,
        "released": c.released,
        "asked": c.asked,
        "answered": c.answered,
        "promoters": c.promoters,
        "passives": c.passives,
        "detractors": c.detractors,
        "decided_at": c.decided_at,
    }
