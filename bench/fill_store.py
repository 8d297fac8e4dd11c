"""Bulk generator: N synthetic prediction records over D days, straight into a store.

Not through the api or the StoreWriter: rows are generated with numpy a day at a time
and loaded with COPY (PostgreSQL) or executemany in one transaction per day (SQLite),
with the matching per-minute rollups, the stream bookkeeping, and feedback for a share of
the answers (``bench.fill_feedback``), so the dashboard sees a store exactly as the
sidecar would have left it. Deterministic for a given seed and end.

    python -m bench.fill_store --store sqlite:///var/bench/x.db --records 1000000 --days 30
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from bench.fill_feedback import write_feedback
from bench.fill_histograms import (
    FEATURE_COLUMNS,
    day_features,
    references,
    store_references,
    write_hourly,
)
from sidecar.store.engine import make_engine
from sidecar.store.histogram import LATENCY_BOUNDS_MS, LATENCY_BUCKETS, SCORE_BUCKETS
from sidecar.store.mapping import PREDICTION_COLUMNS
from sidecar.store.migrate import upgrade
from sidecar.store.partitions import ensure_partitions
from sidecar.store.rollup import KEY_COLUMNS
from sidecar.store.schema import LATENCY_COLUMNS, SCORE_COLUMNS, predictions, rollups, streams

VERSIONS = (("iris", "1", 0.7, 3.0, 0.5), ("iris", "2", 0.3, 4.5, 0.55))
"""(model, version, traffic share, median latency ms, outlier threshold)."""
ENDPOINTS = (("/predict", 0.8, 1), ("/predict/label", 0.1, 1), ("/predict/batch", 0.1, 4))
"""(endpoint, share of requests, input rows per request)."""
LABELS = ("setosa", "versicolor", "virginica")
HOSTS = tuple(f"api-{i}" for i in range(4))
PIDS = (101, 102)
FEATURE_MEANS = np.array([5.84, 3.05, 3.76, 1.20])
FEATURE_STDS = np.array([0.83, 0.43, 1.76, 0.76])
VERSION_KEYS = [(v[0], v[1]) for v in VERSIONS]
REFERENCES = references(tuple(VERSION_KEYS), FEATURE_MEANS, FEATURE_STDS, LABELS)
"""The versions' reference bins (the feature histograms' bins)."""


@dataclass(frozen=True, slots=True)
class FillStats:
    """What a fill wrote and how long it took."""

    records: int
    rollup_rows: int
    seconds: float
    end: datetime


@dataclass(frozen=True, slots=True)
class Day:
    """One day of generated requests: columns for ``predictions``, plus rollup inputs."""

    rows: dict[str, Any]
    """Column name -> numpy array or list, one entry per request, in PREDICTION_COLUMNS."""
    latency_bucket: np.ndarray
    score_counts: np.ndarray
    """(requests, SCORE_BUCKETS) rows per outlier-score bucket."""
    outlier_rows: np.ndarray
    features: pd.DataFrame | None = None
    """Its ``feature_rollups`` rows (bench.fill_histograms)."""


def _sqlite_times(times: np.ndarray) -> list[str]:
    """The text SQLAlchemy stores for a naive UTC datetime on SQLite."""
    return [s.replace("T", " ") for s in np.datetime_as_string(times, unit="us")]


def generate_day(
    rng: np.random.Generator, n: int, start: datetime, seconds: float, counters: dict[Any, int]
) -> Day:
    """``n`` requests spread over [start, start + seconds), sorted by time."""
    offsets = np.sort(rng.uniform(0.0, seconds, n))
    epoch_us = (start.timestamp() + offsets) * 1e6
    times = epoch_us.astype("int64").astype("datetime64[us]")

    version_index = rng.choice(len(VERSIONS), n, p=[v[2] for v in VERSIONS])
    endpoint_index = rng.choice(len(ENDPOINTS), n, p=[e[1] for e in ENDPOINTS])
    status = rng.choice([200, 422, 503, 500], n, p=[0.97, 0.02, 0.005, 0.005]).astype("int64")
    n_rows = np.array([e[2] for e in ENDPOINTS])[endpoint_index]
    n_rows = np.where(status == 422, 0, n_rows)  # bad input: nothing parsed, no model reached
    scored = status == 200
    medians = np.array([v[3] for v in VERSIONS])[version_index] * np.where(n_rows > 1, 2.0, 1.0)
    latency = np.round(rng.lognormal(np.log(medians), 0.5), 3)
    latency = np.where(status == 422, np.round(rng.uniform(0.2, 1.0, n), 3), latency)

    total_rows = int(n_rows.sum())
    owner = np.repeat(np.arange(n), n_rows)
    inputs = np.round(rng.normal(FEATURE_MEANS, FEATURE_STDS, (total_rows, 4)), 2)
    # Mostly calm scores; ~3% of rows far out (and their inputs pushed out with them).
    far = rng.random(total_rows) < 0.03
    score = np.where(far, rng.uniform(0.6, 1.0, total_rows), rng.beta(2.0, 12.0, total_rows))
    score = np.round(score, 4)
    inputs[far] += 4.0
    threshold = np.array([v[4] for v in VERSIONS])[version_index][owner]
    row_scored = scored[owner]
    is_outlier_row = (score >= threshold) & row_scored
    logits = rng.normal(0.0, 2.0, (total_rows, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = np.round(proba, 4)
    label = proba.argmax(axis=1)

    score_counts = np.zeros((n, SCORE_BUCKETS), dtype="int64")
    buckets = np.minimum((score * SCORE_BUCKETS).astype("int64"), SCORE_BUCKETS - 1)
    np.add.at(score_counts, (owner[row_scored], buckets[row_scored]), 1)
    outlier_rows = np.bincount(owner[is_outlier_row], minlength=n)
    max_score = np.full(n, np.nan)
    np.fmax.at(max_score, owner[row_scored], score[row_scored])

    inputs_json, results_json = _json_columns(
        n, n_rows, scored, inputs.tolist(), proba.tolist(), label.tolist(), score.tolist(),
        is_outlier_row.tolist(),
    )  # fmt: skip

    host_index = rng.integers(0, len(HOSTS), n)
    pid_index = rng.integers(0, len(PIDS), n)
    seq = np.empty(n, dtype="int64")
    for stream in range(len(HOSTS) * len(PIDS)):
        mask = host_index * len(PIDS) + pid_index == stream
        count = int(mask.sum())
        base = counters.get(stream, 0)
        seq[mask] = np.arange(base + 1, base + count + 1)
        counters[stream] = base + count

    reached = status != 422
    none: Any = None  # numpy's stubs do not take None as a where() branch
    model = np.where(reached, np.array([v[0] for v in VERSIONS])[version_index], none)
    version = np.where(reached, np.array([v[1] for v in VERSIONS])[version_index], none)
    ids = rng.integers(0, 2**48, n)
    job_ids = [f"{int(us // 1000):012x}-7{i:015x}" for us, i in zip(epoch_us, ids, strict=True)]
    with_request_id = rng.random(n) < 0.1
    errors = {422: "data: expected rows of 4 finite numbers", 503: "model not ready",
              500: "inference failed"}  # fmt: skip
    rows: dict[str, Any] = {
        "job_id": job_ids,
        "request_id": [
            f"req-{j}" if w else None for j, w in zip(job_ids, with_request_id, strict=True)
        ],
        "schema_version": np.ones(n, dtype="int64"),
        "event_time": times,
        "stored_at": times + np.timedelta64(50, "ms"),
        "endpoint": np.array([e[0] for e in ENDPOINTS])[endpoint_index],
        "method": np.full(n, "POST"),
        "status": status,
        "model": model,
        "version": version,
        "routing": np.where(reached, "weighted", none),
        "shadow_of": [None] * n,  # the fill has no shadow versions
        "n_rows": n_rows,
        "inputs": inputs_json,
        "results": results_json,
        "is_outlier": outlier_rows > 0,
        "max_outlier_score": max_score,
        "latency_ms": latency,
        "inference_ms": np.where(scored, np.round(latency * 0.4, 3), np.nan),
        "upstream_ms": [None] * n,  # the fill's versions are local (no upstream call)
        "host": np.array(HOSTS)[host_index],
        "pid": np.array(PIDS)[pid_index],
        "run_id": [run_id(int(i)) for i in host_index * len(PIDS) + pid_index],
        "seq": seq,
        "error": [errors.get(int(s)) for s in status],
    }  # fmt: skip
    latency_bucket = np.searchsorted(np.array(LATENCY_BOUNDS_MS), latency, side="left")
    features = day_features(
        REFERENCES, VERSION_KEYS, np.where(row_scored, version_index[owner], -1),
        times[owner].astype("datetime64[m]"), inputs, label, is_outlier_row,
    )  # fmt: skip
    return Day(rows, latency_bucket, score_counts, outlier_rows, features)


def _json_columns(
    n: int,
    n_rows: np.ndarray,
    scored: np.ndarray,
    inputs: list[list[float]],
    proba: list[list[float]],
    label: list[int],
    score: list[float],
    outlier: list[bool],
) -> tuple[list[str | None], list[str | None]]:
    """inputs and results as JSON text, built with string formatting (json.dumps is slower)."""
    inputs_json: list[str | None] = []
    results_json: list[str | None] = []
    row = 0
    for count, ok in zip(n_rows.tolist(), scored.tolist(), strict=True):
        if count == 0:
            inputs_json.append(None)
            results_json.append(None)
            continue
        span = range(row, row + count)
        features = (inputs[r] for r in span)
        inputs_json.append("[" + ",".join(f"[{a},{b},{c},{d}]" for a, b, c, d in features) + "]")
        if ok:
            results_json.append("[" + ",".join(
                f'{{"prediction":[{proba[r][0]},{proba[r][1]},{proba[r][2]}],'
                f'"label":"{LABELS[label[r]]}","outlier_score":{score[r]},'
                f'"is_outlier":{"true" if outlier[r] else "false"}}}'
                for r in span
            ) + "]")  # fmt: skip
        else:
            results_json.append(None)
        row += count
    assert len(inputs_json) == n
    return inputs_json, results_json


def day_rollups(day: Day) -> pd.DataFrame:
    """The rollup rows of one day, exactly as the sidecar's rollup.aggregate would sum them."""
    rows = day.rows
    n = len(rows["job_id"])
    frame = pd.DataFrame(
        {
            "minute": rows["event_time"].astype("datetime64[m]").astype("datetime64[us]"),
            "model": pd.Series(rows["model"]).fillna(""),
            "version": pd.Series(rows["version"]).fillna(""),
            "endpoint": rows["endpoint"],
            "status": rows["status"],
            "requests": np.ones(n, dtype="int64"),
            "errors": (rows["status"] >= 400).astype("int64"),
            "rows": rows["n_rows"],
            "outlier_requests": (day.outlier_rows > 0).astype("int64"),
            "outlier_rows": day.outlier_rows,
            "latency_sum_ms": rows["latency_ms"],
            "latency_max_ms": rows["latency_ms"],
        }
    )
    lat = np.zeros((n, LATENCY_BUCKETS), dtype="int64")
    lat[np.arange(n), day.latency_bucket] = 1
    frame[list(LATENCY_COLUMNS)] = lat
    frame[list(SCORE_COLUMNS)] = day.score_counts
    aggregations: dict[str, str] = {name: "sum" for name in frame.columns[5:]}
    aggregations["latency_max_ms"] = "max"
    return frame.groupby(list(KEY_COLUMNS), as_index=False, sort=True).agg(aggregations)


