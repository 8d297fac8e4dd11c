"""SQLite bulk path: multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING job_id``.

SQLAlchemy's per-parameter processing costs more than SQLite's own work at ingest rates,
so values are prepared here exactly as SQLAlchemy would store them (timestamps as naive
UTC text with microseconds, JSON as text) and sent as driver SQL in chunks of ``CHUNK``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Connection

from sidecar.record import PredictionRecord
from sidecar.store.mapping import PREDICTION_COLUMNS, prediction_values

CHUNK = 500
"""Rows per statement: 22 parameters a row stays far below SQLite's 32,766 variables."""


@cache
def _statement(rows: int) -> str:
    values = ", ".join(["(" + ", ".join("?" * len(PREDICTION_COLUMNS)) + ")"] * rows)
    return (
        f"INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)}) VALUES {values} "  # noqa: S608
        "ON CONFLICT (job_id) DO NOTHING RETURNING job_id"
    )


def sqlite_datetime(value: datetime) -> str:
    """The text schema.UTCDateTime stores on SQLite for ``value`` (naive means UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


def _utc_text(value: datetime) -> str:
    # Hot path: ``value`` is already UTC (mapping.to_datetime); drop the "+00:00".
    return value.isoformat(sep=" ", timespec="microseconds")[:26]


def insert_predictions(
    conn: Connection, records: Sequence[PredictionRecord], stored_at: datetime
) -> set[str]:
    """Insert ``records`` (unique job_ids) in the open transaction; the job_ids inserted."""
    stored = sqlite_datetime(stored_at)
    inserted: set[str] = set()
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        params = tuple(
            value for record in chunk for value in prediction_values(record, stored, _utc_text)
        )
        # exec_driver_sql: no per-parameter processing, but errors still arrive as SQLAlchemy's.
        inserted.update(conn.exec_driver_sql(_statement(len(chunk)), params).scalars())
    return inserted
