"""Fixtures for the runtime tests: a small non-iris bundle (fakes: ``tests.api.fixtures``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest


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
