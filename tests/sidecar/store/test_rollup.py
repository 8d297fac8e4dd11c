"""The rollup increments of a batch: the vectorised ``aggregate`` against the plain
definition (a loop that adds each record into its key's row), on varied batches."""

from __future__ import annotations

import random
from bisect import bisect_left
from typing import Any

import pytest

from sidecar.record import PredictionRecord, RowResult
from sidecar.store.histogram import LATENCY_BOUNDS_MS, SCORE_BUCKETS
from sidecar.store.mapping import to_datetime
from sidecar.store.rollup import KEY_COLUMNS as KEYS
from sidecar.store.rollup import SUM_COLUMNS, aggregate
from sidecar.store.schema import LATENCY_COLUMNS, SCORE_COLUMNS
from tests.records import T0, make_record


def reference(records: list[PredictionRecord]) -> list[dict[str, Any]]:
    """What each rollup row adds up to, record by record."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        if r.shadow_of is not None:
            continue
        minute = to_datetime(int(r.event_time // 60) * 60.0)
        key = (minute, r.model or "", r.version or "", r.endpoint, r.status)
        row = rows.get(key)
        if row is None:
            row = rows[key] = dict(zip(KEYS, key, strict=True))
            row.update(dict.fromkeys(SUM_COLUMNS, 0))
            row["latency_sum_ms"] = 0.0
            row["latency_max_ms"] = r.latency_ms
        row["requests"] += 1
        row["errors"] += r.status >= 400
        row["latency_sum_ms"] += r.latency_ms
        row["latency_max_ms"] = max(row["latency_max_ms"], r.latency_ms)
        row[LATENCY_COLUMNS[bisect_left(LATENCY_BOUNDS_MS, r.latency_ms)]] += 1
        if r.inputs is not None:
            row["rows"] += len(r.inputs)
        elif r.results:
            row["rows"] += len(r.results)
        flagged = [result for result in r.results or () if result.is_outlier]
        row["outlier_requests"] += bool(flagged)
        row["outlier_rows"] += len(flagged)
        for result in r.results or ():
            if result.outlier_score is not None:
                bucket = min(int(result.outlier_score * SCORE_BUCKETS), SCORE_BUCKETS - 1)
                row[SCORE_COLUMNS[bucket]] += 1
    return [rows[key] for key in sorted(rows)]


def varied(seed: int, n: int) -> list[PredictionRecord]:
    """Records over a few minutes, versions, statuses and shapes: errors without results,
    a body that did not parse, rows without a detector, shadows, None and '' versions,
    scores on the bucket edges, latencies on the bucket bounds."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.random()
        fields: dict[str, Any] = {
            "event_time": T0 + rng.uniform(0, 240),
            "version": rng.choice(["1", "2", None, ""]),
            "model": rng.choice(["iris", None]),
            "latency_ms": rng.choice([*LATENCY_BOUNDS_MS, rng.uniform(0, 9000), 0.0]),
        }
        if kind < 0.1:
            fields.update(status=rng.choice([400, 422, 500]), results=None)
        elif kind < 0.15:
            fields.update(status=422, inputs=None, results=None)
        elif kind < 0.2:
            fields.update(shadow_of=f"job-{i}")
        elif kind < 0.3:
            rows = rng.randint(1, 3)
            fields.update(
                inputs=[[1.0, 2.0, 3.0, 4.0]] * rows,
                results=[RowResult(prediction=[1.5]) for _ in range(rows)],
            )
        elif kind < 0.4:
            fields.update(inputs=None)  # results without the inputs
        elif kind < 0.5:
            score = rng.choice([0.0, 0.05, 0.5, 0.95, 1.0])
            fields.update(
                results=[RowResult(prediction=[1.0], outlier_score=score, is_outlier=score > 0.5)]
            )
        out.append(make_record(i + 1, **fields))
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("seed", range(8))
def test_aggregate_adds_up_as_the_definition_does(seed: int) -> None:
    records = varied(seed, 400)
    got = aggregate(records)
    expected = reference(records)
    assert [list(row) for row in got] == [list(row) for row in expected]  # column order too
    assert got == expected
    assert sum(row["requests"] for row in got) == sum(r.shadow_of is None for r in records)


def test_a_batch_of_shadows_only_or_nothing_adds_nothing() -> None:
    assert aggregate([]) == []
    assert aggregate([make_record(1, shadow_of="job-0")]) == []


def test_one_record() -> None:
    record = make_record(3, n_rows=3, status=503, results=None, latency_ms=7.5)
    (row,) = aggregate([record])
    assert row == reference([record])[0]
    assert (row["requests"], row["errors"], row["rows"], row["lat_h05"]) == (1, 1, 3, 1)
