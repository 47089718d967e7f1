"""The action ledger over the ``actions`` table (implements ``deskbot.ports.ActionLedger``).

``begin`` is an ``INSERT … ON CONFLICT (key) DO NOTHING`` followed by a read, so two workers
racing on one key (threads, or replicas on PostgreSQL) end up with one row and exactly one of
them sees ``new=True``. Every method runs in its own short transaction: the intent is durable
before the caller acts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping

from deskbot.adapters.db.job_mutex import db_now
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Action, ActionClaim
from deskbot.errors import StoreError
from deskbot.ports import ActionRecord, Clock, SystemClock

_ACTIONS: Table = Action.__table__  # type: ignore[attr-defined]
_CLAIMS: Table = ActionClaim.__table__  # type: ignore[attr-defined]
_STATUSES = ("pending", "done", "failed", "skipped")


def _record(row: RowMapping, new: bool = False) -> ActionRecord:
    status = row["status"]
    assert status in _STATUSES
    return ActionRecord(
        key=row["key"],
        kind=row["kind"],
        subject=row["subject"],
        status=status,
        attempts=row["attempts"],
        payload=json.loads(row["payload"] or "{}"),
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        done_at=row["done_at"],
        new=new,
    )


class SqlActionLedger:
    """``ActionLedger`` on SQLite or PostgreSQL."""

    def __init__(self, database: Database, clock: Clock | None = None) -> None:
        self._db = database
        self._clock = clock or SystemClock()

    # -- helpers ----------------------------------------------------------------------------

    def _read(self, conn: Connection, key: str) -> RowMapping | None:
        return conn.execute(select(_ACTIONS).where(_ACTIONS.c.key == key)).mappings().first()

    def _require(self, conn: Connection, key: str) -> RowMapping:
        row = self._read(conn, key)
        if row is None:
            raise StoreError(f"action {key!r} is not in the ledger; call begin() before acting")
        return row

    def _change(self, key: str, **values: Any) -> ActionRecord:
        with self._db.engine.begin() as conn:
            row = self._require(conn, key)
            if "result" in values and values["result"] is not None:
                merged = json.loads(row["result"]) if row["result"] else {}
                merged.update(values["result"])
                values["result"] = json.dumps(merged, sort_keys=True, default=str)
            values["updated_at"] = self._clock.now()
            conn.execute(update(_ACTIONS).where(_ACTIONS.c.key == key).values(**values))
            return _record(self._require(conn, key))

    # -- the port ---------------------------------------------------------------------------

    def begin(
        self, key: str, kind: str, subject: str | None = None, payload: dict[str, Any] | None = None
    ) -> ActionRecord:
        now = self._clock.now()
        dialect = postgresql if self._db.dialect == "postgresql" else sqlite
        stmt = dialect.insert(_ACTIONS).values(
            key=key,
            kind=kind,
            subject=subject,
            status="pending",
            attempts=1,
            payload=json.dumps(payload or {}, sort_keys=True, default=str),
            created_at=now,
            updated_at=now,
        )
        # RETURNING yields a row only when this statement inserted (both dialects; rowcount is
        # not reliable for ON CONFLICT DO NOTHING across drivers).
        stmt = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(_ACTIONS.c.id)
        with self._db.engine.begin() as conn:
            inserted = conn.execute(stmt).first() is not None
            if not inserted:
                row = self._require(conn, key)
                if row["status"] in ("pending", "failed"):
                    # A retry of an unfinished action: count it, keep the original intent.
                    conn.execute(
                        update(_ACTIONS)
                        .where(_ACTIONS.c.key == key)
                        .values(attempts=_ACTIONS.c.attempts + 1, updated_at=now)
                    )
            return _record(self._require(conn, key), new=inserted)

    def checkpoint(self, key: str, result: dict[str, Any]) -> ActionRecord:
        return self._change(key, result=result)

    def complete(self, key: str, result: dict[str, Any] | None = None) -> ActionRecord:
        now = self._clock.now()
        return self._change(key, status="done", result=result or {}, error=None, done_at=now)

    def fail(self, key: str, error: str) -> ActionRecord:
        return self._change(key, status="failed", error=error[:4000])

    def get(self, key: str) -> ActionRecord | None:
        with self._db.engine.connect() as conn:
            row = self._read(conn, key)
        return _record(row) if row is not None else None

    def pending(self, kind: str) -> list[ActionRecord]:
        query = (
            select(_ACTIONS)
            .where(_ACTIONS.c.kind == kind, _ACTIONS.c.status == "pending")
            .order_by(_ACTIONS.c.created_at, _ACTIONS.c.id)
        )
        with self._db.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    # -- claims (issue 13): one executor per pending step ------------------------------------

    def claim(self, key: str, owner: str, seconds: float) -> bool:
        """Claim the pending action ``key`` for ``owner`` for ``seconds`` (database clock):
        ``True`` for exactly one of any number of racers, until the claim is released or
        expires. Taken again by its owner (a renewal). A finished action is not claimable."""
        now = db_now(self._db)
        dialect: Any = postgresql if self._db.dialect == "postgresql" else sqlite
        stmt = dialect.insert(_CLAIMS).values(key=key, owner=owner, until=now + seconds)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"owner": stmt.excluded.owner, "until": stmt.excluded.until},
            where=or_(_CLAIMS.c.until <= now, _CLAIMS.c.owner == stmt.excluded.owner),
        ).returning(_CLAIMS.c.key)
        with self._db.engine.begin() as conn:
            won = conn.execute(stmt).first() is not None
            if won:
                row = self._read(conn, key)
                if row is None or row["status"] != "pending":
                    conn.execute(delete(_CLAIMS).where(_CLAIMS.c.key == key))
                    return False
        return won

    def release(self, key: str, owner: str) -> None:
        """Give a claim up (the step finished, or stays pending for the next run)."""
        with self._db.engine.begin() as conn:
            conn.execute(delete(_CLAIMS).where(_CLAIMS.c.key == key, _CLAIMS.c.owner == owner))

    def recent(self, kind: str, since: datetime) -> list[ActionRecord]:
        query = (
            select(_ACTIONS)
            .where(_ACTIONS.c.kind == kind, _ACTIONS.c.created_at >= since)
            .order_by(_ACTIONS.c.created_at, _ACTIONS.c.id)
        )
        with self._db.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]
