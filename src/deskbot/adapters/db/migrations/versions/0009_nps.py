"""internal NPS: rounds, asks, sealed answers, released answers, cells, reply routes, opt-outs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def _str(length: int) -> sa.String:
    return sa.String(length=length)


def upgrade() -> None:
    op.create_table(
        "nps_rounds",
        sa.Column("id", _str(64), nullable=False),
        sa.Column("quarter", _str(8), nullable=False),
        sa.Column("planned_at", _TZ, nullable=False),
        sa.Column("close_at", _TZ, nullable=False),
        sa.Column("status", _str(16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "nps_asks",
        sa.Column("id", _str(32), nullable=False),
        sa.Column("round_id", _str(64), nullable=False),
        sa.Column("quarter", _str(8), nullable=False),
        sa.Column("slack_user_id", _str(32), nullable=False),
        sa.Column("department", _str(255), nullable=False),
        sa.Column("send_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("status", _str(16), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("claimed_at", _TZ, nullable=True),
        sa.Column("sent_at", _TZ, nullable=True),
        sa.Column("dm_channel", _str(32), nullable=True),
        sa.Column("message_ts", _str(32), nullable=True),
        sa.Column("reminder", _str(16), nullable=True),
        sa.Column("expiry", _str(16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("nps_asks", schema=None) as batch_op:
        batch_op.create_index("ix_nps_asks_person", ["slack_user_id", "send_at"], unique=False)
        batch_op.create_index("ix_nps_asks_status", ["status", "send_at"], unique=False)
        batch_op.create_index("ix_nps_asks_round", ["round_id", "department"], unique=False)
    op.create_table(
        "nps_sealed",
        sa.Column("id", _str(32), nullable=False),
        sa.Column("round_id", _str(64), nullable=False),
        sa.Column("held_quarter", _str(8), nullable=True),
        sa.Column("box", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("nps_sealed", schema=None) as batch_op:
        batch_op.create_index("ix_nps_sealed_round", ["round_id", "held_quarter"], unique=False)
    op.create_table(
        "nps_answers",
        sa.Column("id", _str(32), nullable=False),
        sa.Column("department", _str(255), nullable=False),
        sa.Column("quarter", _str(8), nullable=False),
        sa.Column("round_id", _str(64), nullable=True),
        sa.Column("cell", _str(80), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("may_share", sa.Boolean(), nullable=False),
        sa.Column("discussed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("nps_answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_nps_answers_cell", ["department", "quarter", "cell"], unique=False
        )
    op.create_table(
        "nps_cells",
        sa.Column("department", _str(255), nullable=False),
        sa.Column("cell", _str(80), nullable=False),
        sa.Column("quarter", _str(8), nullable=False),
        sa.Column("round_id", _str(64), nullable=True),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("asked", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("promoters", sa.Integer(), nullable=False),
        sa.Column("passives", sa.Integer(), nullable=False),
        sa.Column("detractors", sa.Integer(), nullable=False),
        sa.Column("decided_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("department", "cell"),
    )
    op.create_table(
        "nps_reply_routes",
        sa.Column("id", _str(64), nullable=False),
        sa.Column("box", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "nps_optouts",
        sa.Column("slack_user_id", _str(32), nullable=False),
        sa.Column("opted_out_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("slack_user_id"),
    )


def downgrade() -> None:
    for table in (
        "nps_optouts",
        "nps_reply_routes",
        "nps_cells",
        "nps_answers",
        "nps_sealed",
        "nps_asks",
        "nps_rounds",
    ):
        op.drop_table(table)
