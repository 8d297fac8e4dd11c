"""``training.author``: a fitted model (or an ONNX file) and its training data -> a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import RandomForestClassifier

from api.runtime import OnnxModelVersion, Output, load_manifest
from api.runtime.outlier import unit_score
from tests.training.authoring import Authoring, diabetes_regressor, iris_classifier, write_csv
from training.author import AuthorError, bundle_model
from training.detectors import fit_hbos


@pytest.fixture(scope="module")
def clf(tmp_path_factory: pytest.TempPathFactory) -> Authoring:
    return iris_classifier(tmp_path_factory.mktemp("clf"))


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Authoring:
    return diabetes_regressor(tmp_path_factory.mktemp("reg"))


def _served(bundle: Path, x: np.ndarray) -> Output:
    served = OnnxModelVersion(bundle)
    served.load()
    return served.predict(x.astype(np.float32))


def test_a_classifier_pipeline_becomes_a_bundle(clf: Authoring, tmp_path: Path) -> None:
    out = tmp_path / "churn-3"
    authored = bundle_model(out, "churn", "3", clf.train_data, model=clf.model, target="target")
    assert authored.path == out
    manifest = load_manifest(out)  # checksums and labels verified
    assert (manifest.name, manifest.version, manifest.task) == ("churn", "3", "classification")
    assert manifest.feature_names == clf.feature_names
    assert manifest.labels == ["setosa", "versicolor", "virginica"]
    assert manifest.score_output is not None  # the detector is in the graph: one call
    assert set(manifest.files) == {"model.onnx", "detector.npz", "labels.json"}
    accuracy = float((clf.estimator.predict(clf.x) == clf.y).mean())
    assert manifest.training_metrics == {"accuracy": pytest.approx(accuracy)}
    assert len(manifest.sample_rows) == len(clf.x)
    for stats, col in zip(manifest.feature_stats, clf.x.T, strict=True):
        assert stats.bin_edges is not None
        assert stats.bin_counts is not None
        assert (stats.bin_edges[0], stats.bin_edges[-1]) == (col.min(), col.max())
        assert sum(stats.bin_counts) == len(col)
        assert len(stats.bin_counts) == len(stats.bin_edges) - 1 <= 10
    served = _served(out, clf.x)
    np.testing.assert_allclose(served.proba, clf.estimator.predict_proba(clf.x), atol=1e-5)
    assert any("checked: the bundle's probabilities agree" in n for n in authored.notes)
    assert any("training accuracy" in n for n in authored.notes)


def test_a_regressor_becomes_a_bundle_without_labels(reg: Authoring, tmp_path: Path) -> None:
    out = tmp_path / "diabetes-1"
    authored = bundle_model(
        out, "diabetes", "1", reg.train_data, model=reg.model, target="target", detector="hbos"
    )
    manifest = load_manifest(out)
    assert authored.task == manifest.task == "regression"
    assert (manifest.labels, manifest.label_output) == ([], None)
    assert set(manifest.files) == {"model.onnx", "detector.npz"}  # no labels.json
    assert manifest.detector is not None
    assert manifest.detector.kind == "hbos"
    assert manifest.score_output is None  # hbos scores from its npz, beside the graph
    predicted = reg.estimator.predict(reg.x)
    residual = ((reg.y - predicted) ** 2).sum() / ((reg.y - reg.y.mean()) ** 2).sum()
    assert manifest.training_metrics["r2"] == pytest.approx(1 - residual, rel=1e-5)
    assert manifest.training_metrics["mae"] == pytest.approx(
        np.abs(reg.y - predicted).mean(), rel=1e-5
    )
    served = OnnxModelVersion(out)
    served.load()
    result = served.predict(reg.x.astype(np.float32))
    assert result.proba.shape == (len(reg.x), 1)
    assert result.proba.dtype == np.float32
    assert result.label_index.shape == (0,)
    np.testing.assert_allclose(result.proba[:, 0], predicted, rtol=1e-5)


def test_a_regressor_with_a_knn_detector_has_it_in_its_graph(
    reg: Authoring, tmp_path: Path
) -> None:
    out = tmp_path / "diabetes-2"
    bundle_model(out, "diabetes", "2", reg.train_data, model=reg.model, target="target")
    manifest = load_manifest(out)
    assert (manifest.score_output, manifest.label_output) == ("outlier_score", None)
    served = OnnxModelVersion(out)
    served.load()
    result = served.predict(reg.x[:5].astype(np.float32))
    np.testing.assert_allclose(result.outlier_score, served.score_outliers(
        reg.x[:5].astype(np.float32)), atol=1e-6)  # fmt: skip


def _export(
    estimator: object, n: int, path: Path, opset: int = 17, regression: bool = False
) -> Path:
    onx = to_onnx(
        estimator,
        initial_types=[("float_input", FloatTensorType([None, n]))],
        options=None if regression else {"zipmap": False},
        target_opset={"": opset, "ai.onnx.ml": 3},
    )
    path.write_bytes(onx.SerializeToString())
    return path


def test_an_onnx_file_is_bundled_and_said_unchecked(clf: Authoring, tmp_path: Path) -> None:
    graph = _export(clf.estimator, 4, tmp_path / "model.onnx")
    out = tmp_path / "from-onnx"
    authored = bundle_model(
        out, "iris", "7", clf.train_data, onnx_file=graph, target="target",
        labels=["setosa", "versicolor", "virginica"],
    )  # fmt: skip
    manifest = load_manifest(out)
    assert manifest.input_name == "float_input"
    assert manifest.labels == ["setosa", "versicolor", "virginica"]
    assert manifest.training_metrics["accuracy"] > 0.9
    assert any("not checked against an estimator" in n for n in authored.notes)
    result = _served(out, clf.x)
    np.testing.assert_allclose(result.proba, clf.estimator.predict_proba(clf.x), atol=1e-5)
    # without --labels: the names skl2onnx's label output gives, and the output says so
    named = bundle_model(
        tmp_path / "named", "iris", "8", clf.train_data, onnx_file=graph, target="target"
    )
    assert load_manifest(named.path).labels == ["setosa", "versicolor", "virginica"]
    assert any("are the graph's label output" in n for n in named.notes)
    # a graph with probabilities alone: the class indices
    model = onnx.load(graph)
    kept = [o for o in model.graph.output if o.name == "probabilities"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    onnx.save(model, tmp_path / "proba-only.onnx")
    again = bundle_model(
        tmp_path / "indices", "iris", "9", clf.train_data, onnx_file=tmp_path / "proba-only.onnx",
        target="target",
    )  # fmt: skip
    assert load_manifest(again.path).labels == ["0", "1", "2"]
    assert any("class indices" in n for n in again.notes)
    assert again.path.joinpath("manifest.json").exists()


def test_an_onnx_file_of_another_opset_is_served_beside_its_detector(
    reg: Authoring, tmp_path: Path
) -> None:
    graph = _export(reg.estimator, 10, tmp_path / "gbr.onnx", opset=15, regression=True)
    out = tmp_path / "opset15"
    bundle_model(
        out, "diabetes", "15", reg.train_data, model=reg.model, onnx_file=graph, target="target"
    )
    manifest = load_manifest(out)
    assert manifest.task == "regression"
    assert manifest.score_output is None  # not combined: its opset is not the detector's
    result = _served(out, reg.x)
    np.testing.assert_allclose(result.proba[:, 0], reg.estimator.predict(reg.x), rtol=1e-5)


def test_csv_columns_that_disagree_with_the_model_are_refused(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    import joblib  # type: ignore[import-untyped]

    from training.demo import FEATURES, iris_data

    x, y, _ = iris_data()
    frame = pandas.DataFrame(x, columns=FEATURES)
    model = tmp_path / "named.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, y), model)
    swapped = write_csv(tmp_path / "swapped.csv", [FEATURES[1], FEATURES[0], *FEATURES[2:]], x)
    with pytest.raises(AuthorError, match="same names in another order"):
        bundle_model(tmp_path / "b", "iris", "1", swapped, model=model)
    renamed = write_csv(tmp_path / "renamed.csv", ["a", *FEATURES[1:]], x)
    with pytest.raises(AuthorError, match=r"missing \['sepal_length'\], not in the model \['a'\]"):
        bundle_model(tmp_path / "b", "iris", "1", renamed, model=model)
    # the same header works (and the DataFrame-fitted model takes the CSV's rows)
    good = write_csv(tmp_path / "good.csv", FEATURES, x, y)
    bundle_model(tmp_path / "b", "iris", "1", good, model=model, target="target")


def test_a_label_column_left_among_the_features_is_refused(clf: Authoring, tmp_path: Path) -> None:
    x_with_label = np.column_stack([clf.x, np.zeros(len(clf.x))])
    data = write_csv(tmp_path / "wide.csv", [*clf.feature_names, "label"], x_with_label)
    with pytest.raises(AuthorError, match=r"5 feature columns .* the model takes 4 features"):
        bundle_model(tmp_path / "b", "iris", "1", data, model=clf.model)


def test_an_onnx_graph_of_another_width_is_refused(clf: Authoring, tmp_path: Path) -> None:
    graph = _export(clf.estimator, 4, tmp_path / "model.onnx")
    narrow = write_csv(tmp_path / "narrow.csv", clf.feature_names[:3], clf.x[:, :3])
    with pytest.raises(AuthorError, match=r"has shape \[None, 4\], the training data has 3"):
        bundle_model(tmp_path / "b", "iris", "1", narrow, onnx_file=graph)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")
    with pytest.raises(AuthorError, match="cannot open ONNX graph"):
        bundle_model(tmp_path / "b", "iris", "1", clf.train_data, onnx_file=broken, target="target")


def test_an_unknown_detector_is_refused_with_the_choices(clf: Authoring, tmp_path: Path) -> None:
    with pytest.raises(AuthorError, match="'iforest' cannot be served without pyod; choose one "
                       "of knn, mcd, hbos"):  # fmt: skip
        bundle_model(tmp_path / "b", "iris", "1", clf.train_data, model=clf.model,
                     target="target", detector="iforest")  # fmt: skip


def test_answers_that_disagree_name_the_gap_and_the_tolerance(
    clf: Authoring, tmp_path: Path
) -> None:
    # float32 probabilities differ from scikit-learn's float64 ones by ~1e-7: over a zero
    # tolerance, the check must refuse, naming the gap
    with pytest.raises(AuthorError, match=r"differ from the estimator's by up to .* more than "
                       r"the tolerance 0"):  # fmt: skip
        bundle_model(tmp_path / "b", "iris", "1", clf.train_data, model=clf.model,
                     target="target", tolerance=0.0)  # fmt: skip
    assert not (tmp_path / "b").exists()  # nothing written
    # an ONNX file of another model, checked against this one
    x, y = clf.x, clf.y
    other = RandomForestClassifier(n_estimators=3, max_depth=1, random_state=0).fit(x, y)
    graph = _export(other, 4, tmp_path / "other.onnx")
    with pytest.raises(AuthorError, match="probabilities differ from the estimator's by up to"):
        bundle_model(tmp_path / "b", "iris", "1", clf.train_data, model=clf.model,
                     onnx_file=graph, target="target")  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "../etc"}, "name '../etc' is not a safe identifier"),
        ({"version": "3 beta"}, "version '3 beta' is not a safe identifier"),
        ({"target": "species"}, "no target column 'species'"),
        ({"model": None}, "give --model"),
    ],
)
def test_bad_flags_are_refused(
    clf: Authoring, tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"name": "iris", "version": "1", "model": clf.model, **kwargs}
    with pytest.raises(AuthorError, match=message):
        bundle_model(
            tmp_path / "b",
            str(args.pop("name")),
            str(args.pop("version")),
            clf.train_data,
            **args,  # type: ignore[arg-type]
        )


def test_bad_training_data_is_refused(clf: Authoring, tmp_path: Path) -> None:
    text = tmp_path / "text.csv"
    text.write_text("a,b\n1,2\nx,3\n")
    with pytest.raises(AuthorError, match=r"column 'a', row 2: 'x' is not a number"):
        bundle_model(tmp_path / "b", "m", "1", text, model=clf.model)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    with pytest.raises(AuthorError, match="line 3: 1 values, the header has 2"):
        bundle_model(tmp_path / "b", "m", "1", ragged, model=clf.model)


def test_an_out_directory_that_is_not_a_bundle_is_left_alone(
    clf: Authoring, tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(AuthorError, match="exists and is not a bundle directory"):
        bundle_model(out, "iris", "1", clf.train_data, model=clf.model, target="target")
    assert (out / "notes.txt").read_text() == "keep me"


def test_parquet_training_data(reg: Authoring, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    columns = {n: reg.x[:, i] for i, n in enumerate(reg.feature_names)}
    table = pa.table({**columns, "target": reg.y})
    path = tmp_path / "train.parquet"
    parquet.write_table(table, path)
    out = tmp_path / "pq"
    bundle_model(out, "diabetes", "1", path, model=reg.model, target="target", detector="mcd")
    manifest = load_manifest(out)
    assert manifest.feature_names == reg.feature_names
    assert manifest.detector is not None
    assert manifest.detector.kind == "mahalanobis"
    assert "r2" in manifest.training_metrics


def test_hbos_scores_match_pyod_inside_and_outside_the_training_range() -> None:
    from api.runtime.bundle import DetectorSpec
    from api.runtime.outlier import HbosScorer

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3)) * [1.0, 5.0, 0.1]
    detector = fit_hbos(x, contamination=0.1)
    spec = DetectorSpec(file="d.npz", kind="hbos", raw_threshold=detector.raw_threshold,
                        center=detector.center, slope=detector.slope)  # fmt: skip
    scorer = HbosScorer(spec, detector.params, 3)
    edges = detector.params["edges"]
    width = edges[1] - edges[0]
    probe = np.vstack([
        x[:20],
        edges[0] - 0.3 * width,  # just below the range: the first bin
        edges[-1] + 0.3 * (edges[-1] - edges[-2]),  # just above: the last bin
        edges[0] - 3 * width,  # far out: the least density
        edges[-1] + 100.0,
        edges[0],  # on the edges
        edges[-1],
    ]).astype(np.float32)  # fmt: skip
    expected = detector.decision_function(probe.astype(np.float64))
    np.testing.assert_allclose(scorer.raw(probe), expected, rtol=1e-12)
    np.testing.assert_allclose(
        scorer.score(probe[:1]), unit_score(expected[:1], detector.center, detector.slope)
    )


def test_the_bundle_manifest_is_json_a_person_can_read(clf: Authoring, tmp_path: Path) -> None:
    out = tmp_path / "b"
    bundle_model(out, "iris", "1", clf.train_data, model=clf.model, target="target")
    data = json.loads((out / "manifest.json").read_text())
    assert data["task"] == "classification"
    assert data["feature_stats"][0]["bin_counts"]
