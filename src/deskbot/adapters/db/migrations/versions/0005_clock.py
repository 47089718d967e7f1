"""job mutex (one run of a job at a time across processes), action claims, shared Slack replay keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_mutex",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=True),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("backend_pid", sa.Integer(), nullable=True),
        sa.Column("acquired_at", sa.Float(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("job"),
    )
    op.create_table(
        "slack_replay_keys",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "action_claims",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("slack_replay_keys", schema=None) as batch_op:
        batch_op.create_index("ix_slack_replay_keys_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_replay_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_slack_replay_keys_expires")
    op.drop_table("slack_replay_keys")
    op.drop_table("action_claims")
    op.drop_table("job_mutex")
