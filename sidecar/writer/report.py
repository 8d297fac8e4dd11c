"""Where the writer loop reports what it did: the ``WriterReport`` protocol, and the report
straight into the sidecar's metrics (a writer process sends its own over a pipe instead,
``sidecar.writer.process.PipeReport``, and the parent adds it here)."""

from __future__ import annotations

from typing import Protocol

from sidecar.batch_histogram import bucket_counts
from sidecar.metrics import LAG_BUCKETS, SidecarMetrics


class WriterReport(Protocol):
    """Where the writer loop reports what it did (the metrics, maybe in another process)."""

    def written(self, seconds: float) -> None:
        """One store write took ``seconds``; the store is up."""

    def store_error(self, kind: str) -> None:
        """A store write failed with ``kind``; it is retried."""

    def batch(
        self, inserted: int, duplicates: int, dead_letters: int, size: int, lags: list[float]
    ) -> None:
        """A batch is committed: its counts and each record's event-to-commit lag."""

    def corrupt(self, segments: int) -> None:
        """``segments`` more spool segment tails were skipped as torn."""


class MetricsReport:
    """A ``WriterReport`` straight into the sidecar's metrics (same process)."""

    def __init__(self, metrics: SidecarMetrics) -> None:
        self.metrics = metrics
        self.store_up: bool | None = None

    def written(self, seconds: float) -> None:
        self.store_up = True
        self.metrics.write_seconds.observe(seconds)
        self.metrics.store_up.set(1)

    def store_error(self, kind: str) -> None:
        self.store_up = False  # before the counter: whoever sees the error sees this
        self.metrics.store_up.set(0)
        self.metrics.store_errors.labels(kind).inc()

    def batch(
        self, inserted: int, duplicates: int, dead_letters: int, size: int, lags: list[float]
    ) -> None:
        self.bucketed_batch(
            inserted, duplicates, dead_letters, size, *bucket_counts(LAG_BUCKETS, lags)
        )

    def bucketed_batch(
        self,
        inserted: int,
        duplicates: int,
        dead_letters: int,
        size: int,
        lag_counts: list[int],
        lag_total: float,
    ) -> None:
        """``batch`` with the lags already counted per bucket (``bucket_counts``)."""
        m = self.metrics
        m.stored.inc(inserted)
        m.duplicates.inc(duplicates)
        m.rejected.inc(dead_letters)
        m.batch_records.observe(size)
        m.lag.add(lag_counts, lag_total)

    def corrupt(self, segments: int) -> None:
        if segments:
            self.metrics.spool_corrupt.inc(segments)
