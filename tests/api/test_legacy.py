"""The call shapes of the systems predlog replaces: the pattern's test calls and fan-out, the
console's /predict/{model}/{version}, /elb-healthcheck; their records and their route order."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from api.fastpath import PredlogApi
from api.legacy import LegacyHandler
from api.records import RequestLog
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import FIXED_PROBA, AppClient, ForwardReceiver, fixed_version
from tests.support import wait_for

ROW = [6.7, 3.0, 5.2, 2.3]
PROBA = pytest.approx(FIXED_PROBA)


def records(receiver: ForwardReceiver, n: int) -> list[dict[str, Any]]:
    wait_for(lambda: len(receiver.records) >= n)
    assert len(receiver.records) == n
    return receiver.records


@pytest.fixture
def two_models(settings: ApiSettings) -> Any:
    registry = Registry(
        [fixed_version("iris", "1"), fixed_version("iris", "2"), fixed_version("wine", "7")],
        seed=3,
    )
    with AppClient(create_app(settings, registry=registry)) as client:
        yield client, registry


def test_the_patterns_test_calls(client: AppClient, receiver: ForwardReceiver) -> None:
    got = client.get("/predict/get/test?version=2")
    assert got.status_code == 200
    assert (got.json()["prediction"], got.json()["version"]) == (PROBA, "2")
    posted = client.post("/predict/post/test", json={"data": [ROW, ROW]})
    assert posted.json()["prediction"] == [PROBA, PROBA]
    first, second = records(receiver, 2)
    assert (first["endpoint"], first["routing"]) == ("/predict/get/test", "pinned")
    assert (second["endpoint"], second["inputs"]) == ("/predict/post/test", [ROW, ROW])


def test_fan_out_asks_every_model_and_logs_each_call(two_models: Any) -> None:
    client, _ = two_models
    response = client.post("/predict/all", json={"data": [ROW]}, headers={"x-request-id": "r-1"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert list(answer) == ["iris", "wine"]
    assert answer["iris"]["prediction"] == PROBA
    assert answer["wine"]["version"] == "7"


def test_fan_out_records(two_models: Any, receiver: ForwardReceiver) -> None:
    client, _ = two_models
    named = client.post("/predict/all", json={"data": [ROW, ROW], "models": ["wine"]})
    assert list(named.json()) == ["wine"]
    assert named.json()["wine"]["prediction"] == [PROBA, PROBA]
    everyone = client.post("/predict/all", json={"data": [ROW]}, headers={"x-request-id": "r-1"})
    logged = records(receiver, 5)
    wine, named_parent = logged[0], logged[1]  # a model's record is emitted before the request's
    assert (wine["model"], wine["endpoint"], wine["status"]) == ("wine", "/predict/all", 200)
    assert wine["request_id"] == named_parent["request_id"] == named.headers["x-job-id"]
    assert named_parent["job_id"] == named.headers["x-job-id"]
    assert named_parent["model"] is None
    calls = logged[2:4]
    assert {r["model"] for r in calls} == {"iris", "wine"}
    assert {r["request_id"] for r in logged[2:]} == {"r-1"}
    assert {r["job_id"] for r in calls} == {a["job_id"] for a in everyone.json().values()}
    assert logged[4]["job_id"] == everyone.headers["x-job-id"]


def test_fan_out_errors(two_models: Any, receiver: ForwardReceiver) -> None:
    client, registry = two_models
    unknown = client.post("/predict/all", json={"data": [ROW], "models": ["iris", "nope"]})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "no model named 'nope' (served: iris, wine)"
    bad = client.post("/predict/all", json={"data": [ROW], "models": "iris"})
    assert bad.status_code == 422
    assert '"models" must be a list' in bad.json()["error"]["message"]
    short = client.post("/predict/all", json={"data": [[1.0, 2.0]]})
    assert short.status_code == 422  # no model could answer: the first one's error
    assert "expects 4 features" in short.json()["error"]["message"]
    registry.versions("wine")[0].unload()
    partial = client.post("/predict/all", json={"data": [ROW]})
    assert partial.status_code == 200
    assert partial.json()["wine"]["error"]["status"] == 503
    assert partial.json()["iris"]["prediction"] == PROBA
    logged = records(receiver, 2 + 3 + 3)  # 404, 422, 2 calls + 422, 2 calls + 200
    statuses = sorted((r["model"] or "-", r["status"]) for r in logged[-3:])
    assert statuses == [("-", 200), ("iris", 200), ("wine", 503)]


def test_the_console_call(client: AppClient, receiver: ForwardReceiver) -> None:
    dense = client.post(
        "/predict/iris/2",
        json={"type": "dense", "feature_num": 4, "data": {"insts": [ROW, [1.0, 2, 3, 4]]}},
    )
    assert dense.status_code == 200
    answer = dense.json()
    assert (answer["message"], answer["code"], answer["version"]) == ("SUCCESS", 0, "2")
    assert [i["label"] for i in answer["data"]["insts"]] == ["virginica", "virginica"]
    libsvm = client.post(
        "/predict/iris/1",
        json={"type": "libsvm", "feature_num": 4, "data": {"insts": ["0 1:6.7 3:5.2 4:2.3"]}},
    )
    assert libsvm.json()["code"] == 0
    first, second = records(receiver, 2)
    assert (first["endpoint"], first["routing"], first["version"]) == (
        "/predict/iris/2",
        "pinned",
        "2",
    )
    assert second["inputs"] == [[6.7, 0.0, 5.2, 2.3]]  # a feature left out is 0


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/predict/iris/9", {"data": {"insts": [ROW]}}, 404, "no version '9'"),
        ("/predict/nope/1", {"data": {"insts": [ROW]}}, 404, "no model named 'nope'"),
        ("/predict/iris/1", {"type": "csv", "data": {"insts": [ROW]}}, 422, '"type" must be'),
        ("/predict/iris/1", {"feature_num": 3, "data": {"insts": [ROW]}}, 422, "takes 4 features"),
        ("/predict/iris/1", {"data": {"insts": []}}, 422, '"data.insts" must be a list of 1 to 8'),
        ("/predict/iris/1", {"data": {"insts": [[1, 2, 3]]}}, 422, "data[0] has 3 values"),
        (
            "/predict/iris/1",
            {"type": "libsvm", "data": {"insts": ["1:a"]}},
            422,
            "'1:a' is not index:value",
        ),
        (
            "/predict/iris/1",
            {"type": "libsvm", "data": {"insts": ["5:1.0"]}},
            422,
            "outside 1..4",
        ),
        (
            "/predict/iris/1",
            {"type": "libsvm", "data": {"insts": ["1:1e39"]}},
            422,
            "not a finite float32",
        ),
        ("/predict/iris/1", {"type": "libsvm", "data": {"insts": [ROW]}}, 422, "libsvm string"),
    ],
)
def test_console_errors_are_non_zero_codes(
    client: AppClient, receiver: ForwardReceiver, path: str, body: Any, status: int, message: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status
    answer = response.json()
    assert answer["code"] == status
    assert message in answer["message"]
    assert answer["data"] is None
    (record,) = records(receiver, 1)
    assert (record["status"], record["job_id"]) == (status, response.headers["x-job-id"])


def test_route_order(client: AppClient) -> None:
    assert client.post("/predict/batch", json={"data": [ROW]}).json()["results"]
    assert client.post("/predict/label", json={"data": [ROW]}).json()["prediction"]["label"]
    assert client.get("/predict/test").json()["prediction"] == PROBA
    assert client.post("/predict/post/test", json={"data": [ROW]}).json()["prediction"]
    assert client.get("/predict/iris/1").json()["code"] == 405
    # the fast path still takes its two exact paths only
    app = client.app
    assert isinstance(app, PredlogApi)
    assert set(app.fast_routes) == {"/predict", "/predict/label"}


def test_elb_healthcheck(two_models: Any, receiver: ForwardReceiver) -> None:
    client, registry = two_models
    client.post("/predict?model=wine", json={"data": [ROW]})
    health = client.get("/elb-healthcheck")
    assert health.status_code == 200
    answer = health.json()
    assert answer["status"] == "ok"
    assert answer["uptime_seconds"] >= 0
    assert answer["capacity"]["models"] == {"iris": ["1", "2"], "wine": ["7"]}
    assert answer["capacity"]["workers"] == len(answer["workers"]) == 1
    assert answer["workers"][0]["requests"] == {"wine/7": 1}
    registry.versions("iris")[0].unload()
    down = client.get("/elb-healthcheck")
    assert (down.status_code, down.json()["status"]) == (503, "unavailable")
    (record,) = records(receiver, 1)  # the health checks are not logged
    assert record["endpoint"] == "/predict"


def test_the_handler_without_http(two_models: Any) -> None:
    client, _ = two_models
    handler: LegacyHandler = client.app.state.legacy
    log = RequestLog("job-1", "POST", "/predict/all")
    answer = handler.predict_all(log, b'{"data": [[1, 2, 3, 4]], "models": ["iris"]}')
    assert answer["iris"]["prediction"] == PROBA
    assert log.request_id == "job-1"


def test_openapi_lists_the_legacy_routes(client: AppClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "get" in paths["/predict/get/test"]
    for path in ("/predict/post/test", "/predict/all", "/predict/{model}/{version}"):
        assert "requestBody" in paths[path]["post"], path
    assert "get" in paths["/elb-healthcheck"]
