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


def _cdf(counts: Counts) -> Counts:
    """The CDF at the points (lowest, e0, ..., en, highest) of a histogram with open ends."""
    total = max(counts.sum(), 1.0)
    return np.concatenate(([0.0], np.cumsum(counts) / total))


def kolmogorov_q(lam: float) -> float:
    """P(K > lam) of the Kolmogorov distribution (the KS test's asymptotic p-value); one
    value (``_kolmogorov_q`` takes an array)."""
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
    row = np.asarray(live, dtype=np.float64).reshape(1, -1)
    return scores(row, reference, rule, edges=edges, std=std)[0]


def scores(
    live: Counts,
    reference: Sequence[float] | Counts,
    rule: Rule,
    *,
    edges: npt.NDArray[np.float64] | None = None,
    std: float | None = None,
) -> list[Score]:
    """``score`` for every row of ``live`` (one histogram per row) at once, in numpy."""
    cur = np.asarray(live, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    rows = cur.sum(axis=1)
    n = float(ref.sum())
    ref_share = np.maximum(ref / max(n, 1.0), PSI_FLOOR)
    cur_share = np.maximum(cur / np.maximum(rows, 1.0)[:, None], PSI_FLOOR)
    psis = np.sum((cur_share - ref_share) * np.log(cur_share / ref_share), axis=1)
    distances = statistics = p_values = None
    if edges is not None:
        gap = _cdf(ref)[None, :] - _cdfs(cur)
        statistics = np.max(np.abs(gap), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(n * rows / (n + rows))
            lam = np.where(rows > 0, (root + 0.12 + 0.11 / root) * statistics, 0.0)
        p_values = np.where((rows > 0) & (n > 0), _kolmogorov_q(lam), 1.0)
        distances = _wasserstein(edges, gap, std or 0.0)
    test: Literal["psi", "ks", "wasserstein"] = "psi"
    if edges is not None and rule.test != "psi":
        if rule.test == "auto":
            test = "ks" if n <= KS_MAX_REFERENCE else "wasserstein"
        else:
            test = rule.test
    if test == "ks" and p_values is not None:
        drifts = p_values < rule.ks_p_value
    elif test == "wasserstein" and distances is not None:
        drifts = distances >= rule.wasserstein
    else:
        drifts = psis >= rule.psi
    judged = (rows >= rule.min_rows) & (n > 0)
    return [
        Score(
            rows=int(rows[i]),
            psi=float(psis[i]),
            wasserstein=None if distances is None else float(distances[i]),
            ks=None if statistics is None else float(statistics[i]),
            ks_p=None if p_values is None else float(p_values[i]),
            test=test,
            drift=bool(drifts[i]) if judged[i] else None,
        )
        for i in range(len(cur))
    ]


def _cdfs(counts: Counts) -> Counts:
    """``_cdf`` of every row."""
    totals = np.maximum(counts.sum(axis=1), 1.0)[:, None]
    return np.concatenate((np.zeros((len(counts), 1)), np.cumsum(counts, axis=1) / totals), axis=1)


def _kolmogorov_q(lam: Counts) -> Counts:
    """``kolmogorov_q`` of every element."""
    j = np.arange(1, 101, dtype=np.float64)
    terms = (-1.0) ** (j - 1) * np.exp(-2.0 * np.outer(lam * lam, j * j))
    q = np.clip(2.0 * terms.sum(axis=1), 0.0, 1.0)
    return np.where(lam < 0.2, 1.0, q)


def _wasserstein(edges: npt.NDArray[np.float64], gap: Counts, std: float) -> Counts:
    """``wasserstein`` of every row, from the CDF gaps at the points."""
    scale = std if std > 0 else 1.0
    points = np.concatenate(([edges[0] - scale], edges, [edges[-1] + scale]))
    widths = np.diff(points)[None, :]
    a, b = gap[:, :-1], gap[:, 1:]
    total = np.abs(a) + np.abs(b)
    crossing = np.divide(a * a + b * b, 2 * total, out=np.zeros_like(total), where=total > 0)
    area = np.where(a * b >= 0, widths * total / 2, widths * crossing)
    return np.asarray(area.sum(axis=1) / scale)


def padded(reference: Sequence[int], columns: int) -> Counts:
    """A bundle's interior-bin counts as a histogram with (empty) open end bins."""
    out = np.zeros(columns, dtype=np.float64)
    out[1 : 1 + len(reference)] = reference
    return out
