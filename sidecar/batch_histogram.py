"""Prometheus histograms that take a whole batch of observations at once.

Both sides use it: the api adds each endpoint's latencies once per flush, the sidecar each
batch's commit lags. It imports prometheus-client and nothing of the sidecar, so the api
imports it as it imports ``sidecar.record`` (``tests/sidecar/test_light_imports.py``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Histogram


def bucket_counts(bounds: Sequence[float], values: Iterable[float]) -> tuple[list[int], float]:
    """Per-bucket counts (the last one is +Inf) and the sum of ``values``."""
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for value in values:
        counts[bisect.bisect_left(bounds, value)] += 1  # the first bound >= value, as observe()
        total += value
    return counts, total


def add_counts(histogram: Histogram, counts: Sequence[float], total: float) -> None:
    """Add many observations to one histogram (a child, if it has labels) at once: their
    ``counts`` per bucket (the histogram's bounds, the last one +Inf) and their ``total``.

    ``Histogram.observe`` does exactly this for one value. prometheus-client has no public
    way to add more than one (its maintainers point to custom collectors: client_python
    #733, #1124), and a custom collector cannot serve the api's multiprocess mode, whose
    values live in memory-mapped files that only the histogram's own value objects write
    (two writes per ``observe``, ~3 us a request). So this adds each bucket once through
    those value objects, ``_buckets`` and ``_sum``: the one place that touches them.
    ``tests/sidecar/test_batch_histogram.py`` checks the result equals one ``observe`` a
    value, in one process and in multiprocess mode, so a release that changes them fails
    there first.
    """
    buckets = histogram._buckets  # per-bucket values, not cumulative
    if len(buckets) != len(counts):
        raise ValueError(f"{len(counts)} counts for {len(buckets)} buckets")
    histogram._sum.inc(total)
    for bucket, n in zip(buckets, counts, strict=True):
        if n:
            bucket.inc(n)


class BatchHistogram:
    """A ``prometheus_client.Histogram`` (same exposition, multiprocess mode included)
    that also takes a batch in one call; label children are cached."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
        labelnames: Sequence[str] = (),
    ) -> None:
        self.bounds = tuple(float(bound) for bound in buckets)
        """The upper bounds, without +Inf (what ``bucket_counts`` takes)."""
        self.histogram = Histogram(
            name, documentation, labelnames, buckets=buckets, registry=registry
        )
        self._children: dict[tuple[str, ...], Histogram] = {}

    def child(self, *labels: str) -> Histogram:
        """The histogram of these label values (the histogram itself without labels)."""
        if not labels:
            return self.histogram
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.histogram.labels(*labels)
        return child

    def observe_many(self, values: Iterable[float], *labels: str) -> None:
        """Count every value of a batch into its bucket."""
        counts, total = bucket_counts(self.bounds, values)
        self.add(counts, total, *labels)

    def add(self, counts: Sequence[float], total: float, *labels: str) -> None:
        """Add per-bucket counts (from ``bucket_counts`` over the same bounds) and their sum."""
        add_counts(self.child(*labels), counts, total)