ROLLUP_COLUMNS: tuple[str, ...] = tuple(column.name for column in rollups.columns)


def _days(n: int, days: int, end: datetime) -> Iterator[tuple[int, datetime, float]]:
    start = end - timedelta(days=days)
    per_day, extra = divmod(n, days)
    for index in range(days):
        yield per_day + (index < extra), start + timedelta(days=index), 86400.0


def fill(
    engine: Engine, records: int, days: int, *, seed: int = 0, end: datetime | None = None
) -> FillStats:
    """Create the schema and load ``records`` requests over the ``days`` days before ``end``."""
    started = time.monotonic()
    end = (end or datetime.now(UTC)).replace(second=0, microsecond=0)
    upgrade(engine)
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(rollups)).scalar_one():
            raise ValueError(f"{engine.url!r} is not empty: fill only a fresh store")
    # COPY goes straight into the daily partitions (PostgreSQL): each day needs its own.
    first = (end - timedelta(days=days)).date()
    ensure_partitions(engine, [first + timedelta(days=i) for i in range(days + 1)])
    rng = np.random.default_rng(seed)
    truths = np.random.default_rng(seed + 1)
    counters: dict[Any, int] = {}
    first_seen: dict[int, datetime] = {}
    rollup_rows = 0
    hours: list[pd.DataFrame] = []
    with engine.begin() as conn:
        _drop_indexes(conn)
    store_references(engine, REFERENCES)
    for n, day_start, seconds in _days(records, days, end):
        day = generate_day(rng, n, day_start, seconds, counters)
        rolled = day_rollups(day)
        if day.features is not None:  # an hour may span two days: written once, at the end
            hours.append(day.features)
        rollup_rows += len(rolled)
        if engine.dialect.name == "postgresql":
            _copy_day(engine, day, rolled)
        else:
            _insert_day(engine, day, rolled)
        write_feedback(engine, truths, day.rows, end)  # its own generator: same predictions
        for stream in counters:
            first_seen.setdefault(stream, day_start)
    write_hourly(engine, hours)
    with engine.begin() as conn:
        _write_streams(conn, counters, first_seen, end)
        _create_indexes(conn)
        conn.exec_driver_sql("ANALYZE")  # planner statistics for the fresh indexes
    return FillStats(records, rollup_rows, time.monotonic() - started, end)


