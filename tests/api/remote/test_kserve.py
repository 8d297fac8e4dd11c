"""A remote version in front of KServe's model server (the demo ONNX graph, onnxruntime).

The upstream runs from ``.venv-upstream`` (``make install`` builds it from
``requirements/upstream.txt``: KServe pins ``psutil<6`` against the project's); its script
is ``tests/api/remote/kserve_server.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from api.app import create_app
from api.runtime.model import OnnxModelVersion
from api.runtime.registry import Registry
from api.runtime.remote import RemoteModelVersion, RemoteOptions
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, ForwardReceiver
from tests.api.remote.upstream import remote_manifest
from tests.support import free_port, port_open, wait_for

PYTHON = Path(".venv-upstream/bin/python")
SERVER = Path(__file__).with_name("kserve_server.py")
ROWS = [[6.7, 3.0, 5.2, 2.3], [5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 4.2, 1.5]]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kserve_url(models_dir: Path) -> Iterator[str]:
    if not PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PYTHON} is missing: `make install` builds it")
        pytest.skip(f"{PYTHON} is missing: `make install` builds it")
    port = free_port()
    process = subprocess.Popen(
        [
            str(PYTHON), str(SERVER), "--bundle", str(models_dir / "iris" / "1"),
            "--name", "iris", "--http_port", str(port), "--grpc_port", str(free_port()),
        ]
    )  # fmt: skip
    try:
        wait_for(lambda: port_open(port), timeout=90)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)


def test_kserve_listens_on_the_loopback_only(kserve_url: str) -> None:
    port = int(kserve_url.rsplit(":", 1)[1])
    found = [c.laddr for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port]
    assert found
    assert {address.ip for address in found} == {"127.0.0.1"}


def test_a_remote_version_on_kserve_answers_as_the_local_graph_and_is_logged(
    kserve_url: str, models_dir: Path, settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    bundle = models_dir / "iris" / "1"
    local = OnnxModelVersion(bundle)
    local.load()
    expected = local.predict(np.asarray(ROWS, dtype=np.float32))
    manifest = remote_manifest(bundle, [kserve_url], version="kserve", detector=True)
    remote = RemoteModelVersion(manifest, bundle, RemoteOptions(timeout=5.0, probe_interval=0.2))
    with AppClient(create_app(settings, registry=Registry([remote], seed=1))) as client:
        answer = client.post("/predict", json={"data": ROWS})
        infer = client.post(
            "/v2/models/iris/infer",
            json={
                "inputs": [
                    {
                        "name": "input",
                        "shape": [3, 4],
                        "datatype": "FP32",
                        "data": [v for row in ROWS for v in row],
                    }
                ]
            },
        )
        assert remote.upstreams is not None
        assert remote.upstreams.in_service == [kserve_url]  # its /v2/health/ready answers
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert np.allclose(body["prediction"], expected.proba, atol=1e-6)
    assert body["outlier_score"] == pytest.approx(expected.outlier_score.tolist())  # scored here
    assert infer.status_code == 200, infer.text
    wait_for(lambda: len(receiver.records) >= 2)
    record = next(r for r in receiver.records if r["job_id"] == body["job_id"])
    assert record["version"] == "kserve"
    assert record["upstream_ms"] > 0
    assert [r["label"] for r in record["results"]] == [
        manifest.labels[i] for i in expected.label_index
    ]
