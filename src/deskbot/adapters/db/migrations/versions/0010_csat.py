"""CSAT from either source: survey-response columns on satisfaction_ratings

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("satisfaction_ratings") as batch:
        batch.add_column(sa.Column("source", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("survey_response_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("raw_score", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("scale", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("attribution", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("satisfaction_ratings") as batch:
        for name in ("attribution", "scale", "raw_score", "survey_response_id", "source"):
            batch.drop_column(name)
