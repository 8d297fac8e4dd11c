"""SQLite bulk path: multi-row ``INSERT ... ON CONFLICT DO NOTHING`` of prepared values.

SQLAlchemy's per-parameter processing costs more than SQLite's own work at ingest rates,
so values are prepared here exactly as SQLAlchemy would store them (timestamps as naive
UTC text with microseconds, JSON as text; ``values``, before the write begins) and go
straight to the driver: 500 rows per statement, the rest in statements of 256, 128, ...
rows (``chunk_sizes``). They do not return the job_ids they inserted, so the
connection's change counter tells whether every row went in (the common case); when
some were duplicates, ``Duplicates`` is raised and the caller redoes the batch with
``insert_predictions_returning`` (multi-row ``INSERT ... RETURNING``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from sidecar.record import PredictionRecord
from sidecar.store.mapping import PREDICTION_COLUMNS, UtcText, record_values

CHUNK = 500
"""Rows per statement: 22 parameters a row stays far below SQLite's 32,766 variables."""


class Duplicates(Exception):
    """Some rows of the batch were already stored: redo it on the RETURNING path."""


@cache
def _statement(rows: int, returning: bool = True) -> str:
    values = ", ".join(["(" + ", ".join("?" * len(PREDICTION_COLUMNS)) + ")"] * rows)
    return (
        f"INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)}) VALUES {values} "  # noqa: S608
        "ON CONFLICT (job_id) DO NOTHING" + (" RETURNING job_id" if returning else "")
    )


def sqlite_datetime(value: datetime) -> str:
    """The text schema.UTCDateTime stores on SQLite for ``value`` (naive means UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


def chunk_sizes(rows: int) -> list[int]:
    """Statement sizes for ``rows`` rows: chunks of ``CHUNK``, then powers of two, so that
    a few statements, each compiled once and cached, serve every batch size."""
    sizes = [CHUNK] * (rows // CHUNK)
    rest = rows % CHUNK
    size = 1 << (CHUNK.bit_length() - 1)
    while rest:
        if rest >= size:
            sizes.append(size)
            rest -= size
        size >>= 1
    return sizes


def values(records: Sequence[PredictionRecord]) -> list[tuple[Any, ...]]:
    """Each record's values but ``stored_at``, as this path inserts them."""
    event_text = UtcText()
    return [record_values(r, event_text(r.event_time)) for r in records]


def insert_predictions(
    conn: Connection, prepared: Sequence[tuple[Any, ...]], stored_at: datetime
) -> None:
    """Insert the ``values`` of records with unique job_ids in the open transaction.

    Raises ``Duplicates`` (the transaction then holds a partial batch and must be rolled
    back) when some job_ids were already stored.
    """
    stored = (sqlite_datetime(stored_at),)
    driver: Any = conn.connection.driver_connection
    try:
        cursor = driver.cursor()
        try:
            before = driver.total_changes
            # Multi-row INSERTs: a quarter less CPU than a statement per row, and the
            # interpreter lock is released for a whole chunk's insert, not row by row
            # (the prefetch thread runs meanwhile).
            start = 0
            for size in chunk_sizes(len(prepared)):
                rows = [row + stored for row in prepared[start : start + size]]
                cursor.execute(_statement(size, returning=False), tuple(chain.from_iterable(rows)))
                start += size
            inserted = driver.total_changes - before
        finally:
            cursor.close()
    except conn.dialect.loaded_dbapi.Error as exc:
        # The raw cursor bypasses SQLAlchemy: raise what every other store error raises.
        raise DBAPIError.instance(
            _statement(1, returning=False),
            None,
            exc,
            conn.dialect.loaded_dbapi.Error,
            dialect=conn.dialect,
        ) from exc
    if inserted != len(prepared):
        raise Duplicates


def insert_predictions_returning(
    conn: Connection, prepared: Sequence[tuple[Any, ...]], stored_at: datetime
) -> set[str]:
    """Multi-row ``INSERT ... RETURNING job_id`` in chunks: exact when there are duplicates."""
    stored = (sqlite_datetime(stored_at),)
    inserted: set[str] = set()
    for start in range(0, len(prepared), CHUNK):
        chunk = prepared[start : start + CHUNK]
        params = tuple(value for row in chunk for value in (*row, *stored))
        # exec_driver_sql: no per-parameter processing, but errors still arrive as SQLAlchemy's.
        inserted.update(conn.exec_driver_sql(_statement(len(chunk)), params).scalars())
    return inserted
