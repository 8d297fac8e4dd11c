"""Real, independent Open Inference Protocol clients against a real running api.

``tritonclient[http]`` (NVIDIA's Triton client: JSON and the binary tensor extension) and
``open-inference-openapi`` (the protocol working group's generated REST client) talk to a
``predlog api`` process on the demo bundles; every call leaves its record with the receiver.
The KServe SDK's ``InferenceRESTClient`` runs from ``.venv-upstream`` (``make install``
builds it: KServe pins ``psutil<6`` and ``pandas<3`` against the project's), through
``kserve_client.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from open_inference.openapi import (
    InferenceRequest,
    MetadataTensor,
    RequestInput,
    RequestOutput,
)
from open_inference.openapi.client import OpenInferenceClient
from open_inference.openapi.core.api_error import ApiError
from tritonclient.utils import InferenceServerException

from tests.api.fixtures import ForwardReceiver
from tests.support import free_port, port_open, wait_for

ROWS = np.array([[6.7, 3.0, 5.2, 2.3], [5.1, 3.5, 1.4, 0.2]], dtype=np.float32)


@dataclass
class LiveApi:
    url: str
    """host:port"""
    receiver: ForwardReceiver

    def record(self, **fields: Any) -> dict[str, Any]:
        """The one record with these field values (waited for)."""

        def matching() -> list[dict[str, Any]]:
            return [
                r for r in self.receiver.records if all(r.get(k) == v for k, v in fields.items())
            ]

        wait_for(lambda: len(matching()) > 0)
        (found,) = matching()
        return found


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[LiveApi]:
    port = free_port()
    with ForwardReceiver() as receiver:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "predlog", "api", "--port", str(port), "--workers", "1",
                "--models", str(models_dir), "--forward", f"127.0.0.1:{receiver.port}",
                "--spool", str(tmp_path_factory.mktemp("spool")), "--log-level", "warning",
            ]
        )  # fmt: skip
        try:
            wait_for(lambda: port_open(port), timeout=90)
            yield LiveApi(f"127.0.0.1:{port}", receiver)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=40)


@pytest.fixture
def client(live_api: LiveApi) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(live_api.url) as triton_client:
        yield triton_client


def test_triton_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "2")
    assert not client.is_model_ready("iris", "9")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata("iris", "1")
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_triton_infer(
    client: triton.InferenceServerClient, live_api: LiveApi, binary: bool, datatype: str
) -> None:
    tensor = triton.InferInput("input", list(ROWS.shape), datatype)
    tensor.set_data_from_numpy(ROWS.astype(np.float32 if datatype == "FP32" else np.float64),
                               binary_data=binary)  # fmt: skip
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary)
        for name in ("probabilities", "label", "outlier_score", "is_outlier")
    ]
    request_id = f"t-{datatype}-{binary}"
    result = client.infer(
        "iris", [tensor], model_version="1", outputs=outputs, request_id=request_id
    )
    proba = result.as_numpy("probabilities")
    assert proba.shape == (2, 3)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    assert labels == ["virginica", "setosa"]
    assert result.as_numpy("outlier_score").dtype == np.float64
    assert result.as_numpy("is_outlier").dtype == np.bool_
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "iris", "1", request_id
    )  # fmt: skip
    record = live_api.record(job_id=response["parameters"]["job_id"])
    assert (record["endpoint"], record["status"]) == ("/v2/models/iris/versions/1/infer", 200)
    assert (record["version"], record["routing"], record["request_id"]) == (
        "1", "pinned", request_id
    )  # fmt: skip
    assert np.allclose(record["inputs"], ROWS)
    assert [r["label"] for r in record["results"]] == ["virginica", "setosa"]
    assert [r["is_outlier"] for r in record["results"]] == result.as_numpy("is_outlier").tolist()


def test_triton_default_outputs_are_binary(
    client: triton.InferenceServerClient, live_api: LiveApi
) -> None:
    tensor = triton.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(ROWS[:1])
    result = client.infer("iris", [tensor])  # no outputs named: binary_data_output
    assert result.as_numpy("probabilities").shape == (1, 3)
    assert result.get_response()["model_version"] in {"1", "2"}


def test_triton_errors(client: triton.InferenceServerClient, live_api: LiveApi) -> None:
    tensor = triton.InferInput("input", [1, 3], "FP32")
    tensor.set_data_from_numpy(ROWS[:1, :3])
    with pytest.raises(InferenceServerException) as caught:
        client.infer("iris", [tensor], request_id="t-bad")
    assert caught.value.status() == "422"
    assert "the model expects 4 features" in caught.value.message()
    with pytest.raises(InferenceServerException) as missing:
        client.get_model_metadata("nope")
    assert missing.value.status() == "404"
    assert "no model named 'nope'" in missing.value.message()
    record = live_api.record(request_id="t-bad")
    assert record["status"] == 422
    assert "expects 4 features" in record["error"]


def test_open_inference_client(live_api: LiveApi) -> None:
    oip = OpenInferenceClient(base_url=f"http://{live_api.url}")
    oip.check_server_liveness()
    oip.check_server_readiness()
    oip.check_model_readiness("iris")
    oip.check_model_version_readiness("iris", "2")
    assert oip.read_server_metadata().name == "predlog"
    assert oip.read_model_metadata("iris").versions == ["1", "2"]
    assert oip.read_model_version_metadata("iris", "2").inputs == [
        MetadataTensor(name="input", datatype="FP32", shape=[-1, 4])
    ]
    tensor = RequestInput(
        name="input", shape=[2, 4], datatype="FP32", parameters=None, data=ROWS.tolist()
    )
    request = InferenceRequest(
        id="o-1",
        parameters=None,
        inputs=[tensor],
        outputs=[
            RequestOutput(name="label", parameters=None),
            RequestOutput(name="outlier_score", parameters=None),
        ],
    )
    answer = oip.model_version_infer("iris", "2", request=request)
    assert (answer.model_version, answer.id) == ("2", "o-1")
    assert [o.name for o in answer.outputs] == ["label", "outlier_score"]
    assert answer.outputs[0].data.__root__ == ["virginica", "setosa"]
    record = live_api.record(request_id="o-1", status=200)
    assert (record["version"], record["routing"]) == ("2", "pinned")
    with pytest.raises(ApiError) as caught:
        oip.model_version_infer("iris", "9", request=request)
    assert caught.value.status_code == 404
    assert caught.value.body == {"error": "model 'iris' has no version '9' (served: 1, 2)"}


KSERVE_PYTHON = Path(".venv-upstream/bin/python")
KSERVE_CLIENT = Path(__file__).with_name("kserve_client.py")


def test_the_kserve_sdk_client(live_api: LiveApi) -> None:
    """KServe's own InferenceRESTClient (v2), from its own environment (it pins psutil<6)."""
    if not KSERVE_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{KSERVE_PYTHON} is missing: `make install` builds it")
        pytest.skip(f"{KSERVE_PYTHON} is missing: `make install` builds it")
    done = subprocess.run(
        [str(KSERVE_PYTHON), str(KSERVE_CLIENT), f"http://{live_api.url}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["live"], seen["ready"], seen["model_ready"]) == (True, True, True)
    for datatype in ("FP32", "FP64"):
        answer = seen[datatype]
        assert answer["model_name"] == "iris"
        outputs = answer["outputs"]
        assert set(outputs) == {"probabilities", "label", "outlier_score", "is_outlier"}
        assert np.asarray(outputs["probabilities"]).shape == (2, 3)
        assert outputs["label"] == ["virginica", "setosa"]
        record = live_api.record(request_id=f"kserve-{datatype}")
        assert record["endpoint"] == "/v2/models/iris/infer"
        assert record["status"] == 200
        np.testing.assert_allclose(record["inputs"], ROWS, rtol=1e-6)
    assert "nope" in seen["error"]
