"""feedback: ground truth by job_id, in a table of its own, and its per-minute quality rollups

Feedback arrives as records of its own tag and is stored by (job_id, row); the writer
joins it to the prediction with that job_id when both are stored (in either order) and
counts the comparison in ``quality_rollups``, by the prediction's minute (and in
``quality_rollups_hourly`` by its hour, for windows of days).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 13:25:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DELAY_BUCKETS = 7
"""schema.DELAY_COLUMNS as of this revision."""


def _when(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("row_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("schema_version", sa.SmallInteger(), nullable=False),
        sa.Column("label", sa.String(128), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        _when("event_time"),
        _when("stored_at"),
        sa.Column("feedback_job_id", sa.String(64), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("predicted_label", sa.String(128), nullable=True),
        sa.Column("predicted_value", sa.Float(), nullable=True),
        _when("prediction_time", nullable=True),
        sa.Column("outcome", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "row_index", name="pk_feedback"),
    )
    op.create_index(
        "ix_feedback_unmatched",
        "feedback",
        ["event_time"],
        postgresql_where=sa.text("prediction_time IS NULL"),
        sqlite_where=sa.text("prediction_time IS NULL"),
    )
    _quality_rollups("quality_rollups", "minute")
    _quality_rollups("quality_rollups_hourly", "hour")


def _quality_rollups(name: str, time_column: str) -> None:
    op.create_table(
        name,
        _when(time_column),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("truth", sa.String(128), nullable=False),
        sa.Column("predicted", sa.String(128), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("unusable", sa.BigInteger(), nullable=False),
        sa.Column("error_sum", sa.Float(), nullable=False),
        sa.Column("abs_error_sum", sa.Float(), nullable=False),
        sa.Column("squared_error_sum", sa.Float(), nullable=False),
        sa.Column("delay_sum_s", sa.Float(), nullable=False),
        sa.Column("delay_max_s", sa.Float(), nullable=False),
        *(
            sa.Column(f"delay_h{i:02d}", sa.BigInteger(), nullable=False)
            for i in range(DELAY_BUCKETS)
        ),
        sa.PrimaryKeyConstraint(
            time_column, "model", "version", "truth", "predicted", name=f"pk_{name}"
        ),
    )


def downgrade() -> None:
    op.drop_table("quality_rollups_hourly")
    op.drop_table("quality_rollups")
    op.drop_index("ix_feedback_unmatched", table_name="feedback")
    op.drop_table("feedback")
