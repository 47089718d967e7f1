"""agent QA: cycles, samples, tasks, reviews with history, disputes

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qa_cycles",
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "qa_disputes",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("cycle_key", sa.String(length=16), nullable=False),
        sa.Column("agent_slack", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_by", sa.String(length=32), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index("ix_qa_disputes_state", "qa_disputes", ["state"], unique=False)
    op.create_table(
        "qa_review_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submission", sa.String(length=128), nullable=False),
        sa.Column("author", sa.String(length=32), nullable=False),
        sa.Column("comprehension", sa.Integer(), nullable=True),
        sa.Column("accuracy", sa.Integer(), nullable=True),
        sa.Column("judgment", sa.Integer(), nullable=True),
        sa.Column("communication", sa.Integer(), nullable=True),
        sa.Column("process_integrity", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("hero", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "submission", name="uq_qa_review_versions_submission"),
        sa.UniqueConstraint("task_id", "version", name="uq_qa_review_versions_version"),
    )
    op.create_table(
        "qa_reviews",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("cycle_key", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("comprehension", sa.Integer(), nullable=True),
        sa.Column("accuracy", sa.Integer(), nullable=True),
        sa.Column("judgment", sa.Integer(), nullable=True),
        sa.Column("communication", sa.Integer(), nullable=True),
        sa.Column("process_integrity", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("hero", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index("ix_qa_reviews_cycle", "qa_reviews", ["cycle_key"], unique=False)
    op.create_table(
        "qa_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cycle_key", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("stratum", sa.String(length=32), nullable=False),
        sa.Column("stratum_size", sa.Integer(), nullable=False),
        sa.Column("stratum_sample", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", name="uq_qa_samples_ticket"),
    )
    op.create_index(
        "ix_qa_samples_cycle_agent", "qa_samples", ["cycle_key", "agent_id"], unique=False
    )
    op.create_table(
        "qa_tasks",
        sa.Column("sample_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("cycle_key", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=32), nullable=False),
        sa.Column("agent_slack", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reassigned_from", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("sample_id"),
    )
    op.create_index(
        "ix_qa_tasks_cycle_reviewer", "qa_tasks", ["cycle_key", "reviewer"], unique=False
    )
    op.create_index("ix_qa_tasks_state", "qa_tasks", ["state", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_qa_disputes_state", table_name="qa_disputes")
    op.drop_index("ix_qa_reviews_cycle", table_name="qa_reviews")
    op.drop_index("ix_qa_samples_cycle_agent", table_name="qa_samples")
    op.drop_index("ix_qa_tasks_cycle_reviewer", table_name="qa_tasks")
    op.drop_index("ix_qa_tasks_state", table_name="qa_tasks")
    op.drop_table("qa_tasks")
    op.drop_table("qa_samples")
    op.drop_table("qa_reviews")
    op.drop_table("qa_review_versions")
    op.drop_table("qa_disputes")
    op.drop_table("qa_cycles")
