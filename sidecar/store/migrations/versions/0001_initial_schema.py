"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:20:25.217946
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tag", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dead_letters_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "predictions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=256), nullable=True),
        sa.Column("schema_version", sa.SmallInteger(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(length=128), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("version", sa.String(length=128), nullable=True),
        sa.Column("routing", sa.String(length=16), nullable=True),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("is_outlier", sa.Boolean(), nullable=False),
        sa.Column("max_outlier_score", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("inference_ms", sa.Float(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.UniqueConstraint("job_id", name=op.f("uq_predictions_job_id")),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_predictions_event_time"), ["event_time"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_predictions_host_pid_seq"), ["host", "pid", "seq"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_predictions_is_outlier_event_time"),
            ["is_outlier", "event_time"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_predictions_model_version_event_time"),
            ["model", "version", "event_time"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_predictions_request_id"), ["request_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_predictions_status_event_time"), ["status", "event_time"], unique=False
        )

    op.create_table(
        "rollups",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("endpoint", sa.String(length=128), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("outlier_requests", sa.BigInteger(), nullable=False),
        sa.Column("outlier_rows", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum_ms", sa.Float(), nullable=False),
        sa.Column("latency_max_ms", sa.Float(), nullable=False),
        sa.Column("lat_h00", sa.BigInteger(), nullable=False),
        sa.Column("lat_h01", sa.BigInteger(), nullable=False),
        sa.Column("lat_h02", sa.BigInteger(), nullable=False),
        sa.Column("lat_h03", sa.BigInteger(), nullable=False),
        sa.Column("lat_h04", sa.BigInteger(), nullable=False),
        sa.Column("lat_h05", sa.BigInteger(), nullable=False),
        sa.Column("lat_h06", sa.BigInteger(), nullable=False),
        sa.Column("lat_h07", sa.BigInteger(), nullable=False),
        sa.Column("lat_h08", sa.BigInteger(), nullable=False),
        sa.Column("lat_h09", sa.BigInteger(), nullable=False),
        sa.Column("lat_h10", sa.BigInteger(), nullable=False),
        sa.Column("lat_h11", sa.BigInteger(), nullable=False),
        sa.Column("lat_h12", sa.BigInteger(), nullable=False),
        sa.Column("lat_h13", sa.BigInteger(), nullable=False),
        sa.Column("lat_h14", sa.BigInteger(), nullable=False),
        sa.Column("lat_h15", sa.BigInteger(), nullable=False),
        sa.Column("lat_h16", sa.BigInteger(), nullable=False),
        sa.Column("lat_h17", sa.BigInteger(), nullable=False),
        sa.Column("lat_h18", sa.BigInteger(), nullable=False),
        sa.Column("lat_h19", sa.BigInteger(), nullable=False),
        sa.Column("lat_h20", sa.BigInteger(), nullable=False),
        sa.Column("lat_h21", sa.BigInteger(), nullable=False),
        sa.Column("score_h00", sa.BigInteger(), nullable=False),
        sa.Column("score_h01", sa.BigInteger(), nullable=False),
        sa.Column("score_h02", sa.BigInteger(), nullable=False),
        sa.Column("score_h03", sa.BigInteger(), nullable=False),
        sa.Column("score_h04", sa.BigInteger(), nullable=False),
        sa.Column("score_h05", sa.BigInteger(), nullable=False),
        sa.Column("score_h06", sa.BigInteger(), nullable=False),
        sa.Column("score_h07", sa.BigInteger(), nullable=False),
        sa.Column("score_h08", sa.BigInteger(), nullable=False),
        sa.Column("score_h09", sa.BigInteger(), nullable=False),
        sa.Column("score_h10", sa.BigInteger(), nullable=False),
        sa.Column("score_h11", sa.BigInteger(), nullable=False),
        sa.Column("score_h12", sa.BigInteger(), nullable=False),
        sa.Column("score_h13", sa.BigInteger(), nullable=False),
        sa.Column("score_h14", sa.BigInteger(), nullable=False),
        sa.Column("score_h15", sa.BigInteger(), nullable=False),
        sa.Column("score_h16", sa.BigInteger(), nullable=False),
        sa.Column("score_h17", sa.BigInteger(), nullable=False),
        sa.Column("score_h18", sa.BigInteger(), nullable=False),
        sa.Column("score_h19", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "minute", "model", "version", "endpoint", "status", name=op.f("pk_rollups")
        ),
    )
    with op.batch_alter_table("rollups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rollups_minute_model_version"),
            ["minute", "model", "version"],
            unique=False,
        )

    op.create_table(
        "streams",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_seq", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("host", "pid", name=op.f("pk_streams")),
    )


def downgrade() -> None:

    op.drop_table("streams")
    with op.batch_alter_table("rollups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollups_minute_model_version"))

    op.drop_table("rollups")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_status_event_time"))
        batch_op.drop_index(batch_op.f("ix_predictions_request_id"))
        batch_op.drop_index(batch_op.f("ix_predictions_model_version_event_time"))
        batch_op.drop_index(batch_op.f("ix_predictions_is_outlier_event_time"))
        batch_op.drop_index(batch_op.f("ix_predictions_host_pid_seq"))
        batch_op.drop_index(batch_op.f("ix_predictions_event_time"))

    op.drop_table("predictions")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letters_received_at"))

    op.drop_table("dead_letters")
