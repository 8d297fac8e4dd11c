"""Every endpoint through the ASGI app: shapes of the prediction-log pattern, plus ours."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from api.app import create_app
from api.schemas import SAMPLE_ROW
from api.settings import ApiSettings
from tests.api.conftest import AppFactory
from tests.api.fixtures import (
    FIXED_PROBA,
    LABELS,
    AppClient,
    FailingModelVersion,
    FixedModelVersion,
    ForwardReceiver,
)
from tests.support import wait_for

ROW = [6.7, 3.0, 5.2, 2.3]


def test_health(client: AppClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"health": "ok"}


def test_label(client: AppClient) -> None:
    assert client.get("/label").json() == {"0": "setosa", "1": "versicolor", "2": "virginica"}


def test_predict_one_row_has_the_pattern_shape(client: AppClient) -> None:
    response = client.post("/predict", json={"data": [ROW]})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"job_id", "prediction", "is_outlier", "outlier_score", "model", "version"}
    assert body["prediction"] == pytest.approx(FIXED_PROBA)
    assert body["outlier_score"] == pytest.approx(0.67)  # the fake scores first value / 10
    assert body["is_outlier"] is True
    assert body["model"] == "iris"
    assert body["version"] in {"1", "2"}
    assert body["job_id"] == response.headers["x-job-id"]


def test_predict_several_rows_answers_per_row(client: AppClient) -> None:
    body = client.post("/predict", json={"data": [ROW, [1.0, 2.0, 3.0, 4.0]]}).json()
    assert body["prediction"] == [pytest.approx(FIXED_PROBA)] * 2
    assert body["is_outlier"] == [True, False]
    assert body["outlier_score"] == pytest.approx([0.67, 0.1])


def test_predict_label(client: AppClient) -> None:
    body = client.post("/predict/label", json={"data": [ROW]}).json()
    assert body["prediction"] == {"proba": pytest.approx(0.7), "label": "virginica"}
    assert body["is_outlier"] is True
    assert body["job_id"]


def test_predict_label_several_rows(client: AppClient) -> None:
    body = client.post("/predict/label", json={"data": [ROW, ROW]}).json()
    assert [p["label"] for p in body["prediction"]] == ["virginica", "virginica"]


def test_predict_batch(client: AppClient) -> None:
    rows = [[float(i % 10), 1.0, 2.0, 3.0] for i in range(500)]
    body = client.post("/predict/batch", json={"data": rows}).json()
    assert len(body["results"]) == 500
    first = body["results"][3]
    assert first["label"] == LABELS[2]
    assert first["outlier_score"] == pytest.approx(0.3)
    assert first["is_outlier"] is False
    assert set(body) == {"job_id", "model", "version", "results"}


def test_predict_test_uses_the_sample_row(client: AppClient) -> None:
    body = client.get("/predict/test").json()
    assert body["prediction"] == pytest.approx(FIXED_PROBA)
    assert body["outlier_score"] == pytest.approx(0.58)  # the fake's mean of feature 0 is 5.84


def test_pinned_version_answers(client: AppClient) -> None:
    for version in ("1", "2"):
        for _ in range(5):
            body = client.post(f"/predict?version={version}", json={"data": [ROW]}).json()
            assert body["version"] == version


def test_weighted_routing_reaches_both_versions(client: AppClient) -> None:
    versions = {client.post("/predict", json={"data": [ROW]}).json()["version"] for _ in range(40)}
    assert versions == {"1", "2"}


def test_weights_from_settings_split_the_real_bundles(
    models_dir: Path, settings: ApiSettings
) -> None:
    only_two = settings.model_copy(update={"models_dir": models_dir, "weights": {"1": 0, "2": 1}})
    with AppClient(create_app(only_two)) as app_client:
        versions = {
            app_client.post("/predict", json={"data": [ROW]}).json()["version"] for _ in range(20)
        }
        assert versions == {"2"}
        weights = app_client.get("/metadata").json()["models"]["iris"]["weights"]
        assert weights == {"1": 0.0, "2": 1.0}
        # a version without weight still answers when pinned
        assert app_client.post("/predict?version=1", json={"data": [ROW]}).json()["version"] == "1"


def test_metadata(client: AppClient) -> None:
    meta = client.get("/metadata").json()
    for field in (
        "data_type",
        "data_structure",
        "data_sample",
        "prediction_type",
        "prediction_structure",
        "prediction_sample",
        "outlier_type",
        "outlier_structure",
        "outlier_sample",
    ):
        assert field in meta
    assert meta["data_structure"] == "(1,4)"
    assert meta["prediction_sample"] == pytest.approx(FIXED_PROBA)
    assert meta["models"] == {"iris": {"versions": ["1", "2"], "weights": {"1": 0.5, "2": 0.5}}}
    stats = meta["feature_stats"]
    assert [s["name"] for s in stats] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert set(stats[0]) == {"name", "mean", "std", "min", "max"}


def test_two_models(make_client: AppFactory) -> None:
    app_client = make_client(
        [
            FixedModelVersion("iris", "1"),
            FixedModelVersion("wine", "7"),
            FixedModelVersion("iris", "2"),
        ]
    )
    assert app_client.post("/predict?model=wine", json={"data": [ROW]}).json()["version"] == "7"
    assert set(app_client.get("/metadata").json()["models"]) == {"iris", "wine"}
    assert app_client.get("/label?model=wine").status_code == 200


def test_a_failing_model_is_a_500_with_a_job_id_not_a_crash(make_client: AppFactory) -> None:
    app_client = make_client([FailingModelVersion("iris", "1")])
    response = app_client.post("/predict", json={"data": [ROW]})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "InternalError"
    assert response.headers["x-job-id"] in response.json()["error"]["message"]
    assert app_client.get("/health").status_code == 200


def test_openapi_documents_bodies_parameters_and_examples(client: AppClient) -> None:
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["data"]["type"] == "array"
    assert body["examples"]["one row"]["value"] == {"data": [SAMPLE_ROW]}
    assert {p["name"] for p in predict["parameters"]} == {"model", "version", "X-Model-Version"}
    assert {"200", "400", "404", "413", "415", "422"} <= set(predict["responses"])
    for path in (
        "/predict/label",
        "/predict/batch",
        "/predict/test",
        "/metadata",
        "/label",
        "/health",
    ):
        assert path in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_real_bundles_answer(real_client: AppClient) -> None:
    for version in ("1", "2"):
        body = real_client.post(f"/predict/label?version={version}", json={"data": [ROW]}).json()
        assert body["prediction"]["label"] == "virginica"
        assert 0.0 <= body["outlier_score"] <= 1.0
        setosa = real_client.post(
            f"/predict?version={version}", json={"data": [[5.1, 3.5, 1.4, 0.2]]}
        ).json()
        assert max(setosa["prediction"]) == setosa["prediction"][0]
        assert math.isclose(sum(setosa["prediction"]), 1.0, rel_tol=1e-4)
    far = real_client.post("/predict", json={"data": [[60.0, -30.0, 50.0, 40.0]]}).json()
    assert far["is_outlier"] is True
    meta = real_client.get("/metadata").json()
    assert meta["models"]["iris"]["versions"] == ["1", "2"]


def test_create_app_without_settings_reads_the_environment(
    models_dir: Path, tmp_path: Path, receiver: ForwardReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDLOG_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("PREDLOG_FORWARD", f"127.0.0.1:{receiver.port}")
    monkeypatch.setenv("PREDLOG_SPOOL_DIR", str(tmp_path))
    monkeypatch.setenv("PREDLOG_API_WEIGHTS", "1=1,2=0")
    with AppClient(create_app()) as app_client:
        assert app_client.post("/predict", json={"data": [ROW]}).json()["version"] == "1"
    wait_for(lambda: len(receiver.records) == 1)
