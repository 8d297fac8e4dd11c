"""Fuzzed infer requests, JSON and binary: never a 5xx, always the protocol's error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, FixedModelVersion
from tests.support import free_port

SCOPED = HealthCheck.function_scoped_fixture  # the app is shared on purpose: one per module
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
)
values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=5)),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=16,
)
shapes = st.one_of(st.lists(st.integers(-2, 10), max_size=3), values)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input", "x", 3]),
        "shape": shapes,
        "datatype": st.sampled_from(["FP32", "FP64", "INT8", None]),
    },
    optional={
        "data": st.one_of(st.lists(numbers, max_size=12), values),
        "parameters": st.one_of(
            st.fixed_dictionaries({"binary_data_size": st.integers(-4, 64)}), values
        ),
    },
)
requests = st.fixed_dictionaries(
    {"inputs": st.one_of(st.lists(tensors, max_size=2), values)},
    optional={
        "id": values,
        "outputs": st.one_of(
            st.lists(st.fixed_dictionaries({"name": st.sampled_from(["label", "nope"])})),
            values,
        ),
        "parameters": st.one_of(st.fixed_dictionaries({"binary_data_output": values}), values),
    },
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppClient]:
    app_settings = ApiSettings(
        forward=f"127.0.0.1:{free_port()}", spool_dir=tmp_path_factory.mktemp("spool"), max_rows=8
    )
    registry = Registry([FixedModelVersion("iris", "1")])
    with AppClient(create_app(app_settings, registry=registry)) as client:
        yield client


def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["x-job-id"]
    if response.status_code != 200:
        assert isinstance(response.json()["error"], str)


@settings(max_examples=250, deadline=None, suppress_health_check=[SCOPED])
@given(body=requests, tail=st.binary(max_size=40), split=st.booleans())
def test_infer_requests_never_get_a_5xx(
    fuzz_client: AppClient, body: dict[str, Any], tail: bytes, split: bool
) -> None:
    header = json.dumps(body).encode()  # Python's json writes NaN and Infinity as a client might
    headers = {"content-type": "application/octet-stream"}
    if split:
        headers["inference-header-content-length"] = str(len(header))
    content = header + tail if split else header
    check(fuzz_client.post("/v2/models/iris/infer", content=content, headers=headers))


@settings(max_examples=100, deadline=None, suppress_health_check=[SCOPED])
@given(raw=st.binary(max_size=200), length=st.one_of(st.none(), st.integers(0, 220)))
def test_arbitrary_bytes_never_get_a_5xx(
    fuzz_client: AppClient, raw: bytes, length: int | None
) -> None:
    headers = {} if length is None else {"inference-header-content-length": str(length)}
    check(fuzz_client.post("/v2/models/iris/versions/1/infer", content=raw, headers=headers))
