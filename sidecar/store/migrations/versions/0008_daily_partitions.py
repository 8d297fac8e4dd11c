"""daily partitions: on PostgreSQL ``predictions`` becomes range-partitioned by event_time

One partition per UTC day (``predictions_pYYYYMMDD``), so that pruning a day drops a
table instead of deleting a million rows. A partitioned table's keys must hold the
partition key: the primary key becomes ``(id, event_time)`` and the unique key
``(job_id, event_time)``. A job_id's event time is fixed by the api when the request
arrives and every copy of a record carries it, so a record delivered twice still meets
its own row: stored once (``sidecar.store.partitions`` says more). The writer inserts
with ``ON CONFLICT DO NOTHING``, which holds for either key.

The upgrade renames the table, creates the partitioned one like it (same columns,
defaults, the id sequence), a partition for each day that holds rows and the next
days, copies the rows over, then builds the keys and the same secondary indexes (read
from the old table, so whatever later revisions add comes along). It rewrites the
table: on a large store, run it in a quiet hour. The downgrade does the reverse (a
job_id stored twice under two event times, possible only after this revision, keeps
its first row). SQLite is unchanged.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 13:25:00
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import Connection

from sidecar.store.partitions import create_partitions, days_around

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_AHEAD = 3


def _indexes(conn: Connection, table: str) -> dict[str, str]:
    """The table's indexes that no constraint owns: name -> CREATE INDEX statement."""
    rows = conn.exec_driver_sql(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.tablename = %(table)s AND i.schemaname = current_schema() "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        {"table": table},
    ).all()
    return {name: definition for name, definition in rows}


def _set_aside(conn: Connection, table: str, suffix: str) -> dict[str, str]:
    """Rename ``table``, its constraints and its indexes out of the way; its index
    statements (for the new table), by their original names."""
    indexes = _indexes(conn, table)
    aside = f"{table}{suffix}"
    conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {aside}")
    constraints = conn.exec_driver_sql(
        "SELECT conname FROM pg_constraint WHERE conrelid = %(t)s::regclass",
        {"t": aside},
    ).scalars()
    for name in list(constraints):
        conn.exec_driver_sql(f"ALTER TABLE {aside} RENAME CONSTRAINT {name} TO {name}{suffix}")
    for name in indexes:
        conn.exec_driver_sql(f"ALTER INDEX {name} RENAME TO {name}{suffix}")
    return indexes


def _rebuild(
    conn: Connection, old: str, indexes: dict[str, str], keys: tuple[str, str], copy: str
) -> None:
    """Copy the rows of ``old`` into ``predictions`` (``copy``), then add the keys and the
    indexes, and hand the id sequence over; drop ``old``."""
    conn.exec_driver_sql(copy)
    primary, unique = keys
    conn.exec_driver_sql(f"ALTER TABLE predictions ADD CONSTRAINT pk_predictions {primary}")
    conn.exec_driver_sql(f"ALTER TABLE predictions ADD CONSTRAINT {unique}")
    for definition in indexes.values():
        # Read before the rename: the statements name "predictions", now the new table.
        conn.exec_driver_sql(definition)
    conn.exec_driver_sql("ALTER SEQUENCE predictions_id_seq OWNED BY predictions.id")
    conn.exec_driver_sql(f"DROP TABLE {old}")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    indexes = _set_aside(conn, "predictions", "_unpartitioned")
    conn.exec_driver_sql(
        "CREATE TABLE predictions (LIKE predictions_unpartitioned "
        "INCLUDING DEFAULTS INCLUDING STORAGE) PARTITION BY RANGE (event_time)"
    )
    days = set(
        conn.exec_driver_sql(
            "SELECT DISTINCT (event_time AT TIME ZONE 'UTC')::date FROM predictions_unpartitioned"
        ).scalars()
    )
    create_partitions(conn, days | set(days_around(datetime.now(UTC), _AHEAD)))
    _rebuild(
        conn,
        "predictions_unpartitioned",
        indexes,
        (
            "PRIMARY KEY (id, event_time)",
            "uq_predictions_job_id_event_time UNIQUE (job_id, event_time)",
        ),
        "INSERT INTO predictions SELECT * FROM predictions_unpartitioned",
    )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    indexes = _set_aside(conn, "predictions", "_partitioned")
    conn.exec_driver_sql(
        "CREATE TABLE predictions (LIKE predictions_partitioned "
        "INCLUDING DEFAULTS INCLUDING STORAGE)"
    )
    _rebuild(
        conn,
        "predictions_partitioned",
        indexes,
        ("PRIMARY KEY (id)", "uq_predictions_job_id UNIQUE (job_id)"),
        "INSERT INTO predictions SELECT DISTINCT ON (job_id) * FROM predictions_partitioned "
        "ORDER BY job_id, id",
    )
