"""The sidecar's Prometheus metrics, in a registry of its own (one per Sidecar instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sidecar.batch_histogram import BatchHistogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class SidecarMetrics:
    """Counters, gauges and histograms exposed on GET /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        p = "predlog_sidecar_"
        self.received = Counter(
            f"{p}records_received", "Records received, by source.", ["source"], registry=r
        )
        self.stored = Counter(f"{p}records_stored", "Records newly stored.", registry=r)
        self.rejected = Counter(
            f"{p}records_rejected", "Records dead-lettered (failed validation).", registry=r
        )
        self.duplicates = Counter(
            f"{p}records_duplicate", "Records whose job_id was already stored.", registry=r
        )
        self.bad_connections = Counter(
            f"{p}bad_connections", "Connections closed for a reason.", ["reason"], registry=r
        )
        self.connections = Gauge(f"{p}connections", "Open forward connections.", registry=r)
        self.acks = Counter(f"{p}acks", "Chunks acknowledged after fsync.", registry=r)
        self.api_files = Counter(f"{p}api_spool_files", "Api spool files ingested.", registry=r)
        self.spool_bytes = Gauge(f"{p}spool_bytes", "Bytes in the spool.", registry=r)
        self.spool_pending = Gauge(
            f"{p}spool_pending_bytes", "Spool bytes not yet committed to the store.", registry=r
        )
        self.spool_fill = Gauge(f"{p}spool_fill_ratio", "Spool bytes / spool cap.", registry=r)
        self.spool_corrupt = Counter(
            f"{p}spool_corrupt_segments", "Spool segment tails skipped as torn.", registry=r
        )
        self.paused = Gauge(f"{p}reading_paused", "1 while the spool is full.", registry=r)
        self.store_errors = Counter(
            f"{p}store_errors", "Failed store writes (retried).", ["kind"], registry=r
        )
        self.store_up = Gauge(f"{p}store_up", "1 when the last store write worked.", registry=r)
        self.write_seconds = Histogram(
            f"{p}store_write_seconds",
            "Duration of one batched store write.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_records = Histogram(
            f"{p}batch_records",
            "Records per store write.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=r,
        )
        self.lag = BatchHistogram(
            f"{p}commit_lag_seconds",
            "From a record's event time to its commit in the store.",
            LAG_BUCKETS,
            r,
        )
        self.missing = Gauge(
            f"{p}missing_records",
            "Records lost upstream: sum over streams of max_seq - received.",
            registry=r,
        )
