"""job leases: one run per scheduled trigger across replicas

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("trigger_key", sa.String(length=128), nullable=False),
        sa.Column("instance", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "trigger_key"),
    )
    with op.batch_alter_table("job_leases", schema=None) as batch_op:
        batch_op.create_index("ix_job_leases_updated", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_leases", schema=None) as batch_op:
        batch_op.drop_index("ix_job_leases_updated")
    op.drop_table("job_leases")
