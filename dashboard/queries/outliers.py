"""The Outliers page's data: outlier counts per bucket and score histograms per version."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, select

from dashboard.queries.rollup import bucket_column, rate, read_frame, rollup_filter, sums, timeline
from dashboard.window import Filters, Window
from sidecar.store.histogram import SCORE_BUCKETS
from sidecar.store.schema import SCORE_COLUMNS, rollups


@dataclass(frozen=True, slots=True)
class OutlierStats:
    """The Outliers page's data, from one pass over the rollups."""

    requests: int
    outlier_requests: int
    rows: int
    outlier_rows: int
    series: pd.DataFrame
    """time, requests, outlier_requests, outlier_rate: every bucket of the window."""
    histogram: pd.DataFrame
    """model, version, low, high, rows: rows per outlier-score bucket and version."""

    @property
    def outlier_rate(self) -> float | None:
        """Requests with an outlier row / requests (None without requests)."""
        return self.outlier_requests / self.requests if self.requests else None


_OUTLIER_COUNTS = ("requests", "outlier_requests", "rows", "outlier_rows")


def outliers(engine: Engine, window: Window, filters: Filters) -> OutlierStats:
    """Outlier counts per bucket and the score distribution per version (no latency columns)."""
    bucket = bucket_column(engine, window.bucket_seconds)
    keys = (rollups.c.model, rollups.c.version)
    query = rollup_filter(
        select(bucket, *keys, *sums(_OUTLIER_COUNTS), *sums(SCORE_COLUMNS)), window, filters
    ).group_by(bucket, *keys)
    raw = read_frame(engine, query)
    numeric = [*_OUTLIER_COUNTS, *SCORE_COLUMNS]
    # PostgreSQL sums bigints as numeric (Decimal): through float to int.
    raw[numeric] = raw[numeric].astype("float64").astype("int64")
    raw["time"] = pd.to_datetime(raw["bucket"].astype("int64"), unit="s", utc=True)
    totals = raw[list(_OUTLIER_COUNTS)].sum()

    counts = ["requests", "outlier_requests"]
    series = raw.groupby("time")[counts].sum().reindex(timeline(window), fill_value=0)
    series = series.reset_index()
    series["outlier_rate"] = rate(series["outlier_requests"], series["requests"])

    wide = raw.groupby(["model", "version"], as_index=False)[list(SCORE_COLUMNS)].sum()
    long = wide.melt(
        id_vars=["model", "version"], value_vars=list(SCORE_COLUMNS), var_name="column",
        value_name="rows",
    )  # fmt: skip
    index = long["column"].map(SCORE_COLUMNS.index).astype("int64")
    long["low"] = index / SCORE_BUCKETS
    long["high"] = (index + 1) / SCORE_BUCKETS
    long["rows"] = long["rows"].astype("int64")
    long = long.sort_values(["model", "version", "low"], ignore_index=True)
    return OutlierStats(
        requests=int(totals["requests"]),
        outlier_requests=int(totals["outlier_requests"]),
        rows=int(totals["rows"]),
        outlier_rows=int(totals["outlier_rows"]),
        series=series[["time", *counts, "outlier_rate"]],
        histogram=long[["model", "version", "low", "high", "rows"]],
    )
