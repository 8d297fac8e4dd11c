"""The /v2 routes in process, on fake models: shapes, routing, errors, one record per call."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest

from api.app import create_app
from api.exchange import Reply
from api.oip.handler import OipHandler
from api.records import RequestLog
from api.runtime.model import F32, NO_LABELS
from api.runtime.registry import Registry, Shadow
from api.settings import ApiSettings
from tests.api.conftest import AppFactory
from tests.api.fixtures import AppClient, FixedModelVersion, ForwardReceiver, fixed_version
from tests.support import wait_for

ROW = [6.7, 3.0, 5.2, 2.3]
INFER = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW}]}


def records(receiver: ForwardReceiver, n: int) -> list[dict[str, Any]]:
    wait_for(lambda: len(receiver.records) >= n)
    assert len(receiver.records) == n
    return receiver.records


def test_health_and_metadata(client: AppClient, receiver: ForwardReceiver) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    server = client.get("/v2").json()
    assert server["name"] == "predlog"
    assert server["extensions"] == ["binary_tensor_data"]
    model = client.get("/v2/models/iris").json()
    assert model["versions"] == ["1", "2"]
    assert model["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in model["outputs"]] == [
        "probabilities", "label", "outlier_score", "is_outlier"
    ]  # fmt: skip
    assert model["parameters"]["labels"] == ["setosa", "versicolor", "virginica"]
    assert client.get("/v2/models/iris/versions/2").json()["versions"] == ["2"]
    assert client.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert client.get("/v2/models/iris/versions/1/ready").status_code == 200
    # probes are not logged (as /health); metadata calls are
    logged = records(receiver, 5)
    assert [r["endpoint"] for r in logged] == [
        "/v2", "/v2/models/iris", "/v2/models/iris/versions/2", "/v2/models/iris/ready",
        "/v2/models/iris/versions/1/ready",
    ]  # fmt: skip


def test_infer_is_routed_and_logged_like_predict(
    client: AppClient, receiver: ForwardReceiver
) -> None:
    pinned = client.post("/v2/models/iris/versions/2/infer", json={**INFER, "id": "req-7"})
    assert pinned.status_code == 200, pinned.text
    answer = pinned.json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("iris", "2", "req-7")
    job_id = pinned.headers["x-job-id"]
    assert answer["parameters"] == {"job_id": job_id}
    weighted = client.post("/v2/models/iris/infer", json=INFER)
    by_header = client.post("/v2/models/iris/infer", json=INFER, headers={"x-model-version": "1"})
    assert by_header.json()["model_version"] == "1"
    first, second, third = records(receiver, 3)
    assert first["job_id"] == job_id
    assert first["endpoint"] == "/v2/models/iris/versions/2/infer"
    assert (first["model"], first["version"], first["routing"]) == ("iris", "2", "pinned")
    assert first["request_id"] == "req-7"  # the protocol's id is the caller's request id
    assert first["inputs"] == [ROW]
    assert first["results"][0]["label"] == "virginica"
    assert second["routing"] == "weighted"
    assert second["version"] == weighted.json()["model_version"]
    assert second["request_id"] is None
    assert (third["routing"], third["version"]) == ("pinned", "1")


def test_binary_request_and_response(client: AppClient) -> None:
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [1, 4], "datatype": "FP32",
                 "parameters": {"binary_data_size": 16}}
            ],
            "parameters": {"binary_data_output": True},
        }
    )  # fmt: skip
    response = client.post(
        "/v2/models/iris/infer",
        content=header + struct.pack("<4f", *ROW),
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header)),
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers["inference-header-content-length"])
    answer = orjson.loads(response.content[:length])
    sizes = [o["parameters"]["binary_data_size"] for o in answer["outputs"]]
    assert sizes == [12, 4 + len("virginica"), 8, 1]
    assert len(response.content) == length + sum(sizes)
    assert struct.unpack("<3f", response.content[length : length + 12]) == pytest.approx(
        [0.1, 0.2, 0.7]
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        ("GET", "/v2/models/iris/infer", {}, 405, "method GET is not allowed"),
        ("POST", "/v2/models/nope/infer", {"json": INFER}, 404, "no model named 'nope'"),
        ("POST", "/v2/models/iris/versions/9/infer", {"json": INFER}, 404, "no version '9'"),
        ("GET", "/v2/models/nope", {}, 404, "no model named 'nope'"),
        ("GET", "/v2/models/iris/versions/9", {}, 404, "no version '9'"),
        ("GET", "/v2/models/iris/versions/9/ready", {}, 404, "no version '9'"),
        ("GET", "/v2/nothing/here", {}, 404, "no route for GET /v2/nothing/here"),
        ("GET", "/v2/models/" + "m" * 129, {}, 422, "at most 128 characters"),
        ("POST", "/v2/models/" + "m" * 129 + "/infer", {"json": INFER}, 422, "longer than 128"),
        ("POST", "/v2/models/iris/infer", {"content": b"{"}, 400, "malformed JSON"),
        ("POST", "/v2/models/iris/infer", {"json": {"inputs": []}}, 422, "list of one tensor"),
        (
            "POST",
            "/v2/models/iris/infer",
            {"content": b"{}", "headers": {"content-type": "text/plain"}},
            415,
            "not 'text/plain'",
        ),
        (
            "POST",
            "/v2/models/iris/infer",
            {"json": INFER, "headers": {"inference-header-content-length": "x"}},
            400,
            "must be a number of bytes",
        ),
    ],
)
def test_errors_answer_the_protocols_shape(
    client: AppClient,
    receiver: ForwardReceiver,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    message: str,
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    assert isinstance(body["error"], str)
    assert message in body["error"]
    (record,) = records(receiver, 1)
    assert record["job_id"] == response.headers["x-job-id"]
    assert record["status"] == status
    assert message in record["error"]


def test_a_body_over_the_limit_is_refused(make_client: AppFactory, settings: ApiSettings) -> None:
    client = make_client(app_settings=settings.model_copy(update={"max_body_bytes": 100}))
    response = client.post("/v2/models/iris/infer", content=b"{" * 200)
    assert response.status_code == 413
    assert "exceeds the 100-byte limit" in response.json()["error"]


def test_not_ready(settings: ApiSettings) -> None:
    registry = Registry([fixed_version("iris", "1"), fixed_version("iris", "2")])
    with AppClient(create_app(settings, registry=registry)) as client:
        registry.versions("iris")[1].unload()  # as when it is retired
        assert client.get("/v2/health/ready").status_code == 503
        assert client.get("/v2/models/iris/ready").status_code == 200
        response = client.get("/v2/models/iris/versions/2/ready")
        assert response.status_code == 503
        assert response.json() == {"error": "model iris version 2 is not loaded"}
        pinned = client.post("/v2/models/iris/versions/2/infer", json=INFER)
        assert pinned.status_code == 503


def test_the_openapi_schema_describes_v2(client: AppClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v2/health/live",
        "/v2/health/ready",
        "/v2",
        "/v2/models/{model_name}",
        "/v2/models/{model_name}/versions/{model_version}",
        "/v2/models/{model_name}/ready",
        "/v2/models/{model_name}/versions/{model_version}/ready",
    ):
        assert "get" in paths[path], path
    for path in (
        "/v2/models/{model_name}/infer",
        "/v2/models/{model_name}/versions/{model_version}/infer",
    ):
        content = paths[path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "application/octet-stream"}
        params = {p["name"] for p in paths[path]["post"]["parameters"]}
        assert "Inference-Header-Content-Length" in params


class FixedRegressor(FixedModelVersion):
    """A regressor answering 2.5 for every row (the api's fakes have no regressor)."""

    def __init__(self) -> None:
        super().__init__("diabetes", "1")
        self.manifest = self.manifest.model_copy(update={"task": "regression", "labels": []})

    def classify(self, batch: F32) -> tuple[Any, Any]:
        return np.full((len(batch), 1), 2.5, dtype=np.float32), NO_LABELS


def test_a_regressor_answers_its_prediction(settings: ApiSettings) -> None:
    registry = Registry([fixed_version("iris", "1"), FixedRegressor()])
    with AppClient(create_app(settings, registry=registry)) as client:
        metadata = client.get("/v2/models/diabetes").json()
        assert [o["name"] for o in metadata["outputs"]] == [
            "prediction", "outlier_score", "is_outlier"
        ]  # fmt: skip
        answer = client.post("/v2/models/diabetes/infer", json=INFER).json()
        assert answer["outputs"][0] == {
            "name": "prediction", "datatype": "FP32", "shape": [1, 1], "data": [2.5]
        }  # fmt: skip
        label = client.post(
            "/v2/models/diabetes/infer", json={**INFER, "outputs": [{"name": "label"}]}
        )
        assert label.status_code == 422
        assert "must be one of prediction, outlier_score, is_outlier" in label.json()["error"]


def test_the_handler_without_http(client: AppClient) -> None:
    handler: OipHandler = client.app.state.oip
    log = RequestLog("job-1", "POST", "/v2/models/iris/versions/1/infer")
    reply = handler.infer(log, orjson.dumps(INFER), None, "iris", "1")
    assert isinstance(reply, Reply)  # a local version answers at once (a remote one: awaitable)
    assert reply.status == 200
    assert orjson.loads(reply.body)["id"] == "job-1"
    assert (log.model, log.version, log.routing, log.inputs) == ("iris", "1", "pinned", [ROW])


def test_infer_gets_shadow_copies_like_predict(
    settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    shadow = Shadow(fixed_version("iris", "2"), 1.0)
    registry = Registry([fixed_version("iris", "1")], shadows={"iris": [shadow]})
    with AppClient(create_app(settings, registry=registry)) as client:
        answer = client.post("/v2/models/iris/infer", json=INFER)
        assert answer.json()["model_version"] == "1"
        primary, copy = sorted(records(receiver, 2), key=lambda r: r["routing"] == "shadow")
    assert (primary["version"], primary["routing"]) == ("1", "weighted")
    assert (copy["version"], copy["routing"]) == ("2", "shadow")
    assert copy["shadow_of"] == primary["job_id"] == answer.headers["x-job-id"]
    assert copy["endpoint"] == "/v2/models/iris/infer"
