"""Database access: engine setup, migrations, sessions and dialect-aware bulk upserts.

SQLite is the default (WAL mode, a busy timeout, foreign keys on); the same code runs on
PostgreSQL given a ``postgresql+psycopg://`` URL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel

from deskbot.errors import StoreError
from deskbot.log import get_logger

log = get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def utc(value: datetime | None) -> datetime | None:
    """A datetime read back from the database as aware UTC (SQLite returns naive UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def required_utc(value: datetime | None) -> datetime:
    """``utc`` for a column that is never NULL."""
    out = utc(value)
    assert out is not None
    return out


def make_engine(url: str, busy_timeout_ms: int = 10_000, pool_size: int = 5) -> Engine:
    """An engine tuned for deskbot's workload on SQLite or PostgreSQL."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        if not memory:
            path = url.split("///", 1)[-1]
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)
    raise StoreError(f"unsupported database URL scheme in {url.split(':', 1)[0]!r}")


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"
    return url


class Database:
    """The store's handle: one engine, migrations, sessions and upserts."""

    def __init__(self, url: str, busy_timeout_ms: int = 10_000, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms, pool_size)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def check(self) -> None:
        """Raise ``StoreError`` unless the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise StoreError(
                f"cannot reach the database at {redact_url(self.url)}: {exc.orig}; check "
                "storage.url and that the server is running"
            ) from exc

    # -- migrations -------------------------------------------------------------------------

    def _alembic_config(self, connection: Connection) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = connection
        return cfg

    def upgrade(self) -> list[str]:
        """Apply pending migrations; returns the revisions applied (empty if up to date)."""
        self.check()
        from deskbot.adapters.db.perf_migrations import at_head

        with self.engine.connect() as probe:  # the usual case, without importing alembic
            if at_head(probe):
                return []
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        try:
            with self.engine.begin() as conn:
                before = MigrationContext.configure(conn).get_current_revision()
                cfg = self._alembic_config(conn)
                script = ScriptDirectory.from_config(cfg)
                head = script.get_current_head()
                if before == head:
                    return []
                pending = [
                    rev.revision for rev in script.iterate_revisions(head, before or "base")
                ][::-1]
                if pg_lock := self.dialect == "postgresql":
                    # Replicas starting together: one migrates, the others wait for it.
                    conn.execute(text("SELECT pg_advisory_xact_lock(7319001)"))
                    now = MigrationContext.configure(conn).get_current_revision()
                    if now == head:
                        return []
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"database migration failed: {exc}") from exc
        log.info("db.migrated", revisions=pending, dialect=self.dialect, locked=pg_lock)
        return pending

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    # -- sessions and writes ----------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def upsert(
        self,
        conn: Connection | Session,
        model: type[SQLModel] | Table,
        rows: Sequence[Mapping[str, Any]],
        key: Sequence[str] = ("id",),
        update: Sequence[str] | None = None,
    ) -> int:
        """Insert rows, updating ``update`` columns (default: all but the key) on conflict.

        Idempotent: applying the same rows twice leaves the same table. Runs inside the
        caller's transaction so a page and its cursor commit together.
        """
        if not rows:
            return 0
        table: Table = model if isinstance(model, Table) else model.__table__  # type: ignore[attr-defined]
        columns = list(rows[0].keys())
        update_cols = list(update) if update is not None else [c for c in columns if c not in key]
        from sqlalchemy.dialects import (
            postgresql,
            sqlite,
        )  # here: a read-only command needs neither

        dialect = postgresql if self.dialect == "postgresql" else sqlite
        stmt = dialect.insert(table)
        if update_cols:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(key),
                set_={c: stmt.excluded[c] for c in update_cols},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
        executor = conn.connection() if isinstance(conn, Session) else conn
        executor.execute(stmt, list(rows))
        return len(rows)

    def dispose(self) -> None:
        self.engine.dispose()


def all_tables() -> list[str]:
    """Names of every table deskbot defines (for tests and diagnostics)."""
    from deskbot.adapters.db import tables

    _ = tables  # the import registers the tables on SQLModel.metadata
    return sorted(SQLModel.metadata.tables)
