"""One generated day of the bulk fill (bench.fill_store): synthetic requests as columns,
with what the rollups and feature histograms need, and that day's per-minute rollups.

Numpy a day at a time; deterministic for a given random generator and start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from bench.fill_histograms import day_features, references
from sidecar.store.histogram import LATENCY_BOUNDS_MS, LATENCY_BUCKETS, SCORE_BUCKETS
from sidecar.store.rollup import KEY_COLUMNS
from sidecar.store.schema import LATENCY_COLUMNS, SCORE_COLUMNS

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


def run_id(stream: int) -> str:
    """The run id of api process ``stream`` (one run each)."""
    return f"fill-{stream:04d}"


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
