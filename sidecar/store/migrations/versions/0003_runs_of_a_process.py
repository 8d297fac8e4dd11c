"""runs of a process: run_id in predictions and in the streams key

An api process restarted with the same pid (a container restarted in its pod) numbers
its records from 1 again. Records now carry the run's ``run_id``; ``streams`` counts each
(host, pid, run_id) on its own (rows from before get run_id '') and the loss-accounting
index walks each run's sequence numbers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("run_id", sa.String(length=64), nullable=True))
        batch.drop_index("ix_predictions_host_pid_seq")
        batch.create_index(
            "ix_predictions_host_pid_run_id_seq", ["host", "pid", "run_id", "seq"], unique=False
        )
    with op.batch_alter_table("streams") as batch:
        batch.add_column(
            sa.Column("run_id", sa.String(length=64), nullable=False, server_default="")
        )
        batch.drop_constraint("pk_streams", type_="primary")
        batch.create_primary_key("pk_streams", ["host", "pid", "run_id"])


def downgrade() -> None:
    # Runs of one (host, pid) merge back into one stream row.
    op.execute(
        "DELETE FROM streams WHERE run_id <> '' AND EXISTS (SELECT 1 FROM streams s "
        "WHERE s.host = streams.host AND s.pid = streams.pid AND s.run_id < streams.run_id)"
    )
    with op.batch_alter_table("streams") as batch:
        batch.drop_constraint("pk_streams", type_="primary")
        batch.create_primary_key("pk_streams", ["host", "pid"])
        batch.drop_column("run_id")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_index("ix_predictions_host_pid_run_id_seq")
        batch.create_index("ix_predictions_host_pid_seq", ["host", "pid", "seq"], unique=False)
        batch.drop_column("run_id")
