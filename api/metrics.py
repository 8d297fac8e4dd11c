"""Prometheus metrics of the api, correct with several uvicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``predlog api`` sets it up before any worker starts),
prometheus-client keeps each worker's values in memory-mapped files there and ``/metrics``
aggregates every worker's files; otherwise the metrics live in this app's own registry.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from sidecar.batch_histogram import BatchHistogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Request latency buckets in seconds: most answers take about a millisecond."""
_BOUNDS = (*LATENCY_BUCKETS, math.inf)


def multiprocess_dir() -> str | None:
    """The multiprocess directory prometheus-client uses in this process, if any."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class ApiMetrics:
    """The api's counters and histogram, with label children cached for the request path."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "predlog_api_requests",
            "HTTP requests answered, by endpoint, model, version and status.",
            ["endpoint", "model", "version", "status"],
            registry=self.registry,
        )
        self.latency = BatchHistogram(
            "predlog_api_request_latency_seconds",
            "Server latency from request arrival to response, by endpoint.",
            LATENCY_BUCKETS,
            self.registry,
            ["endpoint"],
        )
        self.rows = Counter(
            "predlog_api_rows",
            "Input rows predicted, by model and version.",
            ["model", "version"],
            registry=self.registry,
        )
        self.outliers = Counter(
            "predlog_api_outliers",
            "Input rows flagged as outliers, by model and version.",
            ["model", "version"],
            registry=self.registry,
        )
        self.records = Counter(
            "predlog_api_records",
            "Log records by outcome: sent to the forward receiver, spooled to disk, or failed.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("sent", "spooled", "failed"):
            self.records.labels(outcome)  # export zeros, so "no spooling" is visible
        self.shadow_copies = Counter(
            "predlog_api_shadow_copies",
            "Request copies for shadow versions: answered, failed, or dropped (queue full).",
            ["model", "version", "outcome"],
            registry=self.registry,
        )
        self.started = Gauge(
            "predlog_api_started_time_seconds",
            "When this worker started, in Unix seconds (one value per worker).",
            registry=self.registry,
            multiprocess_mode="all",
        )
        self.started.set_to_current_time()
        self._children: dict[tuple[Any, ...], Any] = {}
        # The request path only adds to these plain dicts; flush() moves them into the
        # prometheus values (memory-mapped files with several workers) off the event loop.
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str, int], int] = {}
        self._latencies: dict[str, list[float]] = {}  # endpoint -> [sum, count per bucket...]
        self._rows: dict[tuple[str, str], list[int]] = {}

    def observe_request(
        self, endpoint: str, model: str, version: str, status: int, latency_s: float
    ) -> None:
        """Count one answered request and its latency (request path: two dict updates)."""
        key = (endpoint, model, version, status)
        bucket = 1 + bisect.bisect_left(_BOUNDS, latency_s)  # the first bound >= latency_s
        with self._lock:
            requests = self._requests
            requests[key] = requests.get(key, 0) + 1
            histogram = self._latencies.get(endpoint)
            if histogram is None:
                histogram = self._latencies[endpoint] = [0.0] * (1 + len(_BOUNDS))
            histogram[0] += latency_s
            histogram[bucket] += 1

    def observe_rows(self, model: str, version: str, rows: int, outliers: int) -> None:
        """Count predicted rows and outliers of one request."""
        key = (model, version)
        with self._lock:
            counts = self._rows.get(key)
            if counts is None:
                self._rows[key] = [rows, outliers]
            else:
                counts[0] += rows
                counts[1] += outliers

    def flush(self) -> None:
        """Move what the request path counted into the exported metrics (emitter thread)."""
        with self._lock:
            requests, self._requests = self._requests, {}
            latencies, self._latencies = self._latencies, {}
            rows, self._rows = self._rows, {}
        for key, n in requests.items():
            self._child(self.requests, key).inc(n)
        for endpoint, histogram in latencies.items():
            self.latency.add(histogram[1:], histogram[0], endpoint)
        for pair, (n, outliers) in rows.items():
            self._child(self.rows, pair).inc(n)
            self._child(self.outliers, pair).inc(outliers)

    def _child(self, metric: Any, labels: tuple[Any, ...]) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_shadow(self, model: str, version: str, outcome: str) -> None:
        """Count one shadow copy by outcome (the shadow thread, or a drop on the request path)."""
        self._child(self.shadow_copies, (model, version, outcome)).inc()

    def observe_record(self, outcome: str, n: int) -> None:
        """Count records by emitter outcome (called from the emitter thread)."""
        self.records.labels(outcome).inc(n)

    def render(self) -> bytes:
        """The exposition text: every worker's values in multiprocess mode, else this app's."""
        self.flush()
        if multiprocess_dir():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
