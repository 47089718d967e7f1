"""Housekeeping the database engine does not do on its own."""

from __future__ import annotations

from typing import Any

from deskbot.adapters.db.store import Database, all_tables
from deskbot.log import get_logger

log = get_logger(__name__)


def optimize(database: Database) -> dict[str, Any]:
    """Refresh the planner's statistics; on SQLite also fold the WAL back into the database.

    SQLite: ``PRAGMA optimize`` (cheap, re-analyses only what changed) and
    ``PRAGMA wal_checkpoint(TRUNCATE)``, which keeps the ``-wal`` file from growing without
    bound when readers never leave a gap for the automatic checkpoint.
    PostgreSQL: ``ANALYZE`` on deskbot's tables (autovacuum does the vacuuming).
    """
    if database.dialect == "sqlite":
        with database.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA optimize")
            busy, wal_frames, checkpointed = conn.exec_driver_sql(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).one()
            conn.commit()
        return {
            "optimized": True,
            "wal_checkpoint": {
                "busy": bool(busy),
                "wal_frames": int(wal_frames),
                "checkpointed": int(checkpointed),
            },
        }
    present = set(database.table_names())
    analysed = [name for name in all_tables() if name in present]
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in analysed:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
    return {"optimized": True, "analysed_tables": len(analysed)}
