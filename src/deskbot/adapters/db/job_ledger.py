"""The daemon's run history and per-trigger leases (``deskbot.ports.JobLedger``) in SQL.

One code path for SQLite and PostgreSQL. Exactly-once per trigger rests on the primary key of
``job_leases``: ``INSERT … ON CONFLICT DO NOTHING`` succeeds for one replica only (PostgreSQL
makes the others wait on the unique index until the winner commits). A take-over is an
``UPDATE`` guarded by the expired lease and its previous holder, so two replicas racing for the
same dead lease cannot both win.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from deskbot.adapters.db.store import Database, redact_url
from deskbot.adapters.db.tables import JobLease, JobRun
from deskbot.errors import StoreError
from deskbot.ports import JobClaim, JobRunRecord

_RUNS: Table = JobRun.__table__  # type: ignore[attr-defined]
_LEASES: Table = JobLease.__table__  # type: ignore[attr-defined]

FINISHED = ("ok", "failed")


P = ParamSpec("P")
R = TypeVar("R")


def _store_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Database failures leave the ledger as ``StoreError`` (the runner's port speaks no SQL)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except SQLAlchemyError as exc:
            ledger = args[0]
            assert isinstance(ledger, SqlJobLedger)
            reason = getattr(exc, "orig", None) or exc
            raise StoreError(
                f"job history at {redact_url(ledger.database.url)} is unavailable: "
                f"{type(reason).__name__}: {reason}".splitlines()[0]
            ) from exc

    return wrapper


class _NotOurs(Exception):
    """The run was already recorded or its lease taken over: write nothing."""


class SqlJobLedger:
    """``JobLedger`` on the deskbot database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- claiming and releasing -------------------------------------------------------------

    @_store_errors
    def claim(
        self,
        job: str,
        trigger_key: str,
        *,
        fire_time: datetime,
        instance: str,
        now: datetime,
        expires_at: datetime,
        takeover: bool = False,
    ) -> JobClaim | None:
        dialect: Any = postgresql if self.database.dialect == "postgresql" else sqlite
        with self.database.engine.begin() as conn:
            inserted = conn.execute(
                dialect.insert(_LEASES)
                .values(
                    job=job,
                    trigger_key=trigger_key,
                    instance=instance,
                    run_id=None,
                    fire_time=fire_time,
                    expires_at=expires_at,
                    done=False,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["job", "trigger_key"])
                # RETURNING, not rowcount: drivers do not all report rowcount for INSERT.
                .returning(_LEASES.c.job)
            ).first()
            took_over: str | None = None
            if inserted is None:
                took_over = self._take_over(
                    conn,
                    job,
                    trigger_key,
                    instance=instance,
                    now=now,
                    expires_at=expires_at,
                    force=takeover,
                )
                if took_over is None:
                    return None
            run_id = conn.execute(
                insert(_RUNS)
                .values(
                    job=job,
                    trigger_key=trigger_key,
                    instance=instance,
                    started_at=now,
                    outcome="running",
                )
                .returning(_RUNS.c.id)
            ).scalar_one()
            conn.execute(
                update(_LEASES)
                .where(_LEASES.c.job == job, _LEASES.c.trigger_key == trigger_key)
                .values(run_id=run_id)
            )
        return JobClaim(job, trigger_key, instance, int(run_id), fire_time, took_over)

    def _take_over(
        self,
        conn: Connection,
        job: str,
        trigger_key: str,
        *,
        instance: str,
        now: datetime,
        expires_at: datetime,
        force: bool = False,
    ) -> str | None:
        """Take an unfinished trigger over: once its lease expired, or at once (``force``)
        when the caller holds the job's mutex, which a live holder of the trigger would."""
        row = conn.execute(
            select(
                _LEASES.c.instance, _LEASES.c.run_id, _LEASES.c.done, _LEASES.c.expires_at
            ).where(_LEASES.c.job == job, _LEASES.c.trigger_key == trigger_key)
        ).one_or_none()
        if row is None or row.done or (row.expires_at > now and not force):
            return None
        guards = [
            _LEASES.c.job == job,
            _LEASES.c.trigger_key == trigger_key,
            _LEASES.c.done.is_(False),
            _LEASES.c.instance == row.instance,
        ]
        if not force:
            guards.append(_LEASES.c.expires_at <= now)
        won = conn.execute(
            update(_LEASES)
            .where(*guards)
            .values(instance=instance, expires_at=expires_at, updated_at=now)
        )
        if won.rowcount != 1:
            return None
        if row.run_id is not None:
            conn.execute(
                update(_RUNS)
                .where(_RUNS.c.id == row.run_id, _RUNS.c.outcome == "running")
                .values(
                    outcome="abandoned",
                    finished_at=now,
                    error=f"lease expired: instance {row.instance} stopped renewing it; "
                    f"taken over by {instance}",
                )
            )
        return str(row.instance)

    @_store_errors
    def renew(self, job: str, trigger_key: str, instance: str, expires_at: datetime) -> bool:
        with self.database.engine.begin() as conn:
            result = conn.execute(
                update(_LEASES)
                .where(
                    _LEASES.c.job == job,
                    _LEASES.c.trigger_key == trigger_key,
                    _LEASES.c.instance == instance,
                    _LEASES.c.done.is_(False),
                )
                .values(expires_at=expires_at)
            )
        return bool(result.rowcount == 1)

    @_store_errors
    def finish(
        self,
        claim: JobClaim,
        outcome: str,
        finished_at: datetime,
        error: str | None = None,
        detail: str | None = None,
    ) -> bool:
        abandoned = outcome not in FINISHED
        try:
            with self.database.engine.begin() as conn:
                self._finish(
                    conn,
                    claim,
                    outcome=outcome,
                    finished_at=finished_at,
                    error=error,
                    detail=detail,
                    abandoned=abandoned,
                )
        except _NotOurs:
            return False
        return True

    def _finish(
        self,
        conn: Connection,
        claim: JobClaim,
        *,
        outcome: str,
        finished_at: datetime,
        error: str | None,
        detail: str | None,
        abandoned: bool,
    ) -> None:
        released = conn.execute(
            update(_LEASES)
            .where(
                _LEASES.c.job == claim.job,
                _LEASES.c.trigger_key == claim.trigger_key,
                _LEASES.c.instance == claim.instance,
                _LEASES.c.done.is_(False),
            )
            .values(
                done=not abandoned,
                # An abandoned trigger is free at once: another replica may run it.
                expires_at=finished_at if abandoned else _LEASES.c.expires_at,
                updated_at=finished_at,
            )
        )
        if released.rowcount != 1:
            raise _NotOurs
        recorded = conn.execute(
            update(_RUNS)
            .where(_RUNS.c.id == claim.run_id, _RUNS.c.outcome == "running")
            .values(outcome=outcome, finished_at=finished_at, error=error, detail=detail)
        )
        if recorded.rowcount != 1:
            # Already recorded (abandoned at shutdown, or taken over): roll back, keep it.
            raise _NotOurs

    @_store_errors
    def expired_leases(
        self, now: datetime, fired_since: datetime
    ) -> list[tuple[str, str, datetime]]:
        with self.database.engine.connect() as conn:
            rows = conn.execute(
                select(_LEASES.c.job, _LEASES.c.trigger_key, _LEASES.c.fire_time)
                .where(
                    _LEASES.c.done.is_(False),
                    _LEASES.c.expires_at <= now,
                    _LEASES.c.fire_time >= fired_since,
                )
                .order_by(_LEASES.c.fire_time)
            ).all()
        return [(r.job, r.trigger_key, r.fire_time) for r in rows]

    @_store_errors
    def unfinished_leases(self, fired_since: datetime) -> list[tuple[str, str, datetime]]:
        """Triggers fired since ``fired_since`` that no run finished, whatever their lease
        says (the job mutex, on the database's clock, decides who may take one over)."""
        with self.database.engine.connect() as conn:
            rows = conn.execute(
                select(_LEASES.c.job, _LEASES.c.trigger_key, _LEASES.c.fire_time)
                .where(_LEASES.c.done.is_(False), _LEASES.c.fire_time >= fired_since)
                .order_by(_LEASES.c.fire_time)
            ).all()
        return [(r.job, r.trigger_key, r.fire_time) for r in rows]

    # -- history ----------------------------------------------------------------------------

    @_store_errors
    def recent_runs(self, job: str | None = None, limit: int = 20) -> list[JobRunRecord]:
        query = select(_RUNS).order_by(_RUNS.c.started_at.desc(), _RUNS.c.id.desc()).limit(limit)
        if job is not None:
            query = query.where(_RUNS.c.job == job)
        with self.database.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            JobRunRecord(
                id=r.id,
                job=r.job,
                trigger_key=r.trigger_key,
                instance=r.instance,
                started_at=r.started_at,
                finished_at=r.finished_at,
                outcome=r.outcome,
                error=r.error,
                detail=r.detail,
            )
            for r in rows
        ]

    @_store_errors
    def last_success(self, job: str) -> datetime | None:
        with self.database.engine.connect() as conn:
            value = conn.execute(
                select(func.max(_RUNS.c.finished_at)).where(
                    _RUNS.c.job == job, _RUNS.c.outcome == "ok"
                )
            ).scalar_one_or_none()
        return value

    @_store_errors
    def failure_streak(self, job: str, limit: int) -> tuple[int, int]:
        with self.database.engine.connect() as conn:
            outcomes = list(
                conn.execute(
                    select(_RUNS.c.outcome)
                    .where(_RUNS.c.job == job, _RUNS.c.outcome.in_(FINISHED))
                    .order_by(_RUNS.c.finished_at.desc(), _RUNS.c.id.desc())
                    .limit(limit + 1)
                ).scalars()
            )

        def streak(items: list[str]) -> int:
            count = 0
            for outcome in items[:limit]:
                if outcome != "failed":
                    break
                count += 1
            return count

        return streak(outcomes), streak(outcomes[1:])

    @_store_errors
    def prune(self, finished_before: datetime) -> tuple[int, int]:
        with self.database.engine.begin() as conn:
            runs = conn.execute(
                delete(_RUNS).where(
                    _RUNS.c.outcome != "running", _RUNS.c.finished_at < finished_before
                )
            ).rowcount
            leases = conn.execute(
                delete(_LEASES).where(
                    # Finished triggers, and abandoned ones nobody took over since.
                    or_(_LEASES.c.done.is_(True), _LEASES.c.expires_at < finished_before),
                    _LEASES.c.updated_at < finished_before,
                )
            ).rowcount
        return int(runs), int(leases)
