"""Known records the dashboard tests store (through the real StoreWriter) and check against."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sidecar.record import PredictionRecord, RowResult
from sidecar.store.histogram import LATENCY_BUCKETS, latency_bucket, latency_percentile
from sidecar.store.writer import DeadLetterIn
from tests.records import make_record

LOOKUP_JOB = "job-0040"
"""job_id of the one iris/2 outlier, also sent with request id ``LOOKUP_REQUEST``."""
LOOKUP_REQUEST = "req-outlier"
THRESHOLD_V1 = 0.6
"""Outlier threshold written into the test manifest of iris/1 (iris/2 has none)."""


@dataclass
class Batch:
    """A group of identical requests, spread one a minute back from ``minutes_ago``."""

    count: int
    minutes_ago: float
    status: int = 200
    model: str | None = "iris"
    version: str | None = "1"
    endpoint: str = "/predict"
    latency_ms: float = 4.0
    scores: list[float] = field(default_factory=lambda: [0.1])
    threshold: float = THRESHOLD_V1
    error: str | None = None
    has_inputs: bool = True


RECENT: list[Batch] = [
    Batch(24, 1.5),
    Batch(3, 2.0, scores=[0.92]),
    Batch(3, 3.0, endpoint="/predict/batch", latency_ms=12.0, scores=[0.1, 0.2, 0.3]),
    Batch(9, 4.0, version="2", latency_ms=40.0, scores=[0.15], threshold=0.5),
    Batch(1, 5.0, version="2", latency_ms=40.0, scores=[0.75], threshold=0.5),
    Batch(2, 6.0, status=503, version="2", latency_ms=0.8, scores=[], error="iris/2 not ready"),
    Batch(5, 7.0, status=422, model=None, version=None, latency_ms=1.5, scores=[],
          error="data: expected rows of 4 numbers", has_inputs=False),
]  # fmt: skip
"""Requests of the last 40 minutes: inside the 15 min / 1 h windows (most of them)."""

OLD: list[Batch] = [Batch(6, 180.0, latency_ms=100.0, scores=[0.05])]
"""Requests three hours back: inside 24 h only."""

MISSING_SEQ = 10
"""A sequence number skipped on purpose: one lost record."""


@dataclass(frozen=True)
class Expected:
    """What the dashboard must show for a set of records."""

    requests: int
    errors: int
    outlier_requests: int
    rows: int
    outlier_rows: int
    latencies: list[float]

    def percentile(self, q: float) -> float | None:
        counts = [0] * LATENCY_BUCKETS
        for latency in self.latencies:
            counts[latency_bucket(latency)] += 1
        return latency_percentile(counts, q)


def build(now: float) -> list[PredictionRecord]:
    """RECENT and OLD as records, event times relative to ``now`` (epoch seconds)."""
    records: list[PredictionRecord] = []
    seq = 0
    for batch in (*RECENT, *OLD):
        for i in range(batch.count):
            seq += 1 + (seq + 1 == MISSING_SEQ)
            n = len(records) + 1
            rows = max(len(batch.scores), 1)
            inputs = [[5.0 + n / 100, 3.0 + r, 1.5, 0.2] for r in range(rows)]
            results = [
                RowResult(
                    prediction=[0.8, 0.15, 0.05], label="setosa", outlier_score=score,
                    is_outlier=score >= batch.threshold,
                )
                for score in batch.scores
            ]  # fmt: skip
            records.append(
                make_record(
                    n,
                    job_id=f"job-{n:04d}",
                    request_id=LOOKUP_REQUEST if f"job-{n:04d}" == LOOKUP_JOB else None,
                    event_time=now - batch.minutes_ago * 60 - i * 7.0,
                    endpoint=batch.endpoint,
                    status=batch.status,
                    model=batch.model,
                    version=batch.version,
                    routing="weighted" if batch.model else None,
                    inputs=inputs if batch.has_inputs else None,
                    results=results or None,
                    latency_ms=batch.latency_ms,
                    inference_ms=batch.latency_ms / 2 if results else None,
                    host="test-host",
                    pid=42,
                    seq=seq,
                    error=batch.error,
                )
            )
    return records


def expected(records: list[PredictionRecord], since: float) -> Expected:
    """The figures of the records with event time at or after ``since``."""
    chosen = [r for r in records if r.event_time >= since]
    return Expected(
        requests=len(chosen),
        errors=sum(r.status >= 400 for r in chosen),
        outlier_requests=sum(r.is_outlier for r in chosen),
        rows=sum(len(r.inputs) if r.inputs is not None else len(r.results or ()) for r in chosen),
        outlier_rows=sum(bool(x.is_outlier) for r in chosen for x in r.results or ()),
        latencies=[r.latency_ms for r in chosen],
    )


def dead_letter(now: float) -> DeadLetterIn:
    """One dead letter received at ``now``."""
    return DeadLetterIn(
        tag="predlog.prediction", payload=b"\x81\xa3bad\xc0", reason="job_id: missing",
        received_at=datetime.fromtimestamp(now, UTC),
    )  # fmt: skip


def write_manifest(models_dir: Path) -> Path:
    """A bundle manifest for iris/1 only (the fields the dashboard reads)."""
    path = models_dir / "iris" / "1" / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": "iris", "version": "1", "outlier_threshold": THRESHOLD_V1,
        "feature_names": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    }  # fmt: skip
    path.write_text(json.dumps(manifest))
    return path
