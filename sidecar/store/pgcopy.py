"""PostgreSQL bulk path: COPY a batch into a temporary table, then INSERT ... SELECT it.

COPY has no ON CONFLICT, so the batch lands in a per-connection temporary table
(emptied at every commit) and one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING
RETURNING job_id`` moves it into ``predictions``, in the caller's transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from sidecar.record import PredictionRecord
from sidecar.store.mapping import PREDICTION_COLUMNS, prediction_values

STAGING = "predlog_incoming"
_COLUMNS = ", ".join(PREDICTION_COLUMNS)
_CREATE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} ON COMMIT DELETE ROWS AS "  # noqa: S608
    f"SELECT {_COLUMNS} FROM predictions WITH NO DATA"
)
_COPY = f"COPY {STAGING} ({_COLUMNS}) FROM STDIN"
# Constants only, no input in these strings. ORDER BY keeps the lock order of the other
# path; the staging table holds no duplicates.
_MOVE = (
    f"INSERT INTO predictions ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING} "  # noqa: S608
    "ORDER BY job_id ON CONFLICT (job_id) DO NOTHING RETURNING job_id"
)


def _same(value: datetime) -> datetime:
    return value


def insert_predictions(
    conn: Connection, records: Sequence[PredictionRecord], stored_at: datetime
) -> set[str]:
    """Insert ``records`` (unique job_ids) in the open transaction; the job_ids inserted."""
    fairy = conn.connection
    driver: Any = fairy.driver_connection
    try:
        with driver.cursor() as cursor:
            if not fairy.info.get(STAGING):
                cursor.execute(_CREATE)
                fairy.info[STAGING] = True
            with cursor.copy(_COPY) as copy:
                for record in records:
                    copy.write_row(prediction_values(record, stored_at, _same))
            cursor.execute(_MOVE)
            return {job_id for (job_id,) in cursor.fetchall()}
    except conn.dialect.loaded_dbapi.Error as exc:
        # The raw cursor bypasses SQLAlchemy: raise what every other store error raises.
        raise DBAPIError.instance(
            _MOVE, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc


def forget_staging(conn: Connection) -> None:
    """Forget the staging table after a rollback: it may have been created in that transaction."""
    with contextlib.suppress(Exception):  # the connection may already be invalidated
        conn.info.pop(STAGING, None)
