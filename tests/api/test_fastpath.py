"""The prediction routes: served only by the fast path, through the one request path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.app import create_app
from api.fastpath import PredlogApi, route_path
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, FailingModelVersion, FixedModelVersion, ForwardReceiver
from tests.support import wait_for

JSON = {"content-type": "application/json", "x-request-id": "req-1"}
ROW = b'{"data": [[9, 3.0, 5.2, 2.3]]}'
ROWS = b'{"data": [[1, 3.0, 5.2, 2.3], [8, 2, 1, 0.5]]}'

# (path, body, headers, status): answers, every kind of error, and the paths' neighbours
REQUESTS: list[tuple[str, bytes, dict[str, str], int]] = [
    ("/predict", ROW, JSON, 200),
    ("/predict", ROWS, JSON, 200),
    ("/predict?version=2", ROW, JSON, 200),
    ("/predict?model=iris&version=1", ROWS, JSON, 200),
    ("/predict/label", ROW, JSON, 200),
    ("/predict/label?version=1", ROWS, JSON, 200),
    ("/predict", b'{"data": [[1, 2]]}', JSON, 422),
    ("/predict", b'{"data": [[1, 2, 3, NaN]]}', JSON, 422),
    ("/predict", b"{", JSON, 400),
    ("/predict", b"", JSON, 400),
    ("/predict", ROW, {"content-type": "text/plain"}, 415),
    ("/predict", ROW, {}, 415),
    ("/predict", b'{"data": [[' + b" " * 5000 + b"1, 2, 3, 4]]}", JSON, 413),
    ("/predict?version=9", ROW, JSON, 404),
    ("/predict/label?model=wine", ROW, JSON, 404),
    ("/predict?version=" + "v" * 200, ROW, JSON, 422),
    ("/predict/", ROW, JSON, 404),
    ("/predict/batch", ROW, JSON, 200),
]


@pytest.fixture
def fast_settings(settings: ApiSettings) -> ApiSettings:
    return settings.model_copy(update={"max_body_bytes": 4096})


@pytest.fixture
def app_client(fast_settings: ApiSettings) -> Iterator[AppClient]:
    versions = [FixedModelVersion("iris", "1"), FixedModelVersion("iris", "2")]
    app = create_app(fast_settings, registry=Registry(versions, weights={"1": 1.0}))
    with AppClient(app) as client:
        yield client


def test_fast_routes_are_described_to_openapi_but_not_mounted(app_client: AppClient) -> None:
    app = app_client.app
    assert isinstance(app, PredlogApi)
    assert set(app.fast_routes) == {"/predict", "/predict/label"}
    mounted = {getattr(route, "path", None) for route in app.router.routes}
    assert not mounted & set(app.fast_routes)  # one path: FastAPI never serves them
    schema = app_client.get("/openapi.json").json()
    assert list(schema["paths"])[:2] == ["/predict", "/predict/label"]
    predict = schema["paths"]["/predict"]
    assert set(predict) == {"post"}
    post = predict["post"]
    assert post["requestBody"]["required"] is True
    assert {p["name"] for p in post["parameters"]} == {"model", "version", "X-Model-Version"}
    assert {"200", "400", "404", "413", "415", "422", "503"} <= set(post["responses"])
    ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.rsplit("/", 1)[-1] in schema["components"]["schemas"]
    assert "/predict/batch" in schema["paths"]  # FastAPI's own routes are still there
    assert app.openapi() is app.openapi()  # built once


def test_every_request_is_answered_and_logged_once(
    app_client: AppClient, receiver: ForwardReceiver
) -> None:
    responses = [app_client.post(path, content=b, headers=h) for path, b, h, _ in REQUESTS]
    assert [r.status_code for r in responses] == [status for *_, status in REQUESTS]
    for (path, _, _, status), response in zip(REQUESTS, responses, strict=True):
        assert response.headers["content-type"] == "application/json", path
        assert int(response.headers["content-length"]) == len(response.content), path
        body = response.json()
        if status == 200:
            assert body["job_id"] == response.headers["x-job-id"], path
        else:
            assert body["error"]["status"] == status, path
            assert body["error"]["message"], path
    n = len(REQUESTS)
    wait_for(lambda: len(receiver.records) == n)
    records = sorted(receiver.records, key=lambda r: r["seq"])
    assert [r["job_id"] for r in records] == [r.headers["x-job-id"] for r in responses]
    for (path, _, headers, status), record, response in zip(
        REQUESTS, records, responses, strict=True
    ):
        assert record["status"] == status, path
        assert record["request_id"] == headers.get("x-request-id"), path
        if status != 200:
            assert record["error"] == response.json()["error"]["message"], path


def test_errors_read_alike_on_the_fast_path_and_through_fastapi(app_client: AppClient) -> None:
    # the same error raised in a fast route and in a FastAPI route: one mapping answers both
    fast = app_client.post("/predict?version=9", content=ROW, headers=JSON)
    routed = app_client.post("/predict/batch?version=9", content=ROW, headers=JSON)
    assert fast.status_code == routed.status_code == 404
    assert fast.json() == routed.json()
    assert set(fast.headers) == set(routed.headers)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_other_methods_on_a_fast_route_are_a_logged_405(
    app_client: AppClient, receiver: ForwardReceiver, method: str
) -> None:
    response = app_client.request(method, "/predict/label", headers=JSON)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["x-job-id"]
    if method != "HEAD":
        error = response.json()["error"]
        assert error == {
            "type": "MethodNotAllowed",
            "message": f"method {method} is not allowed on /predict/label",
            "status": 405,
        }
    wait_for(lambda: len(receiver.records) == 1)
    assert receiver.records[0]["status"] == 405
    assert receiver.records[0]["job_id"] == response.headers["x-job-id"]


def test_a_failing_model_on_the_fast_path_is_a_logged_500(
    fast_settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    app = create_app(fast_settings, registry=Registry([FailingModelVersion("iris", "1")]))
    with AppClient(app) as client:
        response = client.post("/predict/label", content=ROW, headers=JSON)
        assert response.status_code == 500
        assert response.headers["x-job-id"] in response.json()["error"]["message"]
    wait_for(lambda: len(receiver.records) == 1)
    assert receiver.records[0]["status"] == 500
    assert "exploded" in receiver.records[0]["error"]


def test_root_path_is_stripped_like_the_router_does(fast_settings: ApiSettings) -> None:
    scope: dict[str, Any] = {"path": "/api/predict", "root_path": "/api"}
    assert route_path(scope) == "/predict"
    assert route_path({"path": "/apipredict", "root_path": "/api"}) == "/apipredict"
    assert route_path({"path": "/predict", "root_path": ""}) == "/predict"
    app = create_app(fast_settings, registry=Registry([FixedModelVersion("iris", "1")]))
    with AppClient(app, root_path="/api") as client:
        response = client.post("/api/predict", content=ROW, headers=JSON)
        assert response.status_code == 200
        assert response.json()["version"] == "1"


def test_an_app_root_path_reaches_the_fast_routes(fast_settings: ApiSettings) -> None:
    app = create_app(fast_settings, registry=Registry([FixedModelVersion("iris", "1")]))
    app.root_path = "/api"  # as FastAPI(root_path=...) or uvicorn --root-path would set it
    with AppClient(app) as client:
        response = client.post("/api/predict", content=ROW, headers=JSON)
        assert response.status_code == 200
        assert response.json()["version"] == "1"
