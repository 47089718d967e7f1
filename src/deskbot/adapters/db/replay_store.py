"""Slack replay and retry keys in the database, shared by every replica (issue 13).

``SlackGate`` rejects a replayed request (same timestamp and signature) and swallows a retry
or second delivery (same idempotency key). Kept in one process's memory, that protection
holds only on the replica that saw the first request: behind a load balancer the replay or
the retry lands on another one. With this store every replica asks the same table.

``add`` is one ``INSERT … ON CONFLICT DO UPDATE … WHERE expired`` with ``RETURNING``: it
returns a row (first time, or the old key had expired) for exactly one of any number of
racing replicas. Expiry is on the database's clock. Keys are hashed (fixed width, and no
request content is stored); expired rows are pruned every few hundred inserts.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from deskbot.adapters.db.job_mutex import db_now
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import SlackReplayKey
from deskbot.log import get_logger

log = get_logger(__name__)

_KEYS: Table = SlackReplayKey.__table__  # type: ignore[attr-defined]
PRUNE_EVERY = 500


class SqlReplayStore:
    """Keys seen by any replica, each for ``ttl_seconds``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._count = itertools.count(1)

    def add(self, namespace: str, key: str, ttl_seconds: float) -> bool:
        """Remember ``key``; ``False`` when any replica saw it within its lifetime.

        A database failure counts as "first time" (logged): Slack's own signature freshness
        still bounds replays, and refusing every request while the database blinks is worse.
        """
        digest = hashlib.sha256(f"{namespace}\0{key}".encode()).hexdigest()
        stored = f"{namespace[:32]}:{digest}"
        now = db_now(self.database)
        dialect: Any = postgresql if self.database.dialect == "postgresql" else sqlite
        stmt = dialect.insert(_KEYS).values(key=stored, expires_at=now + ttl_seconds)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"expires_at": stmt.excluded.expires_at},
            where=_KEYS.c.expires_at <= now,
        ).returning(_KEYS.c.key)
        try:
            with self.database.engine.begin() as conn:
                first = conn.execute(stmt).first() is not None
                if next(self._count) % PRUNE_EVERY == 0:
                    conn.execute(delete(_KEYS).where(_KEYS.c.expires_at <= now))
        except SQLAlchemyError as exc:
            log.error("slack.replay_store_unavailable", error=str(exc).splitlines()[0])
            return True
        return first

    def keys(self, namespace: str, ttl_seconds: float) -> SharedKeys:
        """One kind of key for ``SlackGate`` (it satisfies ``gate.ReplayStore``)."""
        return SharedKeys(self, namespace, ttl_seconds)


class SharedKeys:
    """``RecentKeys``' ``add`` over the shared store, for one kind of key (the gate's)."""

    def __init__(self, store: SqlReplayStore, namespace: str, ttl_seconds: float) -> None:
        self.store = store
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds

    def add(self, key: str) -> bool:
        return self.store.add(self.namespace, key, self.ttl_seconds)
