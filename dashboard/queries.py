"""SQL over the log store for the dashboard: aggregates from rollups, lookups from predictions.

Every function takes an engine and a window (and filters) and returns a DataFrame or a
dataclass; none caches and none draws (``dashboard.cache`` caches, the pages draw).
Aggregates read the per-minute rollups only, so their cost grows with the window's
minutes, not with the number of requests; per-request lookups use the predictions
indexes with a LIMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Integer,
    Select,
    case,
    cast,
    exists,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from dashboard.formatting import error_text
from dashboard.window import Filters, Window, floor_minute
from sidecar.store.histogram import SCORE_BUCKETS, latency_percentile
from sidecar.store.schema import (
    LATENCY_COLUMNS,
    SCORE_COLUMNS,
    dead_letters,
    predictions,
    rollups,
    streams,
)

QUANTILES: dict[str, float] = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}
"""The latency percentiles every page shows, by column name."""

LIST_COLUMNS: tuple[str, ...] = (
    "event_time",
    "job_id",
    "request_id",
    "endpoint",
    "status",
    "model",
    "version",
    "routing",
    "n_rows",
    "is_outlier",
    "max_outlier_score",
    "latency_ms",
    "error",
)
"""Columns of the request listings (inputs and results only where asked for)."""

StoreState = Literal["ok", "unreachable", "no_schema", "empty"]


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """Whether the store can be shown, and if not, why."""

    state: StoreState
    detail: str = ""


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


@dataclass(frozen=True, slots=True)
class Integrity:
    """What the store knows it lost: dead letters in the window, sequence gaps."""

    dead_letters: int
    lost_records: int


@dataclass(frozen=True, slots=True)
class Choices:
    """What the filters can offer for a window."""

    versions: tuple[tuple[str, str], ...]
    """(model, version) pairs seen, sorted; '' for requests that reached no model."""
    statuses: tuple[int, ...]
    """HTTP statuses seen, sorted."""

    @property
    def models(self) -> list[str]:
        """Model names seen, sorted."""
        return sorted({model for model, _ in self.versions})

    def versions_of(self, model: str) -> list[str]:
        """Versions of ``model`` seen, sorted."""
        return [version for name, version in self.versions if name == model]


# --------------------------------------------------------------------------- store state


def store_status(engine: Engine) -> StoreStatus:
    """Connect and check that the schema exists and holds at least one request."""
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            missing = {"predictions", "rollups"} - tables
            if missing:
                return StoreStatus("no_schema", f"missing tables: {', '.join(sorted(missing))}")
            if not conn.execute(select(exists(select(rollups.c.minute)))).scalar():
                return StoreStatus("empty")
    except SQLAlchemyError as error:
        return StoreStatus("unreachable", error_text(error))
    return StoreStatus("ok")


# --------------------------------------------------------------------------- rollups


def _rollup_filter(query: Select[Any], window: Window, filters: Filters) -> Select[Any]:
    query = query.where(
        rollups.c.minute >= floor_minute(window.start), rollups.c.minute < window.end
    )
    if filters.model is not None:
        query = query.where(rollups.c.model == filters.model)
    if filters.version is not None:
        query = query.where(rollups.c.version == filters.version)
    return query


def _bucket(engine: Engine, step: int) -> ColumnElement[int]:
    """Epoch seconds of the start of the ``step``-wide bucket that holds a rollup's minute."""
    epoch: ColumnElement[int]
    if engine.dialect.name == "sqlite":
        epoch = cast(func.strftime("%s", rollups.c.minute), Integer)
    else:
        epoch = cast(func.extract("epoch", rollups.c.minute), BigInteger)
    return ((epoch // step) * step).label("bucket")


def _sums(names: Sequence[str]) -> list[ColumnElement[Any]]:
    return [func.sum(rollups.c[name]).label(name) for name in names]


_COUNTS = ("requests", "errors", "outlier_requests", "rows", "outlier_rows", "latency_sum_ms")


def _frame(engine: Engine, query: Select[Any]) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _percentiles(frame: pd.DataFrame) -> pd.DataFrame:
    """p50/p95/p99 columns from the summed latency histogram columns of each row."""
    hist = frame[list(LATENCY_COLUMNS)].to_numpy(dtype="int64")
    for name, q in QUANTILES.items():
        frame[name] = [latency_percentile(row.tolist(), q) for row in hist]
    return frame


def _bucket_minutes(times: pd.Series[Any], window: Window) -> pd.Series[Any]:
    """Minutes of each bucket that lie inside the window (the first and last may be partial)."""
    lows = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()  # unit-free (pandas 3: us)
    start, end = window.start.timestamp(), window.end.timestamp()
    covered = (lows + window.bucket_seconds).clip(upper=end) - lows.clip(lower=start)
    return covered / 60


def _timeline(window: Window) -> pd.DatetimeIndex:
    step = window.bucket_seconds
    first = int(window.start.timestamp()) // step * step
    last = int((window.end - timedelta(microseconds=1)).timestamp()) // step * step
    return pd.DatetimeIndex(
        pd.to_datetime(range(first, last + 1, step), unit="s", utc=True), name="time"
    )


def _rate(numerator: pd.Series[Any], denominator: pd.Series[Any]) -> pd.Series[Any]:
    return (numerator / denominator.where(denominator > 0)).astype("float64")


def overview(engine: Engine, window: Window, filters: Filters) -> Overview:
    """Calls, errors, outliers and latency percentiles per bucket and for the whole window."""
    bucket = _bucket(engine, window.bucket_seconds)
    query = _rollup_filter(
        select(
            bucket,
            *_sums(_COUNTS),
            func.max(rollups.c.latency_max_ms).label("latency_max_ms"),
            *_sums(LATENCY_COLUMNS),
        ),
        window,
        filters,
    ).group_by(bucket)
    raw = _frame(engine, query)
    raw["time"] = pd.to_datetime(raw["bucket"].astype("int64"), unit="s", utc=True)
    numeric = [*_COUNTS, "latency_max_ms", *LATENCY_COLUMNS]
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
    series = raw.set_index("time").reindex(_timeline(window))
    series[numeric] = series[numeric].fillna(0.0)
    series = _percentiles(series).reset_index()
    series["calls_per_minute"] = series["requests"] / _bucket_minutes(series["time"], window)
    series["error_rate"] = _rate(series["errors"], series["requests"])
    series["outlier_rate"] = _rate(series["outlier_requests"], series["requests"])
    for name in ("requests", "errors", "outlier_requests"):
        series[name] = series[name].astype("int64")
    columns = ["time", "requests", "errors", "outlier_requests", "calls_per_minute"]
    return Overview(totals, series[[*columns, "error_rate", "outlier_rate", *QUANTILES]])


def versions(engine: Engine, window: Window, filters: Filters) -> VersionStats:
    """Traffic share per model version over time; latency, errors and outliers per version."""
    bucket = _bucket(engine, window.bucket_seconds)
    keys = (rollups.c.model, rollups.c.version)
    query = _rollup_filter(
        select(bucket, *keys, *_sums(_COUNTS), *_sums(LATENCY_COLUMNS)), window, filters
    ).group_by(bucket, *keys)
    raw = _frame(engine, query)
    numeric = [*_COUNTS, *LATENCY_COLUMNS]
    raw[numeric] = raw[numeric].astype("float64")
    raw["time"] = pd.to_datetime(raw["bucket"].astype("int64"), unit="s", utc=True)
    # Every bucket for every version, 0 where it had no traffic: a chart must not
    # draw a line across a bucket that a version did not serve.
    pairs = raw[["model", "version"]].drop_duplicates().sort_values(["model", "version"])
    grid = pd.MultiIndex.from_tuples(
        [(t, m, v) for t in _timeline(window) for m, v in pairs.itertuples(index=False)],
        names=["time", "model", "version"],
    )
    series = (
        raw.set_index(["time", "model", "version"])[["requests"]]
        .reindex(grid, fill_value=0.0)
        .reset_index()
    )
    per_bucket = series.groupby("time")["requests"].transform("sum")
    series["share"] = _rate(series["requests"], per_bucket)
    series["requests"] = series["requests"].astype("int64")

    summary = raw.groupby(["model", "version"], as_index=False)[numeric].sum()
    summary = _percentiles(summary)
    total = summary["requests"].sum()
    summary["share"] = summary["requests"] / total if total else 0.0
    summary["error_rate"] = _rate(summary["errors"], summary["requests"])
    summary["outlier_rate"] = _rate(summary["outlier_requests"], summary["requests"])
    summary["mean_ms"] = _rate(summary["latency_sum_ms"], summary["requests"])
    for name in ("requests", "errors", "outlier_requests"):
        summary[name] = summary[name].astype("int64")
    columns = ["model", "version", "requests", "share", "errors", "error_rate"]
    columns += ["outlier_requests", "outlier_rate", *QUANTILES, "mean_ms"]
    summary = summary.sort_values(["model", "version"], ignore_index=True)
    return VersionStats(series, summary[columns])


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
    bucket = _bucket(engine, window.bucket_seconds)
    keys = (rollups.c.model, rollups.c.version)
    query = _rollup_filter(
        select(bucket, *keys, *_sums(_OUTLIER_COUNTS), *_sums(SCORE_COLUMNS)), window, filters
    ).group_by(bucket, *keys)
    raw = _frame(engine, query)
    numeric = [*_OUTLIER_COUNTS, *SCORE_COLUMNS]
    # PostgreSQL sums bigints as numeric (Decimal): through float to int.
    raw[numeric] = raw[numeric].astype("float64").astype("int64")
    raw["time"] = pd.to_datetime(raw["bucket"].astype("int64"), unit="s", utc=True)
    totals = raw[list(_OUTLIER_COUNTS)].sum()

    counts = ["requests", "outlier_requests"]
    series = raw.groupby("time")[counts].sum().reindex(_timeline(window), fill_value=0)
    series = series.reset_index()
    series["outlier_rate"] = _rate(series["outlier_requests"], series["requests"])

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


def choices(engine: Engine, window: Window) -> Choices:
    """The model versions and statuses seen in the window, for the filters."""
    query = _rollup_filter(
        select(rollups.c.model, rollups.c.version, rollups.c.status).distinct(),
        window,
        Filters(),
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    pairs = tuple(sorted({(row.model, row.version) for row in rows}))
    return Choices(pairs, tuple(sorted({int(row.status) for row in rows})))


def integrity(engine: Engine, window: Window) -> Integrity:
    """Dead letters received in the window and records missing from streams active in it."""
    letters = select(func.count()).where(
        dead_letters.c.received_at >= window.start, dead_letters.c.received_at < window.end
    )
    gap = streams.c.max_seq - streams.c.received
    lost = select(func.coalesce(func.sum(case((gap > 0, gap), else_=0)), 0)).where(
        streams.c.last_seen >= window.start, streams.c.first_seen < window.end
    )
    with engine.connect() as conn:
        return Integrity(
            dead_letters=int(conn.execute(letters).scalar_one()),
            lost_records=int(conn.execute(lost).scalar_one()),
        )


# --------------------------------------------------------------------------- predictions


def _listing(columns: Sequence[str]) -> Select[Any]:
    return select(*(predictions.c[name] for name in columns))


def _prediction_filter(query: Select[Any], window: Window, filters: Filters) -> Select[Any]:
    query = query.where(
        predictions.c.event_time >= window.start, predictions.c.event_time < window.end
    )
    # Rollups say '' where predictions say NULL: a request that reached no model.
    pairs = ((predictions.c.model, filters.model), (predictions.c.version, filters.version))
    for column, value in pairs:
        if value == "":
            query = query.where(column.is_(None))
        elif value is not None:
            query = query.where(column == value)
    return query


def recent_requests(
    engine: Engine,
    window: Window,
    filters: Filters,
    *,
    status: int | None = None,
    outlier: bool | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """The newest requests of the window matching the filters, newest first."""
    query = _prediction_filter(_listing(LIST_COLUMNS), window, filters)
    if status is not None:
        query = query.where(predictions.c.status == status)
    if outlier is not None:
        query = query.where(predictions.c.is_outlier == outlier)
    return _utc(_frame(engine, query.order_by(predictions.c.event_time.desc()).limit(limit)))


def latest_outliers(
    engine: Engine, window: Window, filters: Filters, *, limit: int = 100
) -> pd.DataFrame:
    """The newest requests of the window with an outlier row, with their inputs and scores."""
    columns = (*LIST_COLUMNS, "inputs", "results")
    # The bare column, not "IS true": PostgreSQL's partial index holds "WHERE is_outlier".
    query = _prediction_filter(_listing(columns), window, filters).where(predictions.c.is_outlier)
    frame = _utc(_frame(engine, query.order_by(predictions.c.event_time.desc()).limit(limit)))
    frame["scores"] = [_scores(results) for results in frame["results"]]
    return frame.drop(columns=["results"])


def _scores(results: Any) -> list[float]:
    return [float(row["outlier_score"]) for row in results or ()]


def find_requests(engine: Engine, key: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Every column of the request with job_id ``key``, else of those with that request id."""
    key = key.strip()
    if not key:
        return []
    with engine.connect() as conn:
        rows = conn.execute(select(predictions).where(predictions.c.job_id == key)).mappings()
        found = [dict(row) for row in rows]
        if not found:
            query = (
                select(predictions)
                .where(predictions.c.request_id == key)
                .order_by(predictions.c.event_time.desc())
                .limit(limit)
            )
            found = [dict(row) for row in conn.execute(query).mappings()]
    return found


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    if "event_time" in frame and len(frame):
        frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame
