"""the model registry: versions, bundle files, traffic splits, deploy log, generation, workers

Every api worker of every replica serves what these tables say; a change bumps the one
generation number, which the workers poll.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("shadow_fraction", sa.Float(), nullable=False, server_default="0"),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
    )
    op.create_table(
        "bundle_files",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_bundle_files"),
    )
    op.create_table(
        "traffic_splits",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_traffic_splits"),
    )
    op.create_index("ix_traffic_splits_model_id", "traffic_splits", ["model", "id"])
    op.create_table(
        "deploy_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deploy_events"),
    )
    op.create_index(
        "ix_deploy_events_model_version_id", "deploy_events", ["model", "version", "id"]
    )
    op.create_table(
        "registry_generation",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_generation"),
    )
    op.execute("INSERT INTO registry_generation (id, generation) VALUES (1, 0)")
    op.create_table(
        "registry_workers",
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", "pid", "run_id", name="pk_registry_workers"),
    )


def downgrade() -> None:
    op.drop_table("registry_workers")
    op.drop_table("registry_generation")
    op.drop_index("ix_deploy_events_model_version_id", table_name="deploy_events")
    op.drop_table("deploy_events")
    op.drop_index("ix_traffic_splits_model_id", table_name="traffic_splits")
    op.drop_table("traffic_splits")
    op.drop_table("bundle_files")
    op.drop_table("model_versions")
