"""Bad input gets a 4xx JSON error that says what was wrong, never a 500, and is logged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from starlette.types import Message

from api.app import create_app
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, FixedModelVersion, ForwardReceiver
from tests.support import wait_for

JSON = {"content-type": "application/json"}
OK = b'{"data": [[1, 2, 3, 4]]}'
FORM = {"content-type": "application/x-www-form-urlencoded"}
TEXT = {"content-type": "text/plain"}


def rows(n: int) -> bytes:
    """A body of ``n`` good rows."""
    return b'{"data": [' + b",".join([b"[1,2,3,4]"] * n) + b"]}"


def row(values: bytes) -> bytes:
    """A body of one row written as ``values``."""
    return b'{"data": [[' + values + b"]]}"


# (name, path, body, headers, status, words the message must contain)
CASES: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
    ("too few features", "/predict", row(b"1, 2, 3"), JSON, 422, "data[0] has 3 values"),
    ("too many features", "/predict", row(b"1, 2, 3, 4, 5"), JSON, 422, "expects 4"),
    ("flat row", "/predict", b'{"data": [1, 2, 3, 4]}', JSON, 422, "data[0] must be a list"),
    ("string", "/predict", row(b'1, "2", 3, 4'), JSON, 422, "data[0][1] must be a number"),
    ("boolean", "/predict", row(b"1, 2, true, 4"), JSON, 422, "a boolean"),
    ("null", "/predict", row(b"1, 2, 3, null"), JSON, 422, "null"),
    ("object row", "/predict", b'{"data": [{"a": 1}]}', JSON, 422, "an object"),
    ("NaN", "/predict", row(b"NaN, 2, 3, 4"), JSON, 422, "finite"),
    ("Infinity", "/predict", row(b"1, Infinity, 3, 4"), JSON, 422, "finite"),
    ("-Infinity", "/predict", row(b"1, 2, -Infinity, 4"), JSON, 422, "finite"),
    ("1e400", "/predict", row(b"1e400, 2, 3, 4"), JSON, 422, "finite"),
    ("beyond float32", "/predict", row(b"1e39, 2, 3, 4"), JSON, 422, "float32"),
    ("huge integer", "/predict", row(b"9" * 60 + b", 2, 3, 4"), JSON, 422, "float32"),
    ("no rows", "/predict", b'{"data": []}', JSON, 422, "no rows"),
    ("no data", "/predict", b'{"rows": [[1, 2, 3, 4]]}', JSON, 422, '"data" field'),
    ("not an object", "/predict", b"[[1, 2, 3, 4]]", JSON, 422, '"data" field'),
    ("data not a list", "/predict", b'{"data": 5}', JSON, 422, "list of rows"),
    ("too many rows", "/predict", rows(9), JSON, 422, "at most 8"),
    ("label too many rows", "/predict/label", rows(9), JSON, 422, "at most 8"),
    ("batch too many rows", "/predict/batch", rows(21), JSON, 422, "at most 20"),
    ("malformed", "/predict", b'{"data": [[1, 2, 3, 4]', JSON, 400, "malformed JSON"),
    ("empty body", "/predict", b"", JSON, 400, "empty"),
    ("not UTF-8", "/predict", b'{"data": [["\xff"]]}', JSON, 400, "malformed JSON"),
    ("deep nesting", "/predict", b"[" * 1500 + b"]" * 1500, JSON, 400, "malformed JSON"),
    ("form content type", "/predict", OK, FORM, 415, "application/json"),
    ("text content type", "/predict/label", OK, TEXT, 415, "application/json"),
    ("no content type", "/predict/batch", OK, {}, 415, "none was sent"),
    ("over the size limit", "/predict", row(b" " * 5000 + b"1, 2, 3, 4"), JSON, 413, "limit"),
    ("unknown version", "/predict?version=9", OK, JSON, 404, "no version '9'"),
    ("unknown model", "/predict?model=wine", OK, JSON, 404, "no model named 'wine'"),
    ("unknown model on batch", "/predict/batch?model=wine", OK, JSON, 404, "wine"),
    ("long version", "/predict?version=" + "v" * 200, OK, JSON, 422, "version"),
]


@pytest.fixture
def strict_settings(settings: ApiSettings) -> ApiSettings:
    """Small limits, so that the limit cases stay small."""
    return settings.model_copy(update={"max_body_bytes": 4096, "max_batch_rows": 20})


@pytest.fixture
def strict_client(strict_settings: ApiSettings) -> Iterator[AppClient]:
    registry = Registry([FixedModelVersion("iris", "1"), FixedModelVersion("iris", "2")])
    with AppClient(create_app(strict_settings, registry=registry)) as app_client:
        yield app_client


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_is_a_4xx_that_says_what_was_wrong(
    strict_client: AppClient,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    words: str,
) -> None:
    response = strict_client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status
    assert words in error["message"]
    assert error["type"].endswith("Error")
    assert response.headers["x-job-id"]


def test_body_over_the_limit_without_content_length_is_refused(strict_client: AppClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to check first
        for _ in range(100):
            yield b"[" * 100

    response = strict_client.post("/predict", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


def test_every_bad_request_is_logged_with_its_error(
    strict_settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    registry = Registry([FixedModelVersion("iris", "1")])
    with AppClient(create_app(strict_settings, registry=registry)) as app_client:
        statuses = [
            app_client.post(path, content=body, headers=headers).status_code
            for _, path, body, headers, _, _ in CASES
        ]
    wait_for(lambda: len(receiver.records) == len(CASES))
    records = sorted(receiver.records, key=lambda r: r["seq"])
    assert [r["status"] for r in records] == statuses
    for record, case in zip(records, CASES, strict=True):
        assert case[5] in record["error"]
        assert record["results"] is None
        assert record["endpoint"] == case[1].partition("?")[0]


def test_a_client_that_leaves_mid_body_is_logged_as_499(
    settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    app = create_app(settings, registry=Registry([FixedModelVersion("iris", "1")]))
    sent: list[Message] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"",
        "root_path": "", "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
    }  # fmt: skip

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    anyio.run(scenario)
    assert sent[0]["status"] == 499
    wait_for(lambda: len(receiver.records) == 1)
    assert receiver.records[0]["status"] == 499
    assert "disconnected" in receiver.records[0]["error"]
