"""The Overview and Versions pages' data: calls, errors, outliers and latency per bucket."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, func, select

from dashboard.queries.rollup import (
    COUNTS,
    QUANTILES,
    bucket_column,
    bucket_minutes,
    percentiles,
    rate,
    read_frame,
    rollup_filter,
    sums,
    timeline,
)
from dashboard.window import Filters, Window
from sidecar.store.histogram import latency_percentile
from sidecar.store.schema import LATENCY_COLUMNS, rollups


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts and latency over a whole window."""

    requests: int
    errors: int
    outlier_requests: int
    rows: int
    outlier_rows: int
    calls_per_minute: float
    latency_mean_ms: float | None
    latency_max_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        """Failed requests / requests (None without requests)."""
        return self.errors / self.requests if self.requests else None

    @property
    def outlier_rate(self) -> float | None:
        """Requests with an outlier row / requests (None without requests)."""
        return self.outlier_requests / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class Overview:
    """The Overview page's data: window totals and one row per time bucket."""

    totals: Totals
    series: pd.DataFrame
    """time, requests, errors, outlier_requests, calls_per_minute, error_rate,
    outlier_rate, p50_ms, p95_ms, p99_ms; every bucket of the window, empty ones as 0."""


@dataclass(frozen=True, slots=True)
class VersionStats:
    """The Versions page's data."""

    series: pd.DataFrame
    """time, model, version, requests, share: traffic per version and bucket."""
    summary: pd.DataFrame
    """model, version, requests, share, errors, error_rate, outlier_requests,
    outlier_rate, p50_ms, p95_ms, p99_ms, mean_ms: one row per version."""


def overview(engine: Engine, window: Window, filters: Filters) -> Overview:
    """Calls, errors, outliers and latency percentiles per bucket and for the whole window."""
    bucket = bucket_column(engine, window.bucket_seconds)
    query = rollup_filter(
        select(
            bucket,
            *sums(COUNTS),
            func.max(rollups.c.latency_max_ms).label("latency_max_ms"),
            *sums(LATENCY_COLUMNS),
        ),
        window,
        filters,
    ).group_by(bucket)
    raw = read_frame(engine, query)
    raw["time"] = pd.to_datetime(raw["bucket"].astype("int64"), unit="s", utc=True)
    numeric = [*COUNTS, "latency_max_ms", *LATENCY_COLUMNS]
    raw[numeric] = raw[numeric].astype("float64")
    totals_row = raw[numeric].sum()
    hist = [int(totals_row[name]) for name in LATENCY_COLUMNS]
    requests = int(totals_row["requests"])
    totals = Totals(
        requests=requests,
        errors=int(totals_row["errors"]),
        outlier_requests=int(totals_row["outlier_requests"]),
        rows=int(totals_row["rows"]),
        outlier_rows=int(totals_row["outlier_rows"]),
        calls_per_minute=requests / window.minutes,
        latency_mean_ms=float(totals_row["latency_sum_ms"]) / requests if requests else None,
        latency_max_ms=float(raw["latency_max_ms"].max()) if requests else None,
        **{name: latency_percentile(hist, q) for name, q in QUANTILES.items()},
    )
    series = raw.set_index("time").reindex(timeline(window))
    series[numeric] = series[numeric].fillna(0.0)
    series = percentiles(series).reset_index()
    series["calls_per_minute"] = series["requests"] / bucket_minutes(series["time"], window)
    series["error_rate"] = rate(series["errors"], series["requests"])
    series["outlier_rate"] = rate(series["outlier_requests"], series["requests"])
    for name in ("requests", "errors", "outlier_requests"):
        series[name] = series[name].astype("int64")
    columns = ["time", "requests", "errors", "outlier_requests", "calls_per_minute"]
    return Overview(totals, series[[*columns, "error_rate", "outlier_rate", *QUANTILES]])


def versions(engine: Engine, window: Window, filters: Filters) -> VersionStats:
    """Traffic share per model version over time; latency, errors and outliers per version."""
    bucket = bucket_column(engine, window.bucket_seconds)
    keys = (rollups.c.model, rollups.c.version)
    query = rollup_filter(
        select(bucket, *keys, *sums(COUNTS), *sums(LATENCY_COLUMNS)), window, filters
    ).group_by(bucket, *keys)
    raw = read_frame(engine, query)
    numeric = [*COUNTS, *LATENCY_COLUMNS]
    raw[numeric] = raw[numeric].astype("float64")
    raw["time"] = pd.to_datetime(raw["bucket"].astype("int64"), unit="s", utc=True)
    # Every bucket for every version, 0 where it had no traffic: a chart must not
    # draw a line across a bucket that a version did not serve.
    pairs = raw[["model", "version"]].drop_duplicates().sort_values(["model", "version"])
    grid = pd.MultiIndex.from_tuples(
        [(t, m, v) for t in timeline(window) for m, v in pairs.itertuples(index=False)],
        names=["time", "model", "version"],
    )
    series = (
        raw.set_index(["time", "model", "version"])[numeric]
        .reindex(grid, fill_value=0.0)
        .reset_index()
    )
    per_bucket = series.groupby("time")["requests"].transform("sum")
    series["share"] = rate(series["requests"], per_bucket)
    # Per version and bucket: NaN where it had no requests (a gap in the line, not a 0).
    series["error_rate"] = rate(series["errors"], series["requests"])
    series["outlier_rate"] = rate(series["outlier_requests"], series["requests"])
    series = percentiles(series)
    series.loc[series["requests"] == 0, list(QUANTILES)] = float("nan")
    series["requests"] = series["requests"].astype("int64")
    series = series[
        ["time", "model", "version", "requests", "share", "error_rate", "outlier_rate", "p95_ms"]
    ]

    summary = raw.groupby(["model", "version"], as_index=False)[numeric].sum()
    summary = percentiles(summary)
    total = summary["requests"].sum()
    summary["share"] = summary["requests"] / total if total else 0.0
    summary["error_rate"] = rate(summary["errors"], summary["requests"])
    summary["outlier_rate"] = rate(summary["outlier_requests"], summary["requests"])
    summary["mean_ms"] = rate(summary["latency_sum_ms"], summary["requests"])
    for name in ("requests", "errors", "outlier_requests"):
        summary[name] = summary[name].astype("int64")
    columns = ["model", "version", "requests", "share", "errors", "error_rate"]
    columns += ["outlier_requests", "outlier_rate", *QUANTILES, "mean_ms"]
    summary = summary.sort_values(["model", "version"], ignore_index=True)
    return VersionStats(series, summary[columns])
