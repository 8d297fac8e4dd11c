"""Per-minute rollup increments computed in Python from a batch of newly stored records."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sidecar.record import PredictionRecord
from sidecar.store.histogram import LATENCY_BOUNDS_MS, SCORE_BUCKETS
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


_AccKey = tuple[int, str | None, str | None, str, int]

# Accumulator layout: the SUM_COLUMNS in order, then latency_max_ms.
_REQUESTS, _ERRORS, _ROWS, _OUTLIER_REQUESTS, _OUTLIER_ROWS, _LATENCY_SUM = range(6)
_LAT0 = len(SUM_COLUMNS) - len(LATENCY_COLUMNS) - len(SCORE_COLUMNS)
_SCORE0 = _LAT0 + len(LATENCY_COLUMNS)
_MAX = len(SUM_COLUMNS)
_SCORE_TOP = SCORE_BUCKETS - 1


def aggregate(records: Iterable[PredictionRecord]) -> list[dict[str, Any]]:
    """One increment row per rollup key, sorted by key (a fixed lock order for upserts).

    A shadow version's record (``shadow_of`` set) is a copy of a request already counted,
    not traffic: rollups leave it out (the Versions page compares shadows from the rows).
    """
    # Plain lists indexed by position: this runs once per stored record.
    acc: dict[_AccKey, list[Any]] = {}
    for record in records:
        if record.shadow_of is not None:
            continue
        latency = record.latency_ms
        key = (
            int(record.event_time // 60),
            record.model,
            record.version,
            record.endpoint,
            record.status,
        )
        row = acc.get(key)
        if row is None:
            row = acc[key] = [0] * (_MAX + 1)
            row[_LATENCY_SUM] = 0.0
            row[_MAX] = latency
        row[_REQUESTS] += 1
        if record.status >= 400:
            row[_ERRORS] += 1
        row[_LATENCY_SUM] += latency
        row[_MAX] = max(row[_MAX], latency)
        row[_LAT0 + bisect_left(LATENCY_BOUNDS_MS, latency)] += 1
        results = record.results
        inputs = record.inputs
        if results:
            row[_ROWS] += len(inputs) if inputs is not None else len(results)
            flagged = 0
            for result in results:
                if result.is_outlier:
                    flagged += 1
                score = result.outlier_score
                if score is not None:  # None: a version without a detector
                    bucket = int(score * SCORE_BUCKETS)
                    row[_SCORE0 + (bucket if bucket < _SCORE_TOP else _SCORE_TOP)] += 1
            if flagged:
                row[_OUTLIER_REQUESTS] += 1
                row[_OUTLIER_ROWS] += flagged
        elif inputs is not None:
            row[_ROWS] += len(inputs)
    return _rows(acc)


def _rows(acc: dict[_AccKey, list[Any]]) -> list[dict[str, Any]]:
    minutes: dict[int, datetime] = {}  # a batch spans few minutes; build each datetime once
    rows: dict[RollupKey, dict[str, Any]] = {}
    for (minute_index, model, version, endpoint, status), values in acc.items():
        minute = minutes.get(minute_index)
        if minute is None:
            minute = minutes[minute_index] = to_datetime(minute_index * 60.0)
        out_key: RollupKey = (minute, model or "", version or "", endpoint, status)
        row_dict = rows.get(out_key)
        if row_dict is None:
            row_dict = rows[out_key] = dict(zip(KEY_COLUMNS, out_key, strict=True))
            row_dict.update(zip(SUM_COLUMNS, values, strict=False))
            row_dict["latency_max_ms"] = values[_MAX]
        else:  # None and '' are one key in the table
            for name, value in zip(SUM_COLUMNS, values, strict=False):
                row_dict[name] += value
            row_dict["latency_max_ms"] = max(row_dict["latency_max_ms"], values[_MAX])
    return [rows[key] for key in sorted(rows)]
