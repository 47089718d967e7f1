"""rollups: per-day and per-month KPI cells (tickets, ratings, duration histograms) and labels

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
    for table in ("kpi_rollup_days", "kpi_rollup_months"):
        op.create_table(
            table,
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("group_id", sa.BigInteger(), nullable=False),
            sa.Column("assignee_id", sa.BigInteger(), nullable=False),
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
                for name in (
                    "frt",
                    "frt_business",
                    "resolution",
                    "resolution_business",
                    "requesters",
                )
            ],
            sa.PrimaryKeyConstraint("day", "group_id", "assignee_id"),
        )
        op.create_index(f"ix_{table}_group", table, ["group_id", "day"])
        op.create_index(f"ix_{table}_assignee", table, ["assignee_id", "day"])
    op.create_table(
        "kpi_rollup_labels",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("assignee_id", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "group_id", "day", "label", "assignee_id"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_kpi_rollup_labels_assignee",
        "kpi_rollup_labels",
        ["kind", "assignee_id", "day", "label", "n"],
    )
    op.create_index(
        "ix_kpi_rollup_labels_label", "kpi_rollup_labels", ["kind", "label", "day", "n"]
    )


def downgrade() -> None:
    op.drop_index("ix_kpi_rollup_labels_label", table_name="kpi_rollup_labels")
    op.drop_index("ix_kpi_rollup_labels_assignee", table_name="kpi_rollup_labels")
    op.drop_table("kpi_rollup_labels")
    for table in ("kpi_rollup_months", "kpi_rollup_days"):
        op.drop_index(f"ix_{table}_assignee", table_name=table)
        op.drop_index(f"ix_{table}_group", table_name=table)
        op.drop_table(table)
    op.drop_table("kpi_rollup_state")
