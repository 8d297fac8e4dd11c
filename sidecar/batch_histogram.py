"""A Prometheus histogram that takes a whole batch of observations at once."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector


def bucket_counts(bounds: Sequence[float], values: Iterable[float]) -> tuple[list[int], float]:
    """Per-bucket counts (the last one is +Inf) and the sum of ``values``."""
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for value in values:
        counts[bisect.bisect_left(bounds, value)] += 1
        total += value
    return counts, total


class BatchHistogram(Collector):
    """Cumulative buckets like ``prometheus_client.Histogram``, one lock per batch."""

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._doc = documentation
        self._bounds = list(buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        """Count every value of a batch into its bucket."""
        self.add(*bucket_counts(self._bounds, values))

    def add(self, counts: Sequence[int], total: float) -> None:
        """Add per-bucket counts (from ``bucket_counts`` over the same bounds) and their sum."""
        if len(counts) != len(self._counts):
            raise ValueError("bucket counts do not match the histogram's buckets")
        with self._lock:
            for i, n in enumerate(counts):
                self._counts[i] += n
            self._sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, n in zip([*map(str, self._bounds), "+Inf"], counts, strict=True):
            running += n
            cumulative.append((bound, running))
        family = HistogramMetricFamily(self._name, self._doc)
        family.add_metric([], cumulative, sum_value=total)
        yield family
