"""Outlier scoring at serve time: a few numpy operations (or one ONNX graph), no pyod.

Every detector yields a raw score (higher = more unusual, pyod's convention) that a
logistic map turns into ``outlier_score`` in [0, 1]; the bundle's manifest holds the map's
parameters and the threshold, both chosen at training time.
"""

from __future__ import annotations

import math
import statistics
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from api.errors import BundleError
from api.runtime.bundle import BundleManifest, DetectorSpec
from api.runtime.session import open_session

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
KNN_METHODS: Final = ("largest", "mean", "median")


def unit_score(raw: F64, center: float, slope: float) -> F64:
    """Map raw scores to (0, 1) with a logistic curve; tanh form so that it never overflows."""
    out = np.subtract(raw, center)
    out *= 0.5 * slope
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


class OutlierScorer(ABC):
    """A loaded detector: ``score(batch)`` -> outlier scores in [0, 1]."""

    def __init__(self, spec: DetectorSpec) -> None:
        self.spec = spec

    @abstractmethod
    def raw(self, batch: F32) -> F64:
        """The detector's raw scores for a float32 (n, n_features) batch."""

    def raw_one(self, row: F32) -> float:
        """The raw score of one row (n_features,); subclasses make this cheaper than ``raw``."""
        return float(self.raw(row[None, :])[0])

    def score(self, batch: F32) -> F64:
        """Outlier scores in [0, 1] (higher = more unusual) for a float32 (n, n_features) batch."""
        spec = self.spec
        if len(batch) == 1:
            # one row is the common request: scalar math beats five ufunc calls on 1-arrays
            raw = self.raw_one(batch[0])
            return np.array([0.5 + 0.5 * math.tanh(0.5 * spec.slope * (raw - spec.center))])
        return unit_score(self.raw(batch), spec.center, spec.slope)


