"""Fit pyod outlier detectors and extract what scoring needs at serve time (numpy parameters).

The api scores with ``api.runtime.outlier``; the formulas there reproduce pyod's
``decision_function`` for these detectors, which the training tests check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pyod.models.hbos import HBOS
from pyod.models.knn import KNN
from pyod.models.mcd import MCD

from api.runtime.outlier import unit_score
from training.graphs import detector_model

F64 = npt.NDArray[np.float64]

NORMAL_SCORE = 0.4
"""outlier_score of a row with the median training raw score."""
THRESHOLD_SCORE = 0.7
"""outlier_score at pyod's threshold (the (1 - contamination) quantile of training scores)."""


@dataclass(frozen=True)
class FittedDetector:
    """A fitted pyod detector and its serve-time form."""

    kind: Literal["knn", "mahalanobis", "hbos"]
    algorithm: str
    params: dict[str, npt.NDArray[Any]]
    contamination: float
    raw_threshold: float
    center: float
    slope: float
    pyod_model: Any
    """The pyod estimator itself (training and tests only)."""
    input_mean: F64 | None = None
    input_scale: F64 | None = None
    """Set when ``pyod_model`` was fitted on standardised rows."""

    def decision_function(self, x: F64) -> F64:
        """pyod's raw scores for raw (unstandardised) rows."""
        if self.input_mean is not None and self.input_scale is not None:
            x = (x - self.input_mean) / self.input_scale
        out: F64 = np.asarray(self.pyod_model.decision_function(x), dtype=np.float64)
        return out

    @property
    def has_onnx(self) -> bool:
        """Whether the raw score has an ONNX form (a detector file of its own, or nodes in the
        combined graph); hbos is scored from its npz parameters only."""
        return self.kind in ("knn", "mahalanobis")

    def to_onnx(self) -> bytes:
        """The raw-score function as an ONNX graph (float32 ``input`` -> float64 ``raw`` (n,))."""
        if not self.has_onnx:
            raise ValueError(f"a {self.kind} detector has no ONNX form: write it as npz")
        key = "location" if self.kind == "mahalanobis" else "mean"
        return detector_model(self, len(self.params[key]))

    @property
    def threshold(self) -> float:
        """The threshold in outlier-score space."""
        return float(unit_score(np.array([self.raw_threshold]), self.center, self.slope)[0])


def logistic_map(train_scores: F64, raw_threshold: float) -> tuple[float, float]:
    """``(center, slope)`` so that the median training score maps to NORMAL_SCORE and the
    threshold to THRESHOLD_SCORE; far beyond the threshold the score tends to 1."""
    median = float(np.median(train_scores))
    spread = max(raw_threshold - median, 1e-6 * max(abs(median), 1.0))
    lo, hi = (
        np.log(NORMAL_SCORE / (1 - NORMAL_SCORE)),
        np.log(THRESHOLD_SCORE / (1 - THRESHOLD_SCORE)),
    )
    slope = float((hi - lo) / spread)
    center = float(median - lo / slope)
    return center, slope


def fit_knn(
    x: F64, contamination: float = 0.05, n_neighbors: int = 5, method: str = "largest"
) -> FittedDetector:
    """pyod KNN on standardised features; serve-time parameters are the standardised rows."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    model = KNN(contamination=contamination, n_neighbors=n_neighbors, method=method).fit(z)
    raw_threshold = float(model.threshold_)
    center, slope = logistic_map(
        np.asarray(model.decision_scores_, dtype=np.float64), raw_threshold
    )
    params = {
        "mean": mean,
        "scale": scale,
        "train": z,
        "k": np.array(n_neighbors),
        "method": np.array(method),
    }
    return FittedDetector(
        "knn",
        "pyod.models.knn.KNN",
        params,
        contamination,
        raw_threshold,
        center,
        slope,
        model,
        mean,
        scale,
    )


def fit_mcd(x: F64, contamination: float = 0.05, random_state: int = 0) -> FittedDetector:
    """pyod MCD (robust covariance); serve-time parameters are its location and precision."""
    model = MCD(contamination=contamination, random_state=random_state).fit(x)
    raw_threshold = float(model.threshold_)
    center, slope = logistic_map(
        np.asarray(model.decision_scores_, dtype=np.float64), raw_threshold
    )
    params = {
        "location": np.asarray(model.detector_.location_, dtype=np.float64),
        "precision": np.asarray(model.detector_.get_precision(), dtype=np.float64),
    }
    return FittedDetector(
        "mahalanobis",
        "pyod.models.mcd.MCD",
        params,
        contamination,
        raw_threshold,
        center,
        slope,
        model,
    )


def fit_hbos(
    x: F64, contamination: float = 0.05, n_bins: int = 10, alpha: float = 0.1, tol: float = 0.5
) -> FittedDetector:
    """pyod HBOS with ``n_bins`` equal-width bins per feature; serve-time parameters are the
    bin edges, log2(density + alpha) per bin and ``tol`` (``api.runtime.outlier.HbosScorer``)."""
    model = HBOS(n_bins=n_bins, alpha=alpha, tol=tol, contamination=contamination).fit(x)
    raw_threshold = float(model.threshold_)
    center, slope = logistic_map(
        np.asarray(model.decision_scores_, dtype=np.float64), raw_threshold
    )
    params = {
        "edges": np.asarray(model.bin_edges_, dtype=np.float64),
        "log_density": np.log2(np.asarray(model.hist_, dtype=np.float64) + alpha),
        "tol": np.array(float(tol)),
    }
    return FittedDetector(
        "hbos",
        "pyod.models.hbos.HBOS",
        params,
        contamination,
        raw_threshold,
        center,
        slope,
        model,
    )


DETECTORS: dict[str, Callable[[F64, float], FittedDetector]] = {
    "knn": fit_knn,
    "mcd": fit_mcd,
    "hbos": fit_hbos,
}
"""The pyod detectors a bundle can carry (``predlog bundle --detector``): each is served
from numpy parameters or ONNX, without pyod. Others (IForest, LOF, ...) have no such form."""


def fit_detector(name: str, x: F64, contamination: float = 0.05) -> FittedDetector:
    """Fit the detector ``name`` (a key of DETECTORS); ValueError naming the choices if unknown."""
    fit = DETECTORS.get(name.lower())
    if fit is None:
        raise ValueError(
            f"detector {name!r} cannot be served without pyod; choose one of "
            f"{', '.join(DETECTORS)} (exported to numpy/ONNX)"
        )
    return fit(x, contamination)
