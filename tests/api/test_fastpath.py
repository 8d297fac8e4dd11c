"""The prediction routes' fast path answers and logs exactly as the FastAPI routes behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.fastpath import PredlogApi, route_path
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, FailingModelVersion, FixedModelVersion, ForwardReceiver
from tests.support import wait_for

JSON = {"content-type": "application/json", "x-request-id": "req-1"}
ROW = b'{"data": [[9, 3.0, 5.2, 2.3]]}'
ROWS = b'{"data": [[1, 3.0, 5.2, 2.3], [8, 2, 1, 0.5]]}'

# (path, body, headers): answers, every kind of error, and the paths' neighbours
REQUESTS: list[tuple[str, bytes, dict[str, str]]] = [
    ("/predict", ROW, JSON),
    ("/predict", ROWS, JSON),
    ("/predict?version=2", ROW, JSON),
    ("/predict?model=iris&version=1", ROWS, JSON),
    ("/predict/label", ROW, JSON),
    ("/predict/label?version=1", ROWS, JSON),
    ("/predict", b'{"data": [[1, 2]]}', JSON),
    ("/predict", b'{"data": [[1, 2, 3, NaN]]}', JSON),
    ("/predict", b"{", JSON),
    ("/predict", b"", JSON),
    ("/predict", ROW, {"content-type": "text/plain"}),
    ("/predict", ROW, {}),
    ("/predict", b'{"data": [[' + b" " * 5000 + b"1, 2, 3, 4]]}", JSON),
    ("/predict?version=9", ROW, JSON),
    ("/predict/label?model=wine", ROW, JSON),
    ("/predict?version=" + "v" * 200, ROW, JSON),
    ("/predict/", ROW, JSON),
    ("/predict/batch", ROW, JSON),
]


class Entry:
    """The app as served (``fast``), or entered through FastAPI's own ``__call__`` (its
    middleware, router and the routes), which is what the app does without the fast path."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.fast = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast:
            await self.app(scope, receive, send)
        else:
            await FastAPI.__call__(self.app, scope, receive, send)


@pytest.fixture
def fast_settings(settings: ApiSettings) -> ApiSettings:
    return settings.model_copy(update={"max_body_bytes": 4096})


@pytest.fixture
def app_client(fast_settings: ApiSettings) -> Iterator[AppClient]:
    # all weighted traffic to version 1, so that both paths choose alike (2 stays pinnable)
    versions = [FixedModelVersion("iris", "1"), FixedModelVersion("iris", "2")]
    registry = Registry(versions, weights={"1": 1.0})
    app = create_app(fast_settings, registry=registry)
    with AppClient(app, entry=Entry(app)) as client:
        yield client


def comparable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON body and headers, without what differs per request (the job_id)."""
    job_id = response.headers["x-job-id"]
    if not response.headers.get("content-type", "").startswith("application/json"):
        return response.status_code, response.content, dict(response.headers) | {"x-job-id": ""}
    body = response.json()
    if "job_id" in body:
        assert body.pop("job_id") == job_id
    if "error" in body:
        body["error"]["message"] = body["error"]["message"].replace(job_id, "<job>")
    headers = {k: v for k, v in response.headers.items() if k != "x-job-id"}
    return response.status_code, body, headers


def test_the_app_is_a_fastapi_with_two_fast_routes(app_client: AppClient) -> None:
    app = app_client.app
    assert isinstance(app, PredlogApi)
    assert set(app.fast_routes) == {"/predict", "/predict/label"}
    # the routes are still FastAPI's too: documented, and served when entered through FastAPI
    paths = {getattr(route, "path", None) for route in app.router.routes}
    assert {"/predict", "/predict/label"} <= paths


def test_fast_path_answers_and_logs_like_the_routes(
    app_client: AppClient, receiver: ForwardReceiver
) -> None:
    assert isinstance(app_client.entry, Entry)
    fast = [app_client.post(path, content=body, headers=h) for path, body, h in REQUESTS]
    app_client.entry.fast = False
    slow = [app_client.post(path, content=body, headers=h) for path, body, h in REQUESTS]
    statuses = [r.status_code for r in fast]
    assert {200, 400, 404, 413, 415, 422} <= set(statuses)
    for (path, _, _), a, b in zip(REQUESTS, fast, slow, strict=True):
        assert comparable(a) == comparable(b), path
    n = len(REQUESTS)
    wait_for(lambda: len(receiver.records) == 2 * n)
    records = sorted(receiver.records, key=lambda r: r["seq"])
    assert [r["seq"] for r in records] == list(range(1, 2 * n + 1))
    varying = {"job_id", "event_time", "latency_ms", "inference_ms", "seq"}
    for (path, _, _), first, second in zip(REQUESTS, records[:n], records[n:], strict=True):
        assert {k: v for k, v in first.items() if k not in varying} == {
            k: v for k, v in second.items() if k not in varying
        }, path
    sent_ids = [h.get("x-request-id") for _, _, h in REQUESTS]
    assert [r["request_id"] for r in records] == sent_ids + sent_ids
    fast_ids = {r.headers["x-job-id"] for r in fast}
    assert fast_ids == {r["job_id"] for r in records[:n]}


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
