"""Drift statistics from binned counts: PSI, a normed Wasserstein distance and a KS test.

Each compares a live histogram (``sidecar.store.bins``' columns: the open end bins, then
the interior bins) with a reference on the same bins (the training rows of a bundle, or an
earlier window), so that the dashboard and the alert metrics read them from the rollups,
never from raw rows. They follow Evidently's data-drift preset: PSI with empty bins set to
0.0001, the Wasserstein distance divided by the reference's std (threshold 0.1), the
two-sample Kolmogorov-Smirnov test (p < 0.05) for references of at most 1,000 rows.
Binned, the KS statistic is the largest CDF gap at the bin edges (a lower bound of the
exact one), and the Wasserstein distance takes the values in a bin as spread evenly and
those beyond the reference range as lying within one reference std of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Test = Literal["auto", "psi", "ks", "wasserstein"]
"""Which statistic flags drift; "auto" is Evidently's choice: KS for a reference of at most
``KS_MAX_REFERENCE`` rows, the normed Wasserstein distance above."""

KS_MAX_REFERENCE = 1000
PSI_FLOOR = 0.0001
"""A bin's share is at least this in PSI (Evidently's), so that an empty bin is finite."""

Counts = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Rule:
    """When a statistic says drift (Evidently's defaults)."""

    test: Test = "auto"
    psi: float = 0.1
    wasserstein: float = 0.1
    ks_p_value: float = 0.05
    min_rows: int = 30
    """Live windows with fewer values are not judged."""


@dataclass(frozen=True, slots=True)
class Score:
    """One live histogram against its reference."""

    rows: int
    psi: float
    wasserstein: float | None
    """In reference stds (None: no std, e.g. class counts)."""
    ks: float | None
    ks_p: float | None
    test: Literal["psi", "ks", "wasserstein"]
    """The statistic that decided ``drift``."""
    drift: bool | None
    """None when the window has too few values to judge."""


def psi(reference: Counts, live: Counts) -> float:
    """Population stability index between two histograms on the same bins."""
    ref = np.maximum(reference / max(reference.sum(), 1.0), PSI_FLOOR)
    cur = np.maximum(live / max(live.sum(), 1.0), PSI_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def wasserstein(
    edges: npt.NDArray[np.float64], reference: Counts, live: Counts, std: float
) -> float:
    """The first Wasserstein distance between the two histograms, in units of ``std``.

    ``reference`` and ``live`` have ``len(edges) + 1`` columns (open ends included)."""
    scale = std if std > 0 else 1.0
    points = np.concatenate(([edges[0] - scale], edges, [edges[-1] + scale]))
    gap = _cdf(reference) - _cdf(live)  # at every point
    widths = np.diff(points)
    a, b = gap[:-1], gap[1:]
    same = a * b >= 0
    total = np.abs(a) + np.abs(b)
    crossing = np.divide(a * a + b * b, 2 * total, out=np.zeros_like(total), where=total > 0)
    area = np.where(same, widths * total / 2, widths * crossing)
    return float(area.sum() / scale)


def _cdf(counts: Counts) -> Counts:
    """The CDF at the points (lowest, e0, ..., en, highest) of a histogram with open ends."""
    total = max(counts.sum(), 1.0)
    return np.concatenate(([0.0], np.cumsum(counts) / total))


def ks(reference: Counts, live: Counts) -> tuple[float, float]:
    """The binned two-sample KS statistic and its asymptotic p-value."""
    n, m = float(reference.sum()), float(live.sum())
    if n == 0 or m == 0:
        return 0.0, 1.0
    statistic = float(np.max(np.abs(_cdf(reference) - _cdf(live))))
    root = math.sqrt(n * m / (n + m))
    return statistic, kolmogorov_q((root + 0.12 + 0.11 / root) * statistic)


def kolmogorov_q(lam: float) -> float:
    """P(K > lam) of the Kolmogorov distribution (the KS test's asymptotic p-value)."""
    if lam < 0.2:
        return 1.0
    total, sign = 0.0, 1.0
    for j in range(1, 101):  # an alternating series: stop once its terms no longer count
        term = math.exp(-2.0 * j * j * lam * lam)
        total += sign * term
        if term < 1e-12:
            break
        sign = -sign
    return float(min(max(2.0 * total, 0.0), 1.0))


def score(
    live: Sequence[float] | Counts,
    reference: Sequence[float] | Counts,
    rule: Rule,
    *,
    edges: npt.NDArray[np.float64] | None = None,
    std: float | None = None,
) -> Score:
    """Every statistic of a live histogram, and whether ``rule`` calls it drift.

    With ``edges`` (a numeric slot) the histograms have the open end bins; without, they
    are class counts and only PSI applies."""
    cur = np.asarray(live, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    rows = int(cur.sum())
    value = psi(ref, cur)
    distance = statistic = p_value = None
    if edges is not None:
        statistic, p_value = ks(ref, cur)
        distance = wasserstein(edges, ref, cur, std or 0.0)
    test: Literal["psi", "ks", "wasserstein"] = "psi"
    if edges is not None and rule.test != "psi":
        if rule.test == "auto":
            test = "ks" if ref.sum() <= KS_MAX_REFERENCE else "wasserstein"
        else:
            test = rule.test
    drift: bool | None = None
    if rows >= rule.min_rows and ref.sum() > 0:
        if test == "psi":
            drift = value >= rule.psi
        elif test == "ks":
            drift = p_value is not None and p_value < rule.ks_p_value
        else:
            drift = distance is not None and distance >= rule.wasserstein
    return Score(rows, value, distance, statistic, p_value, test, drift)


def padded(reference: Sequence[int], columns: int) -> Counts:
    """A bundle's interior-bin counts as a histogram with (empty) open end bins."""
    out = np.zeros(columns, dtype=np.float64)
    out[1 : 1 + len(reference)] = reference
    return out
