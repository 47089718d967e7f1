"""Shared fixtures. ``db`` runs a test on SQLite and, when reachable, on PostgreSQL."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator

import pytest

from deskbot.adapters.db.store import Database
from deskbot.testing import FakeClock

POSTGRES_URL = os.environ.get(
    "DESKBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("DESKBOT_REQUIRE_POSTGRES") == "1"
_pg_reason: str | None = None


def _postgres_available() -> bool:
    global _pg_reason
    if _pg_reason is not None:
        return _pg_reason == ""
    try:
        import psycopg

        url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        _pg_reason = ""
    except Exception as exc:  # any failure means: not available here
        _pg_reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return _pg_reason == ""


def require_postgres() -> None:
    """Skip (loudly) or, in CI, fail when PostgreSQL is not reachable."""
    if _postgres_available():
        return
    message = f"PostgreSQL not reachable at {POSTGRES_URL} ({_pg_reason})"
    if REQUIRE_POSTGRES:
        pytest.fail(message + "; DESKBOT_REQUIRE_POSTGRES=1 demands it")
    warnings.warn(message + "; PostgreSQL tests SKIPPED", stacklevel=2)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test (dropped afterwards)."""
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated, empty database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "deskbot.sqlite"
        database = Database(f"sqlite:///{path}")
        database.upgrade()
        yield database
        database.dispose()
    else:
        url = request.getfixturevalue("postgres_url")
        database = Database(url)
        database.upgrade()
        yield database
        database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
