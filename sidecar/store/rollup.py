"""Per-minute rollup increments computed in Python from a batch of newly stored records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sidecar.record import PredictionRecord
from sidecar.store.histogram import latency_bucket, score_bucket
from sidecar.store.mapping import to_datetime
from sidecar.store.schema import LATENCY_COLUMNS, SCORE_COLUMNS

RollupKey = tuple[datetime, str, str, str, int]
"""(minute, model, version, endpoint, status): the rollups table's primary key."""

KEY_COLUMNS: tuple[str, ...] = ("minute", "model", "version", "endpoint", "status")
SUM_COLUMNS: tuple[str, ...] = (
    "requests",
    "errors",
    "rows",
    "outlier_requests",
    "outlier_rows",
    "latency_sum_ms",
    *LATENCY_COLUMNS,
    *SCORE_COLUMNS,
)
"""Columns whose increments add up; ``latency_max_ms`` is the one kept by max."""


def minute_of(epoch_seconds: float) -> datetime:
    """The start of the UTC minute that holds ``epoch_seconds``."""
    return to_datetime(epoch_seconds - epoch_seconds % 60)


def _empty(key: RollupKey) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(KEY_COLUMNS, key, strict=True))
    row.update(dict.fromkeys(SUM_COLUMNS, 0))
    row["latency_sum_ms"] = 0.0
    row["latency_max_ms"] = 0.0
    return row


def aggregate(records: Iterable[PredictionRecord]) -> list[dict[str, Any]]:
    """One increment row per rollup key, sorted by key (a fixed lock order for upserts)."""
    rows: dict[RollupKey, dict[str, Any]] = {}
    minutes: dict[int, datetime] = {}  # a batch spans few minutes; build each datetime once
    for record in records:
        minute_index = int(record.event_time // 60)
        minute = minutes.get(minute_index)
        if minute is None:
            minute = minutes[minute_index] = minute_of(record.event_time)
        key = (
            minute,
            record.model or "",
            record.version or "",
            record.endpoint,
            record.status,
        )
        row = rows.get(key)
        if row is None:
            row = rows[key] = _empty(key)
        row["requests"] += 1
        row["errors"] += record.status >= 400
        row["latency_sum_ms"] += record.latency_ms
        row["latency_max_ms"] = max(row["latency_max_ms"], record.latency_ms)
        row[LATENCY_COLUMNS[latency_bucket(record.latency_ms)]] += 1
        results = record.results or ()
        row["rows"] += len(record.inputs) if record.inputs is not None else len(results)
        flagged = sum(result.is_outlier for result in results)
        row["outlier_requests"] += flagged > 0
        row["outlier_rows"] += flagged
        for result in results:
            row[SCORE_COLUMNS[score_bucket(result.outlier_score)]] += 1
    return [rows[key] for key in sorted(rows)]
