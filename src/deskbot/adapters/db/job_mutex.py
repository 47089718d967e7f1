"""One run of a job at a time across processes: a mutex row per job, on the database's clock.

The per-trigger leases (``job_ledger.py``) make each scheduled fire run once; they do not stop
two *different* triggers of one job (a long backfill and the next fire, a manual run, a CLI
command, the follow-up pass chained after a sync) from running side by side on two replicas.
This does: every way a job starts takes ``job_mutex`` for its name first.

- **Acquire** inserts the row (``ON CONFLICT DO NOTHING``) or takes over a free one with a
  compare-and-set ``UPDATE … WHERE token = <the token we saw>``: two racers cannot both win.
- **Expiry is judged by the database's clock** (``julianday('now')`` on SQLite,
  ``clock_timestamp()`` on PostgreSQL): replicas whose clocks disagree still agree on when a
  hold expired.
- **A dead holder is seen at once**: on PostgreSQL the holder keeps one connection open for
  the hold and records its backend pid; when the process dies (kill -9) the backend goes with
  its socket, and ``pg_stat_activity`` no longer lists it. On the same host, a holder whose pid
  is gone is dead too. Either frees the mutex before its lease runs out.
- **A fence**: ``renew`` succeeds only for the token that holds the row. ``MutexHolder`` renews
  in a thread and, when a renewal fails (taken over) or cannot be made for a whole lease, sets
  ``lost``; ``FencedStop`` (the job's stop event) then reads as set, so the job stops at its
  next checkpoint exactly as on shutdown.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, literal_column, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import JobMutex
from deskbot.errors import DeskbotError, StoreError
from deskbot.log import get_logger
from deskbot.ports import StopEvent

log = get_logger(__name__)

_MUTEX: Table = JobMutex.__table__  # type: ignore[attr-defined]
_HOST = socket.gethostname()[:255]


def db_now(database: Database) -> Any:
    """The database's clock as epoch seconds (a SQL expression)."""
    if database.dialect == "postgresql":
        return func.extract("epoch", func.clock_timestamp())
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)")


@dataclass(frozen=True)
class MutexHold:
    job: str
    token: str
    holder: str


@dataclass(frozen=True)
class MutexInfo:
    """Who holds a job's mutex (for messages like "a sync is running on host:pid")."""

    job: str
    holder: str
    seconds_left: float


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqlJobMutex:
    """The ``job_mutex`` table (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._pinned: dict[str, Connection] = {}  # token -> the hold's own connection (PG)

    # -- acquire / renew / release ----------------------------------------------------------

    def acquire(self, job: str, holder: str, lease_seconds: float) -> MutexHold | None:
        """Take ``job``'s mutex for ``lease_seconds`` (database clock), or ``None`` if a live
        holder has it."""
        token = uuid.uuid4().hex
        backend = self._pin(token)
        try:
            won = self._acquire(job, holder, token, backend, lease_seconds)
        except SQLAlchemyError as exc:
            self._unpin(token)
            raise StoreError(f"job mutex for {job}: {type(exc).__name__}: {exc}") from exc
        if not won:
            self._unpin(token)
            return None
        return MutexHold(job, token, holder)

    def _acquire(
        self, job: str, holder: str, token: str, backend: int | None, lease_seconds: float
    ) -> bool:
        now = db_now(self.database)
        values = {
            "token": token,
            "holder": holder[:128],
            "host": _HOST,
            "pid": os.getpid(),
            "backend_pid": backend,
            "acquired_at": now,
            "expires_at": now + lease_seconds,
        }
        dialect: Any = postgresql if self.database.dialect == "postgresql" else sqlite
        with self.database.engine.begin() as conn:
            inserted = conn.execute(
                dialect.insert(_MUTEX)
                .values(job=job, **values)
                .on_conflict_do_nothing(index_elements=["job"])
                .returning(_MUTEX.c.job)
            ).first()
            if inserted is not None:
                return True
            row = conn.execute(
                select(
                    _MUTEX.c.token,
                    _MUTEX.c.holder,
                    _MUTEX.c.host,
                    _MUTEX.c.pid,
                    _MUTEX.c.backend_pid,
                    (_MUTEX.c.expires_at <= now).label("expired"),
                ).where(_MUTEX.c.job == job)
            ).one()
            if row.token is not None and not row.expired and not self._dead(conn, row):
                return False
            if row.token is not None and not row.expired:
                log.warning("job.mutex_holder_dead", job=job, holder=row.holder)
            seen = _MUTEX.c.token.is_(None) if row.token is None else _MUTEX.c.token == row.token
            taken = conn.execute(update(_MUTEX).where(_MUTEX.c.job == job, seen).values(**values))
            return bool(taken.rowcount == 1)

    def _dead(self, conn: Connection, row: Any) -> bool:
        """The holder's process is gone (its PostgreSQL backend, or its pid on this host)."""
        if row.backend_pid is not None and self.database.dialect == "postgresql":
            alive = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": int(row.backend_pid)},
            ).scalar_one()
            if not alive:
                return True
        return row.host == _HOST and row.pid is not None and not _pid_alive(int(row.pid))

    def renew(self, hold: MutexHold, lease_seconds: float) -> bool:
        """Extend the hold; ``False`` when it was lost (expired and taken over)."""
        now = db_now(self.database)
        try:
            with self.database.engine.begin() as conn:
                result = conn.execute(
                    update(_MUTEX)
                    .where(_MUTEX.c.job == hold.job, _MUTEX.c.token == hold.token)
                    .values(expires_at=now + lease_seconds)
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"job mutex for {hold.job}: {type(exc).__name__}: {exc}") from exc
        return bool(result.rowcount == 1)

    def release(self, hold: MutexHold) -> bool:
        """Free the mutex if this hold still has it (a lost hold releases nothing)."""
        try:
            with self.database.engine.begin() as conn:
                result = conn.execute(
                    update(_MUTEX)
                    .where(_MUTEX.c.job == hold.job, _MUTEX.c.token == hold.token)
                    .values(
                        token=None,
                        holder=None,
                        backend_pid=None,
                        pid=None,
                        expires_at=db_now(self.database),
                    )
                )
            return bool(result.rowcount == 1)
        except SQLAlchemyError as exc:
            log.warning("job.mutex_release_failed", job=hold.job, error=str(exc))
            return False
        finally:
            self._unpin(hold.token)

    def holder(self, job: str) -> MutexInfo | None:
        """The live holder of ``job``'s mutex, if any (by the database's clock)."""
        now = db_now(self.database)
        with self.database.engine.connect() as conn:
            row = conn.execute(
                select(_MUTEX.c.holder, (_MUTEX.c.expires_at - now).label("left")).where(
                    _MUTEX.c.job == job, _MUTEX.c.token.is_not(None)
                )
            ).first()
        if row is None or row.left <= 0:
            return None
        return MutexInfo(job, str(row.holder), float(row.left))

    # -- PostgreSQL: one connection per hold, so the holder's death shows at once ------------

    def _pin(self, token: str) -> int | None:
        if self.database.dialect != "postgresql":
            return None
        try:
            conn = self.database.engine.connect()
            backend = int(conn.execute(select(func.pg_backend_pid())).scalar_one())
            conn.commit()
        except SQLAlchemyError as exc:
            raise StoreError(f"job mutex: {type(exc).__name__}: {exc}") from exc
        with self._lock:
            self._pinned[token] = conn
        return backend

    def _unpin(self, token: str) -> None:
        with self._lock:
            conn = self._pinned.pop(token, None)
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()


