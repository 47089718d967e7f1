"""QA calibration sessions: tickets, participants and blind scorecards

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "calibration_sessions",
        sa.Column("id", _SERIAL, nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("facilitator", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("how_chosen", sa.String(length=255), nullable=False),
        sa.Column("schedule_key", sa.String(length=64), nullable=True),
        sa.Column("acceptable_variance", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lessons", sa.Text(), nullable=True),
        sa.Column("lessons_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_key", name="uq_calibration_sessions_schedule_key"),
    )
    with op.batch_alter_table("calibration_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calibration_sessions_status", ["status", "deadline"], unique=False
        )
    op.create_table(
        "calibration_tickets",
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("session_id", "ticket_id"),
    )
    op.create_table(
        "calibration_participants",
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("calibrator", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "calibrator"),
    )
    op.create_table(
        "calibration_scores",
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("calibrator", sa.String(length=32), nullable=False),
        sa.Column("comprehension", sa.Integer(), nullable=True),
        sa.Column("accuracy", sa.Integer(), nullable=True),
        sa.Column("judgment", sa.Integer(), nullable=True),
        sa.Column("communication", sa.Integer(), nullable=True),
        sa.Column("process_integrity", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "ticket_id", "calibrator"),
    )


def downgrade() -> None:
    op.drop_table("calibration_scores")
    op.drop_table("calibration_participants")
    op.drop_table("calibration_tickets")
    with op.batch_alter_table("calibration_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_calibration_sessions_status")
    op.drop_table("calibration_sessions")
