"""perf: index ratings by updated_at, so a follow-up pass reads only what changed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 06:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("satisfaction_ratings", schema=None) as batch_op:
        batch_op.create_index("ix_ratings_updated", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("satisfaction_ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_updated")
