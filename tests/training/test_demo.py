"""The demo bundles: deterministic, faithful to the scikit-learn and pyod models they export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from api.runtime import OnnxModelVersion, load_manifest
from api.runtime.outlier import unit_score
from predlog.commands.train import command as train_command
from training.bundle import BundleSpec, write_bundle
from training.contents import SAMPLE_ROWS, sample_rows
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


def test_sample_rows_are_real_training_rows(trained: Path) -> None:
    x, _, _ = iris_data()
    sample = np.array(load_manifest(trained / "iris" / "1").sample_rows)
    assert sample.shape == x.shape  # iris has 150 rows: all of them (at most 200 are kept)
    np.testing.assert_allclose(sample, x, rtol=1e-6)


def test_sample_rows_of_a_large_training_set_are_a_seeded_subset() -> None:
    x = np.arange(3000, dtype=np.float64).reshape(1000, 3)
    first, again = sample_rows(x), sample_rows(x)
    assert first == again
    assert len(first) == SAMPLE_ROWS
    rows = {tuple(r) for r in x.tolist()}
    assert all(tuple(r) in rows for r in first)


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
        assert raw is not None
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


def test_combined_graph_answers_everything_in_one_call(trained: Path) -> None:
    x, _, _ = iris_data()
    rng = np.random.default_rng(11)
    rows = np.vstack([x, rng.normal(x.mean(0), 3 * x.std(0), size=(200, 4))]).astype(np.float32)
    for spec, classifier, detector in demo_models():
        bundle = trained / spec.name / spec.version
        manifest = load_manifest(bundle)
        assert (manifest.label_output, manifest.score_output, manifest.outlier_output) == (
            "label_index",
            "outlier_score",
            "is_outlier",
        )
        session = ort.InferenceSession(str(bundle / "model.onnx"))
        names = ["probabilities", "label_index", "outlier_score", "is_outlier"]
        assert [o.name for o in session.get_outputs()] == names
        proba, label, score, flag = session.run(names, {"input": rows})
        np.testing.assert_allclose(
            proba, classifier.predict_proba(rows.astype(np.float64)), atol=1e-5
        )
        np.testing.assert_array_equal(label, proba.argmax(axis=1))
        expected = unit_score(
            detector.decision_function(rows.astype(np.float64)), detector.center, detector.slope
        )
        np.testing.assert_allclose(score, expected, rtol=0, atol=1e-7)
        np.testing.assert_array_equal(flag, score >= manifest.outlier_threshold)
        assert flag.any()
        assert not flag.all()
        served = OnnxModelVersion(bundle)
        served.load()
        out = served.predict(rows)
        np.testing.assert_array_equal(out.outlier_score, score)
        np.testing.assert_allclose(served.score_outliers(rows), score, rtol=0, atol=1e-7)


def test_separate_files_bundle_still_loads_and_agrees(trained: Path, tmp_path: Path) -> None:
    x, _, labels = iris_data()
    for spec, classifier, detector in demo_models():
        separate = OnnxModelVersion(
            write_bundle(tmp_path, spec, x, classifier, detector, combined=False)
        )
        manifest = separate.manifest
        assert (manifest.label_output, manifest.score_output, manifest.outlier_output) == (
            None,
            None,
            None,
        )
        session = ort.InferenceSession(str(separate.bundle_dir / "model.onnx"))
        assert {o.name for o in session.get_outputs()} == {"label", "probabilities"}
        combined = OnnxModelVersion(trained / spec.name / spec.version)
        separate.load()
        combined.load()
        drawn = np.random.default_rng(3).normal(x.mean(0), 2 * x.std(0), size=(60, 4))
        for rows in (drawn.astype(np.float32), drawn[:1].astype(np.float32)):
            a, b = separate.predict(rows), combined.predict(rows)
            np.testing.assert_allclose(a.proba, b.proba, atol=1e-6)
            np.testing.assert_array_equal(a.label_index, b.label_index)
            np.testing.assert_allclose(a.outlier_score, b.outlier_score, rtol=0, atol=1e-7)
            np.testing.assert_array_equal(a.is_outlier, b.is_outlier)
    assert labels == ["setosa", "versicolor", "virginica"]


@pytest.mark.parametrize("method", ["largest", "mean", "median"])
@pytest.mark.parametrize("k", [3, 4])
def test_knn_graphs_match_pyod(tmp_path: Path, method: str, k: int) -> None:
    x, _, labels = iris_data()
    _, classifier, _ = demo_models()[0]
    detector = fit_knn(x, contamination=0.1, n_neighbors=k, method=method)
    drawn = np.random.default_rng(9).normal(x.mean(0), 2 * x.std(0), size=(40, 4))
    rows = np.vstack([x[:20], drawn]).astype(np.float32)
    raw = detector.decision_function(rows.astype(np.float64))
    expected = unit_score(raw, detector.center, detector.slope)
    # the raw score alone as a detector.onnx (any detector kind can be shipped as a graph)
    session = ort.InferenceSession(detector.to_onnx())
    (graph_raw,) = session.run(["raw"], {"input": rows})
    # |z|^2 + |t|^2 - 2 z.t loses digits next to a training row (sqrt of ~1e-15): ~1e-8
    np.testing.assert_allclose(graph_raw, raw, rtol=1e-7, atol=1e-7)
    for fmt in ("npz", "onnx"):
        spec = BundleSpec("knn", f"{method}-{k}-{fmt}", "", ["a", "b", "c", "d"], labels)
        bundle = write_bundle(tmp_path, spec, x, classifier, detector, detector_format=fmt)
        served = OnnxModelVersion(bundle)
        assert served.manifest.detector is not None
        assert served.manifest.detector.kind == ("onnx" if fmt == "onnx" else "knn")
        served.load()
        np.testing.assert_allclose(served.predict(rows).outlier_score, expected, atol=1e-7)
        np.testing.assert_allclose(served.score_outliers(rows), expected, atol=1e-7)
        one = served.predict(rows[:1])
        assert one.outlier_score[0] == pytest.approx(expected[0], abs=1e-7)
