"""Bundles that ``predlog bundle`` wrote, served: a classifier Pipeline and a regressor.

Loaded with the api's runtime (``OnnxModelVersion``) and served through ``create_app``; the
records they leave validate against ``sidecar.record`` (a regressor's rows have no label).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from api.app import create_app
from api.runtime import OnnxModelVersion
from api.runtime.registry import Registry
from api.settings import ApiSettings
from sidecar.record import PredictionRecord, validate_record
from tests.api.fixtures import AppClient, ForwardReceiver
from tests.support import wait_for
from tests.training.authoring import Authoring, diabetes_regressor, iris_classifier
from training.author import bundle_model


@pytest.fixture(scope="module")
def authored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Authoring]]:
    """``churn/3`` (StandardScaler + LogisticRegression) and ``diabetes/1`` (gradient boosting,
    an hbos detector), as ``predlog bundle`` writes them."""
    root = tmp_path_factory.mktemp("authored")
    clf, reg = iris_classifier(root), diabetes_regressor(root)
    churn = bundle_model(
        root / "churn-3", "churn", "3", clf.train_data, model=clf.model, target="target"
    )
    diabetes = bundle_model(
        root / "diabetes-1",
        "diabetes",
        "1",
        reg.train_data,
        model=reg.model,
        target="target",
        detector="hbos",
    )
    return {"churn": (churn.path, clf), "diabetes": (diabetes.path, reg)}


@pytest.fixture
def app(authored: dict[str, tuple[Path, Authoring]], settings: ApiSettings) -> AppClient:
    versions = [OnnxModelVersion(path) for path, _ in authored.values()]
    return AppClient(create_app(settings, registry=Registry(versions, seed=1)))


def test_the_runtime_answers_a_regressors_values(
    authored: dict[str, tuple[Path, Authoring]],
) -> None:
    path, reg = authored["diabetes"]
    served = OnnxModelVersion(path)
    served.load()
    rows = reg.x[:7].astype(np.float32)
    out = served.predict(rows)
    assert out.proba.shape == (7, 1)
    assert out.label_index.shape == (0,)
    np.testing.assert_allclose(out.proba[:, 0], reg.estimator.predict(reg.x[:7]), rtol=1e-5)
    values, labels = served.classify(rows)
    np.testing.assert_array_equal(values, out.proba)
    assert labels.shape == (0,)
    assert out.outlier_score.shape == (7,)
    assert (out.is_outlier == (out.outlier_score >= served.manifest.outlier_threshold)).all()


def test_both_kinds_are_served_and_logged(
    app: AppClient,
    authored: dict[str, tuple[Path, Authoring]],
    receiver: ForwardReceiver,
) -> None:
    _, clf = authored["churn"]
    _, reg = authored["diabetes"]
    row, rows = reg.x[0].tolist(), reg.x[:3].tolist()
    with app:
        one = app.post("/predict?model=diabetes", json={"data": [row]})
        several = app.post("/predict?model=diabetes", json={"data": rows})
        batch = app.post("/predict/batch?model=diabetes", json={"data": rows})
        label = app.post("/predict/label?model=diabetes", json={"data": [row]})
        churn = app.post("/predict?model=churn", json={"data": [clf.x[0].tolist()]})
        churn_label = app.post("/predict/label?model=churn", json={"data": [clf.x[0].tolist()]})
        metadata = app.get("/metadata")
    expected = reg.estimator.predict(reg.x[:3])
    assert one.status_code == 200
    body = one.json()
    assert (body["model"], body["version"]) == ("diabetes", "1")
    assert body["prediction"] == [pytest.approx(expected[0], rel=1e-5)]
    assert isinstance(body["is_outlier"], bool)
    assert 0.0 <= body["outlier_score"] <= 1.0
    assert [p[0] for p in several.json()["prediction"]] == pytest.approx(expected, rel=1e-5)
    results = batch.json()["results"]
    assert [r["prediction"] for r in results] == [[pytest.approx(v, rel=1e-5)] for v in expected]
    assert all("label" not in r for r in results)
    assert label.status_code == 422
    assert "model diabetes version 1 is a regressor: no labels" in label.json()["error"]["message"]
    assert churn.json()["prediction"] == pytest.approx(
        clf.estimator.predict_proba(clf.x[:1])[0], abs=1e-5
    )
    assert churn_label.json()["prediction"]["label"] == "setosa"
    assert metadata.status_code == 200
    assert metadata.json()["default_model"] == "churn"

    wait_for(lambda: len(receiver.records) >= 6)
    records = sorted((validate_record(r) for r in receiver.records), key=lambda r: r.seq)
    by_endpoint: dict[tuple[str, str | None], PredictionRecord] = {}
    for record in records:  # the first of each
        by_endpoint.setdefault((record.endpoint, record.model), record)
    regression = by_endpoint[("/predict", "diabetes")]
    assert regression.results is not None
    assert [r.label for r in regression.results] == [None]
    assert regression.results[0].prediction == [pytest.approx(expected[0], rel=1e-5)]
    refused = by_endpoint[("/predict/label", "diabetes")]
    assert (refused.status, refused.results) == (422, None)
    classified = by_endpoint[("/predict", "churn")]
    assert classified.results is not None
    assert classified.results[0].label == "setosa"


def test_a_regressors_metadata_and_labels(
    authored: dict[str, tuple[Path, Authoring]], settings: ApiSettings
) -> None:
    path, reg = authored["diabetes"]
    registry = Registry([OnnxModelVersion(path)], seed=1)
    with AppClient(create_app(settings, registry=registry)) as app:
        metadata = app.get("/metadata").json()
        labels = app.get("/label")
        test = app.get("/predict/test")
    assert metadata["default_model"] == "diabetes"
    assert metadata["prediction_structure"] == "(1,1)"
    assert metadata["labels"] == {}
    assert len(metadata["prediction_sample"]) == 1
    assert metadata["feature_names"] == reg.feature_names
    assert (labels.status_code, labels.json()) == (200, {})
    assert test.status_code == 200
    assert len(test.json()["prediction"]) == 1
