"""The predictions' insert: one row per job_id, ON CONFLICT DO NOTHING, on the path the
store does fastest; it tells which job_ids a batch really inserted, for the counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from sidecar.record import PredictionRecord
from sidecar.store import pgcopy, sqlitebulk
from sidecar.store.mapping import PREDICTION_COLUMNS, prediction_row
from sidecar.store.schema import predictions
from sidecar.store.writer_counters import dialect_insert

BulkMode = Literal["auto", "copy", "executemany"]
"""How predictions are inserted. "auto": on SQLite multi-row INSERTs on the raw cursor, on
PostgreSQL COPY through a staging table from ``copy_min_rows`` rows on. "copy": COPY for
every batch on PostgreSQL. "executemany": SQLAlchemy's insertmanyvalues on both."""

_INPUTS = PREDICTION_COLUMNS.index("inputs")


class PredictionInsert:
    """Inserts a batch's predictions on the path ``bulk`` and ``copy_min_rows`` pick."""

    def __init__(self, dialect: str, bulk: BulkMode, copy_min_rows: int) -> None:
        self.dialect = dialect
        self.bulk = bulk
        self.copy_min_rows = copy_min_rows
        self._statement = (
            dialect_insert(dialect, predictions)
            # No target: the unique key is (job_id, event_time) on a partitioned table.
            .on_conflict_do_nothing()
            .returning(predictions.c.job_id)
        )

    def values(
        self, records: list[PredictionRecord], stripped: frozenset[str]
    ) -> list[tuple[Any, ...]] | None:
        """The records' values for the bulk path, but ``stored_at``, with the inputs of the
        ``stripped`` job_ids left out (None: the executemany path)."""
        values: list[tuple[Any, ...]] | None = None
        if self.bulk != "executemany" and records:
            if self.dialect == "sqlite":
                values = sqlitebulk.values(records)
            elif self.bulk == "copy" or len(records) >= self.copy_min_rows:
                values = pgcopy.values(records)
        if stripped and values is not None:
            values = _without_inputs(values, records, stripped)
        return values

    def insert(
        self,
        conn: Connection,
        records: list[PredictionRecord],
        values: list[tuple[Any, ...]] | None,
        stripped: frozenset[str],
        stored_at: datetime,
        *,
        fast: bool,
    ) -> set[str] | None:
        """Insert the records (``values``: theirs from ``values``); the job_ids inserted
        (None: every one)."""
        if values is not None:
            if self.dialect == "sqlite":
                if fast:  # executemany; raises Duplicates when some were stored already
                    sqlitebulk.insert_predictions(conn, values, stored_at)
                    return None
                return sqlitebulk.insert_predictions_returning(conn, values, stored_at)
            return pgcopy.insert_predictions(conn, values, stored_at)
        rows = [prediction_row(record, stored_at) for record in records]
        for row in rows:
            if row["job_id"] in stripped:
                row["inputs"] = None
        inserted = set(conn.execute(self._statement, rows).scalars())
        return None if len(inserted) == len(rows) else inserted


def _without_inputs(
    values: list[tuple[Any, ...]], records: list[PredictionRecord], stripped: frozenset[str]
) -> list[tuple[Any, ...]]:
    """The rows' values with the inputs of the ``stripped`` job_ids left out (n_rows kept)."""
    return [
        (*row[:_INPUTS], None, *row[_INPUTS + 1 :]) if record.job_id in stripped else row
        for row, record in zip(values, records, strict=True)
    ]
