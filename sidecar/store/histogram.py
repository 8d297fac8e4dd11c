"""Fixed histogram buckets kept in the per-minute rollups, and percentiles read from them."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

LATENCY_BOUNDS_MS: tuple[float, ...] = (
    0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0,
    75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 750.0, 1000.0, 2000.0, 5000.0,
)  # fmt: skip
"""Upper bounds (inclusive) of the latency buckets; one more bucket holds the rest."""

LATENCY_BUCKETS = len(LATENCY_BOUNDS_MS) + 1

SCORE_BUCKETS = 20
"""Outlier scores in [0, 1] are counted in this many equal-width buckets."""


def latency_bucket(latency_ms: float) -> int:
    """Index of the latency bucket that holds ``latency_ms``."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)


def score_bucket(score: float) -> int:
    """Index of the outlier-score bucket that holds ``score`` (clamped to [0, 1])."""
    return min(max(int(score * SCORE_BUCKETS), 0), SCORE_BUCKETS - 1)


def latency_percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of the latencies counted in ``counts``, interpolated.

    None when the histogram is empty. The open last bucket answers its lower bound.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = LATENCY_BOUNDS_MS[index - 1] if index > 0 else 0.0
            if index >= len(LATENCY_BOUNDS_MS):
                return lower
            upper = LATENCY_BOUNDS_MS[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return LATENCY_BOUNDS_MS[-1]
