"""Request bodies: normal rows from the training distribution, outlier rows far outside it.

Normal rows are real training rows (the sample a bundle carries, ``GET /metadata``'s
``sample_rows``) with a small jitter, so that they combine feature values the way the
training data does and the detector flags about its own contamination of them. Drawing each
feature on its own from its mean and std would pair values no training row has (a short
petal with a wide one) and most such rows are rightly flagged. A bundle without a sample
falls back to that independent draw, clipped to the training range.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

OUTLIER_MIN_STDS = 4.0
"""An outlier feature lies at least this many standard deviations beyond the training range."""
OUTLIER_MAX_STDS = 8.0
"""... and at most this many."""
JITTER_STDS = 0.05
"""The jitter added to a sampled training row, in standard deviations of each feature."""


@dataclass(frozen=True, slots=True)
class FeatureStat:
    """Training statistics of one feature, as ``GET /metadata`` gives them."""

    name: str
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> FeatureStat:
        """Parse one entry of the metadata's ``feature_stats``."""
        return cls(
            name=str(item["name"]),
            mean=float(item["mean"]),
            std=float(item["std"]),
            min=float(item["min"]),
            max=float(item["max"]),
        )


@dataclass(frozen=True, slots=True)
class Training:
    """What rows are drawn from: per-feature statistics and a sample of real training rows."""

    stats: tuple[FeatureStat, ...]
    sample: tuple[tuple[float, ...], ...] = ()

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Training:
        """Parse ``GET /metadata``'s ``feature_stats`` and ``sample_rows`` (if any)."""
        stats = tuple(FeatureStat.from_json(item) for item in metadata.get("feature_stats") or ())
        rows = metadata.get("sample_rows") or ()
        sample = tuple(tuple(float(v) for v in row) for row in rows if len(row) == len(stats))
        return cls(stats, sample)


@dataclass(frozen=True, slots=True)
class Body:
    """One pre-serialised request body and whether its row was drawn as an outlier."""

    payload: bytes
    outlier: bool


class RowSampler:
    """Draws rows: normal ones from the training rows (or range), outliers beyond the range."""

    def __init__(
        self,
        stats: Sequence[FeatureStat],
        outlier_fraction: float,
        seed: int | None = None,
        sample: Sequence[Sequence[float]] = (),
        shift: Sequence[float] = (),
    ) -> None:
        """``shift``: per feature, training stds added to every normal row (drift on purpose)."""
        if not stats:
            raise ValueError("no feature statistics to draw rows from")
        if not 0.0 <= outlier_fraction <= 1.0:
            raise ValueError("outlier_fraction must be within [0, 1]")
        self.stats = tuple(stats)
        self.outlier_fraction = outlier_fraction
        self._rng = np.random.default_rng(seed)
        self._mean = np.array([s.mean for s in stats])
        # A constant feature still needs a scale to step away from its range.
        self._std = np.array([s.std if s.std > 0 else 1.0 for s in stats])
        self._min = np.array([s.min for s in stats])
        self._max = np.array([s.max for s in stats])
        self._sample = np.array(sample, dtype=np.float64).reshape(-1, len(self.stats))
        self._shift = np.zeros(len(self.stats))
        self._shift[: len(shift)] = shift

    def rows(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` rows (float64, (n, features)) and a flag per row saying it is an outlier."""
        width = len(self.stats)
        if len(self._sample):
            picked = self._sample[self._rng.integers(len(self._sample), size=n)]
            normal = picked + self._rng.normal(0.0, JITTER_STDS * self._std, size=(n, width))
        else:
            normal = self._rng.normal(self._mean, self._std, size=(n, width))
        normal = np.clip(normal, self._min, self._max) + self._shift * self._std
        is_outlier = self._rng.random(n) < self.outlier_fraction
        k = int(is_outlier.sum())
        if k:
            # Every feature of an outlier row is pushed out, each on a random side.
            distance = self._rng.uniform(OUTLIER_MIN_STDS, OUTLIER_MAX_STDS, size=(k, width))
            above = self._rng.random((k, width)) < 0.5
            high = self._max + distance * self._std
            low = self._min - distance * self._std
            normal[is_outlier] = np.where(above, high, low)
        return normal, is_outlier

    def bodies(self, n: int) -> list[Body]:
        """``n`` request bodies ``{"data": [[...]]}``, serialised once, ahead of sending."""
        rows, flags = self.rows(n)
        rounded = np.round(rows, 4).tolist()
        return [
            Body(orjson.dumps({"data": [row]}), bool(flag))
            for row, flag in zip(rounded, flags.tolist(), strict=True)
        ]

    def stream(self, total: int, chunk: int = 1024) -> Iterator[Body]:
        """``total`` bodies, drawn a chunk at a time so that memory stays flat on long runs."""
        left = total
        while left > 0:
            batch = self.bodies(min(chunk, left))
            left -= len(batch)
            yield from batch
