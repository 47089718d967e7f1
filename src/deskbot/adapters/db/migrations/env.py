"""Alembic environment: deskbot always passes an open connection (see Database.upgrade)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from deskbot.adapters.db import tables  # noqa: F401  # registers the tables on the metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by the bare alembic CLI
    raise RuntimeError("run migrations with 'deskbot db upgrade'")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
