"""shadow records: ``shadow_of`` links a shadow version's record to the primary's job_id

A shadow version gets a copy of its model's requests after the caller's answer is sent;
its answer is logged as a record of its own (routing ``shadow``) whose ``shadow_of`` is
the job_id of the request it copied. Rollups do not count shadow records (they are not
traffic), so the column is on ``predictions`` only, with an index for the agreement join.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("shadow_of", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_predictions_shadow_of",
        "predictions",
        ["shadow_of"],
        postgresql_where=sa.text("shadow_of IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_shadow_of", table_name="predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("shadow_of")
