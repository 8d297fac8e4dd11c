"""Routing by header: ``X-Model-Version`` pins; a configured sticky header keeps a caller on
one version; both are noted in the record."""

from __future__ import annotations

from api.app import create_app
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, ForwardReceiver, fixed_version
from tests.support import wait_for

ROW = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'
JSON = {"content-type": "application/json"}


def registry() -> Registry:
    return Registry([fixed_version("iris", "1"), fixed_version("iris", "2")], seed=3)


def test_x_model_version_pins_like_the_query(
    settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    with AppClient(create_app(settings, registry=registry())) as client:
        for path in ("/predict", "/predict/label", "/predict/batch", "/predict/test"):
            method = client.get if path == "/predict/test" else client.post
            for _ in range(5):
                answer = method(path, content=ROW, headers={**JSON, "x-model-version": "2"})
                assert answer.status_code == 200, answer.text
                assert answer.json()["version"] == "2", path
        query_wins = client.post(
            "/predict?version=1", content=ROW, headers={**JSON, "x-model-version": "2"}
        )
        assert query_wins.json()["version"] == "1"
        unknown = client.post("/predict", content=ROW, headers={**JSON, "x-model-version": "9"})
        assert unknown.status_code == 404
        long = client.post("/predict", content=ROW, headers={**JSON, "x-model-version": "v" * 200})
        assert long.status_code == 422
        assert "X-Model-Version is longer than 128 characters" in long.text
    wait_for(lambda: len(receiver.records) == 23)
    assert {r["routing"] for r in receiver.records[:20]} == {"pinned"}


def test_a_sticky_header_keeps_a_caller_on_one_version(
    settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    sticky = settings.model_copy(update={"sticky_header": "X-Request-Id"})
    with AppClient(create_app(sticky, registry=registry())) as client:
        seen: dict[str, set[str]] = {}
        for i in range(40):
            caller = f"caller-{i % 8}"
            answer = client.post("/predict", content=ROW, headers={**JSON, "x-request-id": caller})
            seen.setdefault(caller, set()).add(answer.json()["version"])
        assert all(len(versions) == 1 for versions in seen.values())
        assert set().union(*seen.values()) == {"1", "2"}  # the callers spread over both
        anonymous = client.post("/predict", content=ROW, headers=JSON)
        assert anonymous.status_code == 200
    wait_for(lambda: len(receiver.records) == 41)
    routings = [r["routing"] for r in sorted(receiver.records, key=lambda r: r["seq"])]
    assert routings == ["sticky"] * 40 + ["weighted"]


def test_the_openapi_schema_documents_the_pin_header(settings: ApiSettings) -> None:
    with AppClient(create_app(settings, registry=registry())) as client:
        paths = client.get("/openapi.json").json()["paths"]
    routes = (("/predict", "post"), ("/predict/label", "post"), ("/predict/batch", "post"))
    for path, method in (*routes, ("/predict/test", "get")):
        headers = [p for p in paths[path][method]["parameters"] if p["in"] == "header"]
        assert [p["name"] for p in headers] == ["X-Model-Version"], path
        assert headers[0]["schema"]["maxLength"] == 128