class FencedStop:
    """A job's stop event: set on shutdown *or* when the job's mutex was lost (a fence).

    Satisfies ``deskbot.ports.StopEvent``; every service that honours the stop event between
    units of work therefore also stops when another process took the job over.
    """

    def __init__(self, stop: StopEvent) -> None:
        self._stop = stop
        self.lost = threading.Event()

    def is_set(self) -> bool:
        return self._stop.is_set() or self.lost.is_set()

    def set(self) -> None:
        """Shutdown for this job only (as ``threading.Event.set``)."""
        self.lost.set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                break
            self._stop.wait(left)
        return self.is_set()


class MutexHolder:
    """Hold a job's mutex while the job runs: renew it every third of the lease, and fence
    the job (``stop.lost``) when the hold is lost or could not be renewed for a whole lease.

    >>> with MutexHolder(mutex, "sync", "cli:host:pid", 120, stop) as held:
    ...     if held.hold is None: ...  # running elsewhere
    ...     run(stop_event=held.stop)
    """

    def __init__(
        self,
        mutex: SqlJobMutex,
        job: str,
        holder: str,
        lease_seconds: float,
        stop: StopEvent,
        *,
        renew_seconds: float | None = None,
        beat: bool = True,
    ) -> None:
        self.mutex = mutex
        self._beat_enabled = beat
        self.job = job
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.stop = FencedStop(stop)
        self.renew_seconds = renew_seconds or max(0.5, lease_seconds / 3)
        self.hold: MutexHold | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MutexHolder:
        self.hold = self.mutex.acquire(self.job, self.holder, self.lease_seconds)
        if self.hold is not None and self._beat_enabled:
            self._thread = threading.Thread(
                target=self._beat, name=f"mutex:{self.job}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.hold is not None:
            self.mutex.release(self.hold)

    def _beat(self) -> None:
        assert self.hold is not None
        last_ok = time.monotonic()
        while not self._done.wait(self.renew_seconds):
            try:
                renewed = self.mutex.renew(self.hold, self.lease_seconds)
            except StoreError as exc:
                # Our monotonic clock runs at the database's rate: once a whole lease has
                # passed since the last renewal, another process may have taken over.
                if time.monotonic() - last_ok >= self.lease_seconds * 0.9:
                    log.error("job.mutex_lost", job=self.job, reason="cannot renew", error=str(exc))
                    self.stop.lost.set()
                    return
                log.warning("job.mutex_renew_failed", job=self.job, error=str(exc))
                continue
            if not renewed:
                log.error("job.mutex_lost", job=self.job, reason="taken over")
                self.stop.lost.set()
                return
            last_ok = time.monotonic()


@contextmanager
def exclusive_run(
    database: Database, job: str, lease_seconds: float, stop: StopEvent
) -> Iterator[FencedStop]:
    """Run a CLI command (``deskbot sync``, ``deskbot followups run``) under ``job``'s mutex,
    like the daemon's runs: refused with a clear message while a run is in progress anywhere.
    Yields the stop event to give the work (it also fences a lost mutex)."""
    mutex = SqlJobMutex(database)
    holder = MutexHolder(mutex, job, f"cli:{_HOST}:{os.getpid()}", lease_seconds, stop)
    holder.__enter__()
    if holder.hold is None:
        info = mutex.holder(job)
        where = f" by {info.holder}" if info is not None else ""
        raise DeskbotError(
            f"a {job} run is already in progress{where}; nothing was done. Wait for it to "
            "finish (see 'deskbot jobs') and run this again"
        )
    try:
        yield holder.stop
    finally:
        holder.__exit__()
