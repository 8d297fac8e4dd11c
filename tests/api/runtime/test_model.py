"""OnnxModelVersion: the output contract, outlier scores, and any bundle laid out the same way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from api.errors import ModelNotReadyError
from api.runtime import OnnxModelVersion, Registry


@pytest.fixture(scope="module")
def iris_rows() -> np.ndarray:
    return np.asarray(load_iris().data, dtype=np.float32)


@pytest.fixture(scope="module", params=["1", "2"])
def version(request: pytest.FixtureRequest, models_dir: Path) -> OnnxModelVersion:
    mv = OnnxModelVersion(models_dir / "iris" / request.param)
    mv.load()
    return mv


def test_output_contract(version: OnnxModelVersion, iris_rows: np.ndarray) -> None:
    out = version.predict(iris_rows)
    n = len(iris_rows)
    assert out.proba.dtype == np.float32
    assert out.proba.shape == (n, 3)
    assert out.label_index.dtype == np.int64
    assert out.label_index.shape == (n,)
    assert out.outlier_score.dtype == np.float64
    assert out.outlier_score.shape == (n,)
    assert out.is_outlier.dtype == np.bool_
    assert out.is_outlier.shape == (n,)
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, atol=1e-5)
    assert (out.label_index == out.proba.argmax(axis=1)).all()
    assert (out.label_index == load_iris().target).mean() > 0.95
    assert (out.is_outlier == (out.outlier_score >= version.manifest.outlier_threshold)).all()


def test_outlier_scores(version: OnnxModelVersion, iris_rows: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    wild = rng.normal(0, 100, size=(500, 4)).astype(np.float32)
    scores = version.score_outliers(np.vstack([iris_rows, wild]))
    assert ((scores >= 0) & (scores <= 1)).all()
    normal = version.predict(iris_rows)
    # the threshold is pyod's contamination quantile (5%); training rows are mostly normal
    assert normal.is_outlier.mean() < 0.1
    assert 0.25 < np.median(normal.outlier_score) < 0.5
    far = version.predict(np.array([[20.0, 0.0, 20.0, 10.0]], dtype=np.float32))
    assert far.is_outlier[0]
    assert far.outlier_score[0] > 0.99
    example = version.predict(np.array([[6.7, 3.0, 5.2, 2.3]], dtype=np.float32))
    assert not example.is_outlier[0]
    assert example.label_index[0] == 2


def test_batches_agree_with_single_rows(version: OnnxModelVersion, iris_rows: np.ndarray) -> None:
    whole = version.predict(iris_rows[:20])
    for i in range(20):
        one = version.predict(iris_rows[i : i + 1])
        np.testing.assert_allclose(one.proba[0], whole.proba[i], atol=1e-6)
        assert one.outlier_score[0] == pytest.approx(whole.outlier_score[i], abs=1e-7)


def test_accepts_non_contiguous_and_float64(version: OnnxModelVersion) -> None:
    rows = np.asarray(load_iris().data[:10])
    expected = version.predict(rows.astype(np.float32))
    wide = np.zeros((10, 8))
    wide[:, ::2] = rows
    for batch in (rows, wide[:, ::2], np.asfortranarray(rows.astype(np.float32))):
        out = version.predict(batch)  # type: ignore[arg-type]
        np.testing.assert_allclose(out.proba, expected.proba, atol=1e-6)


def test_unload(models_dir: Path) -> None:
    mv = OnnxModelVersion(models_dir / "iris" / "1")
    assert not mv.ready
    with pytest.raises(ModelNotReadyError):
        mv.classify(np.zeros((1, 4), dtype=np.float32))
    mv.load()
    assert mv.ready
    mv.unload()
    assert not mv.ready
    with pytest.raises(ModelNotReadyError):
        mv.score_outliers(np.zeros((1, 4), dtype=np.float32))


def test_any_bundle_loads(generic_root: Path) -> None:
    registry = Registry.from_directory(generic_root)
    registry.load()
    assert registry.names() == ["iris", "tiny"]
    assert registry.default_name == "iris"
    assert [mv.version for mv in registry.versions("tiny")] == ["1", "10"]
    rng = np.random.default_rng(1)
    rows = (rng.normal(size=(50, 3)) * [1.0, 2.0, 0.5] + [0.0, 10.0, -1.0]).astype(np.float32)
    far = np.array([[100.0, -100.0, 100.0]], dtype=np.float32)
    npz_version, onnx_version = registry.versions("tiny")
    assert npz_version.manifest.detector.kind == "mahalanobis"
    assert onnx_version.manifest.detector.kind == "onnx"
    outs = [mv.predict(np.vstack([rows, far])) for mv in (npz_version, onnx_version)]
    for out in outs:
        assert out.proba.shape == (51, 2)
        assert set(out.label_index.tolist()) == {0, 1}
        assert out.is_outlier[-1]
        assert out.is_outlier[:-1].mean() < 0.2
    for mv, out in zip((npz_version, onnx_version), outs, strict=True):
        for i in (0, 50):
            one = mv.predict(np.vstack([rows, far])[i : i + 1])
            assert one.outlier_score[0] == pytest.approx(out.outlier_score[i], abs=1e-7)
    # the same detector served from npz parameters and from an ONNX graph
    np.testing.assert_allclose(outs[0].outlier_score, outs[1].outlier_score, atol=1e-9)
    np.testing.assert_array_equal(outs[0].proba, outs[1].proba)
    registry.unload()
    assert not registry.ready


def test_runtime_imports_neither_sklearn_nor_pyod() -> None:
    code = (
        "import sys, api.runtime, api.runtime.registry, api.runtime.outlier;"
        "bad = [m for m in ('sklearn', 'pyod', 'skl2onnx', 'training') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