class KnnScorer(OutlierScorer):
    """pyod ``KNN`` on standardised features: distance to the k-th (or mean/median of k) nearest
    training rows, computed as one matrix product against the stored training rows."""

    def __init__(self, spec: DetectorSpec, params: dict[str, np.ndarray], n_features: int) -> None:
        super().__init__(spec)
        train = _array(params, "train", (None, n_features))
        mean = _array(params, "mean", (n_features,))
        inv_scale = 1.0 / _array(params, "scale", (n_features,))
        try:
            self.k = int(params["k"])
            self.method = str(params["method"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{spec.file}: knn parameters lack k or method") from exc
        if self.method not in KNN_METHODS or not 1 <= self.k <= len(train):
            raise BundleError(f"{spec.file}: bad knn parameters k={self.k} method={self.method}")
        # z = x*s - m*s gives |z - t|^2 = |z|^2 + (x @ W + c), W = -2 s t^T, c = |t|^2 + 2 (m s).t
        # The ranking of neighbours needs only x @ W + c (|z|^2 is the same for the whole row),
        # so standardising costs nothing in the (n, n_train) part; |z|^2 is added to k values.
        self.scale_ = inv_scale
        self.shift = mean * inv_scale
        self.weights = np.ascontiguousarray(-2.0 * inv_scale[:, None] * train.T)
        self.offset = np.einsum("ij,ij->i", train, train) + 2.0 * (train @ self.shift)

    def raw(self, batch: F32) -> F64:
        d2 = batch @ self.weights
        d2 += self.offset
        k = self.k
        z = batch * self.scale_
        z -= self.shift
        zz = np.einsum("ij,ij->i", z, z)
        if self.method == "largest":
            kth = np.partition(d2, k - 1, axis=1)[:, k - 1]
            kth += zz
            return np.sqrt(np.maximum(kth, 0.0, out=kth), out=kth)
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]
        nearest += zz[:, None]
        nearest = np.sqrt(np.maximum(nearest, 0.0, out=nearest), out=nearest)
        out: F64 = nearest.mean(axis=1) if self.method == "mean" else np.median(nearest, axis=1)
        return out

    def raw_one(self, row: F32) -> float:
        d2 = row @ self.weights
        d2 += self.offset
        z = row * self.scale_
        z -= self.shift
        zz = float(z @ z)
        k = self.k
        if self.method == "largest":
            return math.sqrt(max(float(np.partition(d2, k - 1)[k - 1]) + zz, 0.0))
        dists = [math.sqrt(max(v + zz, 0.0)) for v in np.partition(d2, k - 1)[:k].tolist()]
        return sum(dists) / k if self.method == "mean" else statistics.median(dists)


class MahalanobisScorer(OutlierScorer):
    """pyod ``MCD`` (or any Gaussian detector): squared Mahalanobis distance to a location."""

    def __init__(self, spec: DetectorSpec, params: dict[str, np.ndarray], n_features: int) -> None:
        super().__init__(spec)
        self.location = _array(params, "location", (n_features,))
        self.precision = _array(params, "precision", (n_features, n_features))

    def raw(self, batch: F32) -> F64:
        centered = np.subtract(batch, self.location)
        out: F64 = np.einsum("ij,ij->i", centered @ self.precision, centered)
        return out

    def raw_one(self, row: F32) -> float:
        centered = row - self.location
        return float(centered @ self.precision @ centered)


class HbosScorer(OutlierScorer):
    """pyod ``HBOS`` (static bins): minus the sum over features of log2(density + alpha) of
    the bin each value falls in; values a little outside the training range (``tol`` of a
    bin's width) count in the end bin, values further out get the feature's least density."""

    def __init__(self, spec: DetectorSpec, params: dict[str, np.ndarray], n_features: int) -> None:
        super().__init__(spec)
        edges = _array(params, "edges", (None, n_features))
        if len(edges) < 3:
            raise BundleError(f"{spec.file}: hbos needs at least 2 bins, has {len(edges) - 1}")
        log_density = _array(params, "log_density", (len(edges) - 1, n_features))
        try:
            tol = float(params["tol"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{spec.file}: hbos parameters lack tol") from exc
        self.n_bins = len(log_density)
        self.edges = np.ascontiguousarray(edges.T)
        self.log_density = np.ascontiguousarray(log_density.T)
        self.lowest = log_density.min(axis=0)
        self.first, self.last = edges[0], edges[-1]
        # pyod's test, as pyod writes it: dist <= bin_width * tol
        self.low_reach = (edges[1] - edges[0]) * tol
        self.high_reach = (edges[-1] - edges[-2]) * tol

    def raw(self, batch: F32) -> F64:
        x = np.asarray(batch, dtype=np.float64)
        total = np.zeros(len(x))
        for i in range(x.shape[1]):
            col = x[:, i]
            # np.digitize(right=True): 0 below the first edge, n_bins + 1 above the last
            index = np.searchsorted(self.edges[i], col, side="left")
            score = self.log_density[i][np.clip(index - 1, 0, self.n_bins - 1)]
            far = ((index == 0) & (self.first[i] - col > self.low_reach[i])) | (
                (index == self.n_bins + 1) & (col - self.last[i] > self.high_reach[i])
            )
            total += np.where(far, self.lowest[i], score)
        return -total


class OnnxScorer(OutlierScorer):
    """A detector exported to ONNX: the graph's first output is the raw score, (n,) or (n, 1)."""

    def __init__(self, spec: DetectorSpec, path: Path) -> None:
        super().__init__(spec)
        self.session = open_session(path)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [self.session.get_outputs()[0].name]

    def raw(self, batch: F32) -> F64:
        (out,) = self.session.run(self.output_names, {self.input_name: batch})
        return np.asarray(out, dtype=np.float64).reshape(len(batch))


def _array(params: dict[str, np.ndarray], key: str, shape: tuple[int | None, ...]) -> F64:
    if key not in params:
        raise BundleError(f"detector parameters lack {key!r}")
    arr = np.ascontiguousarray(params[key], dtype=np.float64)
    if arr.ndim != len(shape) or any(
        w is not None and w != n for w, n in zip(shape, arr.shape, strict=True)
    ):
        raise BundleError(f"detector parameter {key!r} has shape {arr.shape}, expected {shape}")
    return arr


def load_scorer(bundle_dir: Path, manifest: BundleManifest) -> OutlierScorer:
    """The scorer for a bundle's detector file (npz parameters or an ONNX graph)."""
    spec = manifest.detector
    if spec is None:
        raise BundleError(f"{bundle_dir}: the manifest names no outlier detector")
    path = bundle_dir / spec.file
    if spec.kind == "onnx":
        return OnnxScorer(spec, path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            params = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: unreadable detector parameters: {exc}") from exc
    if spec.kind == "knn":
        return KnnScorer(spec, params, manifest.n_features)
    if spec.kind == "hbos":
        return HbosScorer(spec, params, manifest.n_features)
    return MahalanobisScorer(spec, params, manifest.n_features)
