"""The demo bundles: deterministic, faithful to the scikit-learn and pyod models they export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from api.runtime import OnnxModelVersion, load_manifest
from api.runtime.outlier import unit_score
from predlog.commands.train import command as train_command
from training.bundle import BundleSpec, write_bundle
from training.demo import demo_models, iris_data, train_demo_bundles
from training.detectors import fit_knn


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    train_demo_bundles(root)
    return root


def test_layout(trained: Path) -> None:
    for version in ("1", "2"):
        bundle = trained / "iris" / version
        assert sorted(p.name for p in bundle.iterdir()) == [
            "detector.npz",
            "labels.json",
            "manifest.json",
            "model.onnx",
        ]
        manifest = load_manifest(bundle)
        assert (manifest.name, manifest.version) == ("iris", version)
        assert manifest.labels == ["setosa", "versicolor", "virginica"]
        assert manifest.input_shape == [None, 4]
        assert json.loads((bundle / "labels.json").read_text()) == {
            "0": "setosa",
            "1": "versicolor",
            "2": "virginica",
        }
        assert {"scikit-learn", "pyod", "skl2onnx"} <= set(manifest.trained_with)
    assert not [p for p in (trained / "iris").iterdir() if p.name.startswith(".")]


def test_same_bytes_every_run(trained: Path, tmp_path: Path) -> None:
    again = train_demo_bundles(tmp_path)
    for bundle in again:
        rel = bundle.relative_to(tmp_path)
        for name in ("manifest.json", "model.onnx", "detector.npz", "labels.json"):
            assert (bundle / name).read_bytes() == (trained / rel / name).read_bytes(), name


def test_feature_stats_describe_the_training_data(trained: Path) -> None:
    x, _, _ = iris_data()
    stats = load_manifest(trained / "iris" / "1").feature_stats
    np.testing.assert_allclose([s.mean for s in stats], x.mean(axis=0))
    np.testing.assert_allclose([s.std for s in stats], x.std(axis=0))
    np.testing.assert_allclose([s.min for s in stats], x.min(axis=0))
    np.testing.assert_allclose([s.max for s in stats], x.max(axis=0))


def test_onnx_matches_sklearn_and_pyod(trained: Path) -> None:
    x, y, _ = iris_data()
    rng = np.random.default_rng(7)
    # iris rows plus rows around and far outside the training range
    rows = np.vstack([x, rng.normal(x.mean(0), 3 * x.std(0), size=(200, 4))])
    rows = rows.astype(np.float32)
    for spec, classifier, detector in demo_models():
        served = OnnxModelVersion(trained / spec.name / spec.version)
        served.load()
        out = served.predict(rows)
        np.testing.assert_allclose(
            out.proba, classifier.predict_proba(rows.astype(np.float64)), atol=1e-5
        )
        assert (out.label_index == classifier.predict(rows.astype(np.float64))).all()
        assert (out.label_index[: len(y)] == y).mean() > 0.95
        raw = served.manifest.detector
        expected_raw = detector.decision_function(rows.astype(np.float64))
        served_raw = served._scorer.raw(rows)  # type: ignore[union-attr]
        np.testing.assert_allclose(served_raw, expected_raw, rtol=1e-6, atol=1e-6)
        assert raw.raw_threshold == pytest.approx(float(detector.pyod_model.threshold_))
        # pyod flags about `contamination` of the training rows; the threshold is its quantile
        flagged = (expected_raw[: len(x)] >= raw.raw_threshold).mean()
        assert flagged == pytest.approx(0.05, abs=0.02)


def test_scores_map_median_and_threshold(trained: Path) -> None:
    for _, _, detector in demo_models():
        scores = np.asarray(detector.pyod_model.decision_scores_, dtype=np.float64)
        mapped = unit_score(scores, detector.center, detector.slope)
        assert np.median(mapped) == pytest.approx(0.4, abs=1e-3)
        assert detector.threshold == pytest.approx(0.7, abs=1e-9)
        assert unit_score(np.array([1e6]), detector.center, detector.slope)[0] == pytest.approx(1)


def test_cli_prints_what_it_wrote(tmp_path: Path) -> None:
    result = CliRunner().invoke(train_command, ["--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"iris:1 -> {tmp_path / 'iris' / '1'}" in result.output
    assert "model.onnx" in result.output
    assert (tmp_path / "iris" / "2" / "manifest.json").is_file()


def test_cli_reads_models_dir_from_env(tmp_path: Path) -> None:
    help_text = CliRunner().invoke(train_command, ["--help"]).output
    assert "PREDLOG_MODELS_DIR" in help_text
    result = CliRunner().invoke(train_command, [], env={"PREDLOG_MODELS_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "iris" / "1" / "manifest.json").is_file()


@pytest.mark.parametrize("method", ["largest", "mean", "median"])
def test_knn_methods_match_pyod(tmp_path: Path, method: str) -> None:
    x, _, labels = iris_data()
    _, classifier, _ = demo_models()[0]
    detector = fit_knn(x, contamination=0.1, n_neighbors=3, method=method)
    spec = BundleSpec("knn", method, "", ["a", "b", "c", "d"], labels)
    served = OnnxModelVersion(write_bundle(tmp_path, spec, x, classifier, detector))
    served.load()
    drawn = np.random.default_rng(5).normal(x.mean(0), 2 * x.std(0), size=(40, 4))
    rows = drawn.astype(np.float32)
    expected = unit_score(
        detector.decision_function(rows.astype(np.float64)), detector.center, detector.slope
    )
    np.testing.assert_allclose(served.score_outliers(rows), expected, atol=1e-7)
    for i in range(5):
        assert served.score_outliers(rows[i : i + 1])[0] == pytest.approx(expected[i], abs=1e-7)
