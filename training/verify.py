"""A bundle checked before it is put in place: loaded through the api's own runtime, its
answers compared with the estimator's and its outlier scores with the fitted detector's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from api.runtime.bundle import BundleManifest, load_manifest
from api.runtime.model import OnnxModelVersion
from api.runtime.outlier import unit_score
from training.detectors import FittedDetector

F64 = npt.NDArray[np.float64]
TOLERANCE = 1e-4
"""Largest gap allowed between the bundle's answers and the estimator's on the training rows:
absolute for probabilities, relative to max(1, |value|) for a regressor's values."""


def check_bundle(
    bundle_dir: Path,
    x: F64,
    detector: FittedDetector,
    expected: F64 | None = None,
    tolerance: float = TOLERANCE,
) -> float | None:
    """Load the bundle with the api's runtime and compare it with the estimator's answers
    (``expected``, when given) and the pyod detector; returns the largest answer gap."""
    served = OnnxModelVersion(bundle_dir, load_manifest(bundle_dir))
    served.load()
    try:
        out = served.predict(x.astype(np.float32))
        gap = None
        if expected is not None:
            gaps = _gaps(served.manifest, out.proba, expected)
            gap = float(gaps.max())
            if not gap <= tolerance:
                what = "values" if served.manifest.is_regressor else "probabilities"
                row = int(np.argmax(gaps))
                raise RuntimeError(
                    f"{bundle_dir}: the ONNX graph's {what} differ from the estimator's by up "
                    f"to {gap:.3g} (training row {row}: ONNX {out.proba[row].tolist()}, "
                    f"estimator {np.asarray(expected)[row].tolist()}), more than the tolerance "
                    f"{tolerance:g}"
                )
        raw = served.manifest.detector
        assert raw is not None, "training always writes a detector"
        ref = detector.decision_function(x.astype(np.float32).astype(np.float64))
        ref_score = unit_score(ref, raw.center, raw.slope)
        # predict (the combined graph, when there is one) and the detector file alone
        for scores in (out.outlier_score, served.score_outliers(x.astype(np.float32))):
            score_gap = float(np.abs(scores - ref_score).max())
            if score_gap > 1e-6:
                raise RuntimeError(f"{bundle_dir}: outlier scores differ by {score_gap} from pyod")
        if (
            not served.manifest.is_regressor
            and not (out.label_index == out.proba.argmax(axis=1)).all()
        ):
            raise RuntimeError(f"{bundle_dir}: label_index is not the most probable class")
    finally:
        served.unload()
    return gap


def _gaps(manifest: BundleManifest, served: npt.NDArray[Any], expected: F64) -> F64:
    """Per row, how far the bundle's answer is from the estimator's (see TOLERANCE)."""
    served64 = np.asarray(served, dtype=np.float64)
    reference = np.asarray(expected, dtype=np.float64).reshape(served64.shape)
    diff = np.abs(served64 - reference)
    if manifest.is_regressor:
        diff = diff / np.maximum(1.0, np.abs(reference))
    out: F64 = diff.max(axis=1)
    return out
