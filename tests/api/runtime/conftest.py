"""Fixtures for the runtime tests: manifests for fake versions, and a small non-iris bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from api.runtime import BundleManifest, ModelVersion
from api.runtime.model import F32, F64, I64


def make_manifest(name: str = "m", version: str = "1", n_features: int = 2) -> BundleManifest:
    """A valid manifest that points at no real files (for versions that need none)."""
    features = [f"f{i}" for i in range(n_features)]
    return BundleManifest(
        name=name,
        version=version,
        feature_names=features,
        input_shape=[None, n_features],
        labels=["no", "yes"],
        outlier_threshold=0.7,
        feature_stats=[
            {"name": f, "mean": 0.0, "std": 1.0, "min": -3.0, "max": 3.0} for f in features
        ],
        files={"model.onnx": "0" * 64, "labels.json": "0" * 64, "detector.npz": "0" * 64},
        detector={
            "file": "detector.npz",
            "kind": "knn",
            "raw_threshold": 1.0,
            "center": 0.5,
            "slope": 2.0,
        },
    )


class FixedVersion(ModelVersion):
    """Answers every row with the same probabilities and outlier score."""

    def classify(self, batch: F32) -> tuple[F32, I64]:
        proba = np.tile(np.array([[0.25, 0.75]], dtype=np.float32), (len(batch), 1))
        return proba, proba.argmax(axis=1)

    def score_outliers(self, batch: F32) -> F64:
        return np.full(len(batch), 0.5)


def fixed(name: str, version: str, ready: bool = True) -> FixedVersion:
    """A loaded (or not) fixed-output version."""
    mv = FixedVersion(make_manifest(name, version))
    if ready:
        mv.load()
    return mv


@pytest.fixture(scope="session")
def generic_root(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A models root with iris and ``tiny`` (3 features, 2 classes; npz and ONNX detectors)."""
    from sklearn.linear_model import LogisticRegression

    from training.bundle import BundleSpec, write_bundle
    from training.detectors import fit_mcd

    root = tmp_path_factory.mktemp("generic")
    shutil.copytree(models_dir / "iris", root / "iris")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 3)) * [1.0, 2.0, 0.5] + [0.0, 10.0, -1.0]
    x = x.astype(np.float32).astype(np.float64)
    y = (x[:, 0] + 0.1 * x[:, 1] > 1.0).astype(np.int64)
    classifier = LogisticRegression(random_state=0).fit(x, y)
    detector = fit_mcd(x, contamination=0.1, random_state=0)
    spec = BundleSpec("tiny", "1", "test bundle", ["a", "b", "c"], ["low", "high"])
    write_bundle(root, spec, x, classifier, detector, detector_format="npz")
    spec = BundleSpec("tiny", "10", "test bundle", ["a", "b", "c"], ["low", "high"])
    write_bundle(root, spec, x, classifier, detector, detector_format="onnx")
    return root
