"""Drift statistics from binned counts, against scipy's on the raw values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from sidecar.store.drift import Rule, kolmogorov_q, padded, psi, score
from sidecar.store.histograms import bin_index


def histogram(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.bincount(bin_index(edges, values), minlength=len(edges) + 1).astype(np.float64)


def test_psi_matches_its_formula_and_is_zero_for_equal_shares() -> None:
    ref, cur = np.array([50.0, 50.0]), np.array([80.0, 20.0])
    want = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi(ref, cur) == pytest.approx(want)
    assert psi(ref, ref * 3) == pytest.approx(0.0)
    assert math.isfinite(psi(np.array([10.0, 0.0]), np.array([0.0, 10.0])))


def test_binned_wasserstein_and_ks_are_close_to_scipys_on_fine_bins() -> None:
    rng = np.random.default_rng(1)
    ref_values = rng.normal(0.0, 1.0, 5000)
    live_values = rng.normal(0.3, 1.0, 5000)
    edges = np.linspace(-4.0, 4.5, 30)
    ref, live = histogram(edges, ref_values), histogram(edges, live_values)
    got = score(live, ref, Rule(test="wasserstein"), edges=edges, std=1.0)
    want_w = stats.wasserstein_distance(ref_values, live_values)
    assert got.wasserstein == pytest.approx(want_w, abs=0.03)
    exact = stats.ks_2samp(ref_values, live_values).statistic
    assert got.ks is not None
    assert got.ks <= exact + 1e-9
    assert got.ks == pytest.approx(exact, abs=0.03)
    assert got.drift is True
    assert got.test == "wasserstein"


def test_kolmogorov_q_matches_scipy() -> None:
    for lam in (0.3, 0.8, 1.2, 1.36, 2.0):
        assert kolmogorov_q(lam) == pytest.approx(stats.kstwobign.sf(lam), abs=1e-6)


def test_auto_picks_ks_for_a_small_reference_and_judges_only_full_windows() -> None:
    rng = np.random.default_rng(2)
    edges = np.quantile(rng.normal(size=150), np.linspace(0, 1, 11))
    reference = histogram(edges, rng.normal(size=150))[1:-1]
    ref = padded(reference.astype(int).tolist(), len(edges) + 1)
    same = histogram(edges, rng.normal(size=2000))
    shifted = histogram(edges, rng.normal(1.0, 1.0, 2000))
    rule = Rule()
    calm = score(same, ref, rule, edges=edges, std=1.0)
    assert calm.test == "ks"
    assert calm.drift is False
    moved = score(shifted, ref, rule, edges=edges, std=1.0)
    assert moved.drift is True
    assert moved.psi > rule.psi
    assert score(shifted[:1] * 0 + 5, ref[:1], rule).drift is None  # 5 rows < min_rows


def test_class_counts_have_only_psi() -> None:
    got = score([10, 80, 10], [34, 33, 33], Rule())
    assert got.test == "psi"
    assert got.ks is None
    assert got.wasserstein is None
    assert got.drift
