"""The prediction records every test builds, in one place.

- ``make_record``: the n-th record, deterministic and varied (rows, scores, versions), any
  field overridden; ``error_record``: a failed request;
- ``wire_record``: a record as the api sends it now (a plain dict, a fresh job_id, the
  current time), for tests that send records to a sidecar; the same one the sidecar
  benchmark's senders send.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from bench.fluentload import template
from sidecar.record import PredictionRecord, RowResult

T0 = 1_763_900_000.0
"""A fixed epoch second (on a minute boundary) that every test record is timed from."""

LABELS = ("setosa", "versicolor", "virginica")


def make_record(n: int, **overrides: Any) -> PredictionRecord:
    """The n-th successful /predict record from host api-0, pid 7 (seq n), overrides applied."""
    rng = random.Random(n)
    n_rows = overrides.pop("n_rows", 1 + n % 3)
    inputs = [[round(rng.uniform(0, 8), 1) for _ in range(4)] for _ in range(n_rows)]
    results = []
    for _ in range(n_rows):
        proba = [rng.random() for _ in LABELS]
        total = sum(proba)
        proba = [p / total for p in proba]
        score = rng.random()
        results.append(
            RowResult(
                prediction=proba,
                label=LABELS[proba.index(max(proba))],
                outlier_score=score,
                is_outlier=score >= 0.8,
            )
        )
    fields: dict[str, Any] = {
        "job_id": f"job-{n:08d}",
        "request_id": f"req-{n}",
        "event_time": round(T0 + n * 0.25, 6),
        "endpoint": "/predict",
        "status": 200,
        "model": "iris",
        "version": "1" if n % 2 else "2",
        "routing": "weighted",
        "inputs": inputs,
        "results": results,
        "latency_ms": round(rng.uniform(0.2, 40.0), 3),
        "inference_ms": round(rng.uniform(0.1, 0.5), 3),
        "host": "api-0",
        "pid": 7,
        "seq": n,
    }
    fields.update(overrides)
    return PredictionRecord(**fields)


def error_record(n: int, status: int = 422, **overrides: Any) -> PredictionRecord:
    """A failed request: no model reached, no results."""
    fields: dict[str, Any] = {
        "status": status,
        "model": None,
        "version": None,
        "routing": None,
        "inputs": None,
        "results": None,
        "inference_ms": None,
        "error": "data: expected a list of rows",
    }
    fields.update(overrides)
    return make_record(n, **fields)


def wire_record(
    seq: int, *, job_id: str | None = None, host: str = "test-host", pid: int = 1
) -> dict[str, Any]:
    """A valid record as the api sends it (a plain dict): the sidecar benchmark's one iris/1
    row (``bench.fluentload.template``), a fresh job_id, timed now."""
    record = template()
    record.update(job_id=job_id or str(uuid.uuid4()), event_time=time.time(), seq=seq)
    record.update(host=host, pid=pid)
    return record
