"""people directory: people, departments, department members

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("zendesk_user_id", sa.BigInteger(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("tz", sa.String(length=64), nullable=True),
        sa.Column("lead_slack_id", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("is_guest", sa.Boolean(), nullable=False),
        sa.Column("matched_by", sa.String(length=16), nullable=False),
        sa.Column("inactive_reason", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slack_user_id", name="uq_people_slack"),
        sa.UniqueConstraint("zendesk_user_id", name="uq_people_zendesk"),
    )
    op.create_table(
        "departments",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("owner_slack_id", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("usergroup_id", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "department_members",
        sa.Column("department", sa.String(length=255), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("department", "slack_user_id"),
    )
    with op.batch_alter_table("department_members", schema=None) as batch_op:
        batch_op.create_index("ix_department_members_user", ["slack_user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("department_members", schema=None) as batch_op:
        batch_op.drop_index("ix_department_members_user")
    op.drop_table("department_members")
    op.drop_table("departments")
    op.drop_table("people")
