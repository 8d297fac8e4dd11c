"""OnnxModelVersion: the output contract, outlier scores, and any bundle laid out the same way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from api.errors import BundleError, ModelNotReadyError
from api.runtime import OnnxModelVersion, Registry, load_manifest
from api.runtime.bundle import sha256_file


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
    detectors = [mv.manifest.detector for mv in (npz_version, onnx_version)]
    assert [d.kind if d else None for d in detectors] == ["mahalanobis", "onnx"]
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
        "import sys, api.runtime, api.runtime.registry, api.runtime.outlier, api.app;"
        "bad = [m for m in ('sklearn', 'pyod', 'skl2onnx', 'onnx', 'training', 'joblib')"
        " if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _copy_bundle(src: Path, root: Path) -> Path:
    target = root / src.parent.name / src.name
    shutil.copytree(src, target)
    return target


def _rewrite_manifest(bundle: Path, **changes: object) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    data["files"] = {name: sha256_file(bundle / name) for name in data["files"]}
    path.write_text(json.dumps(data))


def test_a_combined_graph_answers_in_one_call(generic_root: Path) -> None:
    mv = OnnxModelVersion(generic_root / "tiny" / "1")
    assert mv.manifest.score_output == "outlier_score"
    mv.load()
    rows = np.array([[0.0, 10.0, -1.0], [100.0, -100.0, 100.0]], dtype=np.float32)
    out = mv.predict(rows)
    assert out.is_outlier.tolist() == [False, True]
    np.testing.assert_allclose(out.outlier_score, mv.score_outliers(rows), atol=1e-9)
    proba, label_index = mv.classify(rows)
    np.testing.assert_array_equal(proba, out.proba)
    np.testing.assert_array_equal(label_index, out.label_index)


def test_a_combined_graph_must_agree_with_its_detector_file(
    generic_root: Path, tmp_path: Path
) -> None:
    bundle = _copy_bundle(generic_root / "tiny" / "1", tmp_path)
    with np.load(bundle / "detector.npz") as npz:
        params = {key: npz[key] for key in npz.files}
    params["location"] = params["location"] + 1.0  # a detector file from another training run
    np.savez(bundle / "detector.npz", **params)
    _rewrite_manifest(bundle)
    with pytest.raises(BundleError, match="differs by"):
        OnnxModelVersion(bundle).load()


def test_outputs_named_in_the_manifest_must_exist(generic_root: Path, tmp_path: Path) -> None:
    bundle = _copy_bundle(generic_root / "tiny" / "1", tmp_path)
    _rewrite_manifest(bundle, score_output="score")
    with pytest.raises(BundleError, match="do not match the manifest"):
        OnnxModelVersion(bundle).load()
    _rewrite_manifest(bundle, score_output=None)  # the flag output without its score
    with pytest.raises(BundleError, match="outlier_output needs score_output"):
        load_manifest(bundle)


def test_a_graph_without_the_embedded_detector_is_served_with_the_file(
    generic_root: Path, tmp_path: Path
) -> None:
    bundle = _copy_bundle(generic_root / "tiny" / "1", tmp_path)
    combined = OnnxModelVersion(generic_root / "tiny" / "1")
    combined.load()
    # the same graph, with the manifest naming only the label: scores come from detector.npz
    _rewrite_manifest(bundle, score_output=None, outlier_output=None)
    partial = OnnxModelVersion(bundle)
    partial.load()
    rows = np.random.default_rng(2).normal(size=(30, 3)).astype(np.float32) * 3
    a, b = partial.predict(rows), combined.predict(rows)
    np.testing.assert_array_equal(a.proba, b.proba)
    np.testing.assert_array_equal(a.label_index, b.label_index)
    np.testing.assert_allclose(a.outlier_score, b.outlier_score, atol=1e-9)
    np.testing.assert_array_equal(a.is_outlier, b.is_outlier)
