"""What the rollup queries share: the window filter, time buckets, sums, percentiles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, ColumnElement, Engine, Integer, Select, cast, func

from dashboard.window import Filters, Window, floor_minute
from sidecar.store.histogram import latency_percentile
from sidecar.store.schema import LATENCY_COLUMNS, rollups

QUANTILES: dict[str, float] = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}
"""The latency percentiles every page shows, by column name."""


def rollup_filter(query: Select[Any], window: Window, filters: Filters) -> Select[Any]:
    """``query`` restricted to the rollup minutes of ``window`` and the model/version filters."""
    query = query.where(
        rollups.c.minute >= floor_minute(window.start), rollups.c.minute < window.end
    )
    if filters.model is not None:
        query = query.where(rollups.c.model == filters.model)
    if filters.version is not None:
        query = query.where(rollups.c.version == filters.version)
    return query


def bucket_column(
    engine: Engine, step: int, minute: ColumnElement[Any] = rollups.c.minute
) -> ColumnElement[int]:
    """Epoch seconds of the start of the ``step``-wide bucket that holds a rollup's minute
    (``minute``: that column of another per-minute table)."""
    epoch: ColumnElement[int]
    if engine.dialect.name == "sqlite":
        epoch = cast(func.strftime("%s", minute), Integer)
    else:
        epoch = cast(func.extract("epoch", minute), BigInteger)
    return ((epoch // step) * step).label("bucket")


def sums(names: Sequence[str]) -> list[ColumnElement[Any]]:
    """SUM(column) AS column, for each rollup column named."""
    return [func.sum(rollups.c[name]).label(name) for name in names]


COUNTS = ("requests", "errors", "outlier_requests", "rows", "outlier_rows", "latency_sum_ms")


def read_frame(engine: Engine, query: Select[Any]) -> pd.DataFrame:
    """The rows of ``query`` as a DataFrame, with its column names."""
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def percentiles(frame: pd.DataFrame) -> pd.DataFrame:
    """p50/p95/p99 columns from the summed latency histogram columns of each row."""
    hist = frame[list(LATENCY_COLUMNS)].to_numpy(dtype="int64")
    for name, q in QUANTILES.items():
        frame[name] = [latency_percentile(row.tolist(), q) for row in hist]
    return frame


def bucket_minutes(times: pd.Series[Any], window: Window) -> pd.Series[Any]:
    """Minutes of each bucket that lie inside the window (the first and last may be partial)."""
    lows = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()  # unit-free (pandas 3: us)
    start, end = window.start.timestamp(), window.end.timestamp()
    covered = (lows + window.bucket_seconds).clip(upper=end) - lows.clip(lower=start)
    return covered / 60


def timeline(window: Window) -> pd.DatetimeIndex:
    """The start of every bucket of ``window``, as the index a series is reindexed on."""
    step = window.bucket_seconds
    first = int(window.start.timestamp()) // step * step
    last = int((window.end - timedelta(microseconds=1)).timestamp()) // step * step
    return pd.DatetimeIndex(
        pd.to_datetime(range(first, last + 1, step), unit="s", utc=True), name="time"
    )


def rate(numerator: pd.Series[Any], denominator: pd.Series[Any]) -> pd.Series[Any]:
    """numerator / denominator, NaN where the denominator is 0."""
    return (numerator / denominator.where(denominator > 0)).astype("float64")
