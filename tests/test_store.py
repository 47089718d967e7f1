"""The store: migrations match the models on both dialects, upserts are idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlmodel import SQLModel

from deskbot.adapters.db.store import Database, redact_url
from deskbot.adapters.db.tables import Action, Ticket

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _ticket(ticket_id: int, status: str = "open", **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": ticket_id,
        "created_at": T0,
        "updated_at": T0,
        "generated_timestamp": 1,
        "status": status,
        "is_deleted": False,
        "tags": "",
        "raw": "{}",
        "synced_at": T0,
    }
    row.update(extra)
    return row


def test_migrated_schema_equals_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_upgrade_is_idempotent(db: Database) -> None:
    assert db.upgrade() == []
    assert db.current_revision() is not None


def test_upsert_inserts_then_updates_without_duplicates(db: Database) -> None:
    with db.session() as session:
        db.upsert(session, Ticket, [_ticket(1), _ticket(2)])
    with db.session() as session:
        db.upsert(session, Ticket, [_ticket(2, status="solved"), _ticket(3)])
        db.upsert(session, Ticket, [_ticket(2, status="solved"), _ticket(3)])  # again: no-op
    with db.session() as session:
        rows = session.execute(select(Ticket.id, Ticket.status).order_by(Ticket.id)).all()
    assert [tuple(r) for r in rows] == [(1, "open"), (2, "solved"), (3, "open")]


def test_big_zendesk_ids_and_aware_times_round_trip(db: Database) -> None:
    big = 10_000_000_000_123
    with db.session() as session:
        db.upsert(session, Ticket, [_ticket(big)])
    with db.session() as session:
        ticket = session.get(Ticket, big)
    assert ticket is not None
    assert ticket.created_at == T0
    assert ticket.created_at.tzinfo is not None


def test_a_failed_transaction_leaves_nothing(db: Database) -> None:
    try:
        with db.session() as session:
            db.upsert(session, Ticket, [_ticket(7)])
            raise RuntimeError("crash between the page and its cursor")
    except RuntimeError:
        pass
    with db.session() as session:
        assert session.get(Ticket, 7) is None


def test_ledger_keys_are_unique(db: Database) -> None:
    with db.session() as session:
        session.add(Action(key="digest:C1:2026-11-23", kind="digest", created_at=T0, updated_at=T0))
    with db.session() as session:
        db.upsert(
            session,
            Action,
            [
                {
                    "key": "digest:C1:2026-11-23",
                    "kind": "digest",
                    "status": "pending",
                    "attempts": 0,
                    "payload": "{}",
                    "created_at": T0,
                    "updated_at": T0,
                }
            ],
            key=("key",),
            update=[],
        )
        count = session.execute(text("SELECT COUNT(*) FROM actions")).scalar_one()
    assert count == 1


def test_sqlite_file_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'x' / 'deskbot.sqlite'}", busy_timeout_ms=1234)
    with database.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 1234
    database.dispose()


def test_redact_url_hides_password() -> None:
    assert (
        redact_url("postgresql+psycopg://bot:hunter2@db:5432/d")
        == "postgresql+psycopg://bot:***@db:5432/d"
    )
    assert redact_url("sqlite:///data/deskbot.sqlite") == "sqlite:///data/deskbot.sqlite"
