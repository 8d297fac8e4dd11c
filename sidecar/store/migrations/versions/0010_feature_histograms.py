"""feature histograms: per-minute per-feature histogram rollups and the bins they count on

``feature_rollups`` holds, per minute, model version and input feature (or the prediction,
feature -1), the values counted per bin (and those of outlier rows);
``feature_rollups_hourly`` the same per hour; ``feature_references`` the bins of each
version (from its bundle manifest) and the training rows per bin.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 13:36:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIN_COLUMNS = tuple(f"b{i:02d}" for i in range(32))
"""As ``sidecar.store.bins.BIN_COLUMNS`` when this revision was written."""


def upgrade() -> None:
    op.create_table(
        "feature_rollups",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feature", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("outliers", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in BIN_COLUMNS),
        sa.PrimaryKeyConstraint("model", "version", "minute", "feature", name="pk_feature_rollups"),
    )
    op.create_index("ix_feature_rollups_minute", "feature_rollups", ["minute"])
    op.create_table(
        "feature_rollups_hourly",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feature", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("outliers", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in BIN_COLUMNS),
        sa.PrimaryKeyConstraint(
            "model", "version", "hour", "feature", name="pk_feature_rollups_hourly"
        ),
    )
    op.create_index("ix_feature_rollups_hourly_hour", "feature_rollups_hourly", ["hour"])
    op.create_table(
        "feature_references",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("feature", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("edges", sa.JSON(), nullable=True),
        sa.Column("reference", sa.JSON(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("mean", sa.Float(), nullable=True),
        sa.Column("std", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "version", "feature", name="pk_feature_references"),
    )


def downgrade() -> None:
    op.drop_table("feature_references")
    op.drop_index("ix_feature_rollups_hourly_hour", table_name="feature_rollups_hourly")
    op.drop_table("feature_rollups_hourly")
    op.drop_index("ix_feature_rollups_minute", table_name="feature_rollups")
    op.drop_table("feature_rollups")