def _drop_indexes(conn: Connection) -> None:
    # Building the secondary indexes once at the end is much faster than keeping them up
    # to date through millions of inserts; the unique job_id constraint stays.
    for index in predictions.indexes:
        index.drop(conn, checkfirst=True)


def _create_indexes(conn: Connection) -> None:
    for index in predictions.indexes:
        index.create(conn, checkfirst=True)


def run_id(stream: int) -> str:
    """The run id of api process ``stream`` (one run each)."""
    return f"fill-{stream:04d}"


def _write_streams(
    conn: Connection, counters: dict[Any, int], first_seen: dict[int, datetime], end: datetime
) -> None:
    rows = [
        {
            "host": HOSTS[stream // len(PIDS)],
            "pid": PIDS[stream % len(PIDS)],
            "run_id": run_id(stream),
            "first_seen": first_seen[stream],
            "last_seen": end,
            "max_seq": count,
            "received": count,
        }
        for stream, count in sorted(counters.items())
    ]
    if rows:
        conn.execute(streams.insert(), rows)


def _prediction_tuples(day: Day, times: list[Any], stored: list[Any]) -> Iterator[tuple[Any, ...]]:
    columns = []
    for name in PREDICTION_COLUMNS:
        if name == "event_time":
            columns.append(times)
        elif name == "stored_at":
            columns.append(stored)
        else:
            values = day.rows[name]
            values = values.tolist() if isinstance(values, np.ndarray) else values
            if name in {"max_outlier_score", "inference_ms"}:
                values = [None if v != v else v for v in values]  # NaN -> NULL
            columns.append(values)
    return zip(*columns, strict=True)


def _insert_day(engine: Engine, day: Day, rolled: pd.DataFrame) -> None:
    times = _sqlite_times(day.rows["event_time"])
    stored = _sqlite_times(day.rows["stored_at"])
    rows = _prediction_tuples(day, times, stored)
    marks = ", ".join("?" * len(PREDICTION_COLUMNS))
    insert = f"INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)}) VALUES ({marks})"
    rollup_marks = ", ".join("?" * len(ROLLUP_COLUMNS))
    rollup_insert = f"INSERT INTO rollups ({', '.join(ROLLUP_COLUMNS)}) VALUES ({rollup_marks})"
    rollup_values = rolled[list(ROLLUP_COLUMNS)].copy()
    rollup_values["minute"] = _sqlite_times(rollup_values["minute"].to_numpy())
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        # Only for the fill: nothing else reads this file while it is being built.
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.executemany(insert, rows)  # type: ignore[arg-type]  # sqlite3 takes iterators
        cursor.executemany(rollup_insert, rollup_values.itertuples(index=False, name=None))  # type: ignore[arg-type]
        if day.features is not None:
            feature_values = day.features.copy()
            feature_values["minute"] = _sqlite_times(feature_values["minute"].to_numpy())
            marks = ", ".join("?" * len(FEATURE_COLUMNS))
            cursor.executemany(
                f"INSERT INTO feature_rollups ({', '.join(FEATURE_COLUMNS)}) VALUES ({marks})",
                feature_values.itertuples(index=False, name=None),  # type: ignore[arg-type]
            )
        raw.commit()
    finally:
        raw.close()


def _copy_day(engine: Engine, day: Day, rolled: pd.DataFrame) -> None:
    times = [t.replace(tzinfo=UTC) for t in day.rows["event_time"].astype(datetime)]
    stored = [t.replace(tzinfo=UTC) for t in day.rows["stored_at"].astype(datetime)]
    rows = _prediction_tuples(day, times, stored)
    rollup_values = rolled[list(ROLLUP_COLUMNS)].copy()
    minutes = [t.replace(tzinfo=UTC) for t in rollup_values["minute"].to_numpy().astype(datetime)]
    raw = engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        copy_predictions = f"COPY predictions ({', '.join(PREDICTION_COLUMNS)}) FROM STDIN"
        with cursor.copy(copy_predictions) as copy:
            for row in rows:
                copy.write_row(row)
        with cursor.copy(f"COPY rollups ({', '.join(ROLLUP_COLUMNS)}) FROM STDIN") as copy:
            for minute, rest in zip(
                minutes, rollup_values.iloc[:, 1:].itertuples(index=False, name=None), strict=True
            ):
                copy.write_row((minute, *rest))
        if day.features is not None:
            with cursor.copy(
                f"COPY feature_rollups ({', '.join(FEATURE_COLUMNS)}) FROM STDIN"
            ) as copy:
                for row in day.features.itertuples(index=False, name=None):
                    model, version, minute, *counts = row
                    copy.write_row(
                        (model, version, minute.to_pydatetime().replace(tzinfo=UTC), *counts)
                    )
        raw.commit()
    finally:
        raw.close()


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Fill one store from the command line; the figures of the fill."""
    parser = argparse.ArgumentParser(prog="python -m bench.fill_store", description=__doc__)
    parser.add_argument("--store", required=True, help="SQLAlchemy URL of a fresh store")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    engine = make_engine(args.store)
    try:
        stats = fill(engine, args.records, args.days, seed=args.seed)
    finally:
        engine.dispose()
    rate = stats.records / stats.seconds
    print(f"{stats.records:,} records, {stats.rollup_rows:,} rollup rows in {stats.seconds:.1f} s "
          f"({rate:,.0f} records/s)")  # fmt: skip
    return {"records": stats.records, "rollup_rows": stats.rollup_rows, "seconds": stats.seconds}


if __name__ == "__main__":
    main()
