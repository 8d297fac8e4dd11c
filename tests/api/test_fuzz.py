"""Schema-driven and free-form fuzzing of request bodies: never a 5xx, always one record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, FixedModelVersion
from tests.support import free_port, wait_for

ENDPOINTS = ["/predict", "/predict/label", "/predict/batch"]
JSON = {"content-type": "application/json"}
SENT: list[int] = []
"""One entry per request the fuzz tests sent through the module's client."""

SCOPED = HealthCheck.function_scoped_fixture  # the app is shared on purpose: one per module
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=5)),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)
rows = st.lists(st.lists(numbers, min_size=0, max_size=6), min_size=0, max_size=12)
bodies = st.one_of(
    st.builds(lambda r: {"data": r}, rows),  # the declared schema's shape, any values
    st.builds(lambda v: {"data": v}, json_values),
    json_values,
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppClient]:
    spool = tmp_path_factory.mktemp("spool")
    app_settings = ApiSettings(forward=f"127.0.0.1:{free_port()}", spool_dir=spool, max_rows=10)
    registry = Registry([FixedModelVersion("iris", "1"), FixedModelVersion("iris", "2")])
    with AppClient(create_app(app_settings, registry=registry)) as client:
        yield client


def _encode(body: object) -> bytes:
    # Python's json writes NaN, Infinity and 1e400-sized floats as a client might
    return json.dumps(body).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[SCOPED])
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_json_bodies_never_get_a_5xx(fuzz_client: AppClient, endpoint: str, body: object) -> None:
    response = fuzz_client.post(endpoint, content=_encode(body), headers=JSON)
    SENT.append(1)
    assert response.status_code < 500, response.text
    assert response.headers["x-job-id"]
    if response.status_code != 200:
        assert response.json()["error"]["status"] == response.status_code


@settings(max_examples=100, deadline=None, suppress_health_check=[SCOPED])
@given(endpoint=st.sampled_from(ENDPOINTS), raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_get_a_5xx(fuzz_client: AppClient, endpoint: str, raw: bytes) -> None:
    response = fuzz_client.post(endpoint, content=raw, headers=JSON)
    SENT.append(1)
    assert 400 <= response.status_code < 500 or response.status_code == 200


def test_every_fuzzed_request_was_recorded(fuzz_client: AppClient) -> None:
    fuzz_client.post("/predict", json={"data": [[1, 2, 3, 4]]})
    SENT.append(1)
    emitter = fuzz_client.app.state.services.emitter
    wait_for(lambda: emitter.pending == 0)
    # nothing listens on the forward port: every request's record is in the spool
    assert emitter.counts == {"sent": 0, "spooled": len(SENT), "failed": 0}


@pytest.fixture(scope="module")
def real_client(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[AppClient]:
    """The app over the real demo bundles (onnxruntime), nothing listening for records."""
    app_settings = ApiSettings(
        forward=f"127.0.0.1:{free_port()}",
        spool_dir=tmp_path_factory.mktemp("spool"),
        models_dir=models_dir,
        max_rows=10,
    )
    with AppClient(create_app(app_settings)) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=[SCOPED])
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    version=st.sampled_from(["", "?version=1", "?version=2", "?version=9"]),
    body=st.builds(lambda r: {"data": r}, rows),
)
def test_the_real_models_never_give_a_5xx(
    real_client: AppClient, endpoint: str, version: str, body: object
) -> None:
    response = real_client.post(endpoint + version, content=_encode(body), headers=JSON)
    assert response.status_code < 500, response.text
    assert response.headers["x-job-id"]
    if response.status_code == 200:
        answer = response.json()
        assert answer["version"] == (version.removeprefix("?version=") or answer["version"])
