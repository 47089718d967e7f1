"""rollups: per-day KPI cells (tickets, ratings, duration histograms), channel and tag labels

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:30:00

The tables start empty and the state row says so ("empty"): reports read the tickets until
the next sync (or ``deskbot db check --repair``) builds the rollups in the configured timezone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        "kpi_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("writes", sa.BigInteger(), nullable=False),
        sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.Column("ratings", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        state,
        [{"id": 1, "status": "empty", "version": 0, "writes": 0, "tickets": 0, "ratings": 0}],
    )
    op.create_table(
        "kpi_rollup_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("assignee_id", sa.BigInteger(), autoincrement=False, nullable=False),
        *[
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("created", "solved", "with_replies", "one_touch", "with_reopens")
        ],
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("replies", sa.BigInteger(), nullable=False),
        *[
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("backlog_in", "backlog_out", "good", "bad", "offered")
        ],
        *[
            sa.Column(name, sa.LargeBinary(), nullable=False)
            for name in ("frt", "frt_business", "resolution", "resolution_business", "requesters")
        ],
        sa.PrimaryKeyConstraint("day", "group_id", "assignee_id"),
    )
    op.create_index("ix_kpi_rollup_days_group", "kpi_rollup_days", ["group_id", "day"])
    op.create_index("ix_kpi_rollup_days_assignee", "kpi_rollup_days", ["assignee_id", "day"])
    op.create_table(
        "kpi_rollup_labels",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("assignee_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "label", "day", "group_id", "assignee_id"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_kpi_rollup_labels_group", "kpi_rollup_labels", ["kind", "group_id", "label", "day"]
    )
    op.create_index(
        "ix_kpi_rollup_labels_assignee",
        "kpi_rollup_labels",
        ["kind", "assignee_id", "label", "day"],
    )


def downgrade() -> None:
    op.drop_index("ix_kpi_rollup_labels_assignee", table_name="kpi_rollup_labels")
    op.drop_index("ix_kpi_rollup_labels_group", table_name="kpi_rollup_labels")
    op.drop_table("kpi_rollup_labels")
    op.drop_index("ix_kpi_rollup_days_assignee", table_name="kpi_rollup_days")
    op.drop_index("ix_kpi_rollup_days_group", table_name="kpi_rollup_days")
    op.drop_table("kpi_rollup_days")
    op.drop_table("kpi_rollup_state")
