"""The demo bundles: two versions of an ``iris`` classifier, from scikit-learn's bundled data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.bundle import BundleSpec, write_bundle
from training.detectors import FittedDetector, fit_knn

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SEED = 0


def iris_data() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], list[str]]:
    """Iris rows (rounded through float32, the dtype they are served in), targets, class names."""
    iris = load_iris()
    x = np.asarray(iris.data, dtype=np.float32).astype(np.float64)
    return x, np.asarray(iris.target, dtype=np.int64), [str(n) for n in iris.target_names]


def demo_models() -> list[tuple[BundleSpec, Any, FittedDetector]]:
    """The fitted demo classifiers and detectors, with what their bundles are called."""
    x, y, labels = iris_data()
    v1 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    # a calibrated SVC exports to ~300 ONNX nodes (5 folds) and costs ~360 us for one row;
    # a forest is one TreeEnsembleClassifier node, ~6 us a row (docs/models.md)
    v2 = RandomForestClassifier(n_estimators=50, max_depth=4, random_state=SEED)
    return [
        (
            BundleSpec(
                "iris",
                "1",
                "Iris species: logistic regression; outliers by pyod KNN (5th neighbour distance).",
                FEATURES,
                labels,
            ),
            v1.fit(x, y),
            fit_knn(x, contamination=0.05, n_neighbors=5, method="largest"),
        ),
        (
            BundleSpec(
                "iris",
                "2",
                "Iris species: random forest (50 trees); outliers by pyod KNN (mean, k=10).",
                FEATURES,
                labels,
            ),
            v2.fit(x, y),
            fit_knn(x, contamination=0.05, n_neighbors=10, method="mean"),
        ),
    ]


def train_demo_bundles(out: Path) -> list[Path]:
    """Train and write ``out/iris/1`` and ``out/iris/2``; same inputs, same files, every run."""
    x, _, _ = iris_data()
    return [write_bundle(out, spec, x, clf, det) for spec, clf, det in demo_models()]
