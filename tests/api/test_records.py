"""One record per request, sent by the real fluent-logger to a real forward receiver."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from api.app import create_app
from api.runtime.registry import Registry
from api.settings import ApiSettings
from sidecar.record import TAG, validate_record
from tests.api.fixtures import (
    AppClient,
    FailingModelVersion,
    FixedModelVersion,
    ForwardReceiver,
    read_spool,
)
from tests.support import wait_for

ROW = [6.7, 3.0, 5.2, 2.3]


def _app(settings: ApiSettings) -> AppClient:
    registry = Registry([FixedModelVersion("iris", "1"), FixedModelVersion("iris", "2")], seed=1)
    return AppClient(create_app(settings, registry=registry))


def test_each_request_is_one_valid_record(settings: ApiSettings, receiver: ForwardReceiver) -> None:
    with _app(settings) as client:
        ok = client.post("/predict?version=2", json={"data": [ROW, [1, 2, 3, 4]]},
                         headers={"x-request-id": "req-42"})  # fmt: skip
        bad = client.post("/predict", json={"data": [[1, 2]]})
        missing = client.get("/nowhere")
        client.get("/health")  # probes are not logged
        client.get("/metrics")
        label = client.post("/predict/label", json={"data": [ROW]})
    wait_for(lambda: len(receiver.records) >= 4)
    entries = receiver.entries
    assert len(entries) == 4
    assert {entry[0] for entry in entries} == {TAG}
    records = sorted((validate_record(e[2]) for e in entries), key=lambda r: r.seq)
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert [r.job_id for r in records] == [
        ok.headers["x-job-id"],
        bad.headers["x-job-id"],
        missing.headers["x-job-id"],
        label.headers["x-job-id"],
    ]
    first = records[0]
    assert first.request_id == "req-42"
    assert (first.endpoint, first.method, first.status) == ("/predict", "POST", 200)
    assert (first.model, first.version, first.routing) == ("iris", "2", "pinned")
    assert first.inputs == [ROW, [1.0, 2.0, 3.0, 4.0]]
    assert first.results is not None
    assert [r.is_outlier for r in first.results] == [True, False]
    assert first.results[0].label == "virginica"
    assert first.results[1].outlier_score == pytest.approx(0.1)
    assert first.latency_ms >= (first.inference_ms or 0.0) > 0.0
    assert first.error is None
    assert entries[0][1] == pytest.approx(first.event_time)  # Message mode: [tag, time, record]
    second = records[1]
    assert (second.status, second.results, second.inputs) == (422, None, None)
    assert second.error == "data[0] has 2 values; the model expects 4 features"
    assert second.model == "iris"
    assert (records[2].status, records[2].endpoint, records[2].model) == (404, "/nowhere", None)
    assert records[3].routing == "weighted"
    assert len({r.pid for r in records}) == 1


def test_a_failing_model_is_logged(settings: ApiSettings, receiver: ForwardReceiver) -> None:
    registry = Registry([FailingModelVersion("iris", "1")])
    with AppClient(create_app(settings, registry=registry)) as client:
        assert client.post("/predict", json={"data": [ROW]}).status_code == 500
    wait_for(lambda: len(receiver.records) == 1)
    record = validate_record(receiver.records[0])
    assert record.status == 500
    assert record.error is not None
    assert "the backend exploded" in record.error


def test_nothing_listens_records_are_spooled_and_counted(dead_settings: ApiSettings) -> None:
    n = 25
    with _app(dead_settings) as client:
        job_ids = [client.post("/predict", json={"data": [ROW]}).headers["x-job-id"]
                   for _ in range(n)]  # fmt: skip
        wait_for(lambda: 'spooled"} 25.0' in client.get("/metrics").text)
        emitter = client.app.state.services.emitter
        assert emitter.counts == {"sent": 0, "spooled": n, "failed": 0}
    spooled = read_spool(dead_settings.spool_dir)
    assert [entry[2]["job_id"] for entry in spooled] == job_ids
    for tag, time, record in spooled:
        assert tag == TAG
        assert isinstance(time, float)
        assert time == record["event_time"]
        validate_record(record)
    files = list((dead_settings.spool_dir / "api").iterdir())
    assert files
    assert all(p.suffix == ".msgpack" for p in files)  # completed at shutdown, no .part left
    pattern = re.compile(rf"^\d{{13}}-{re.escape(socket.gethostname())}-{os.getpid()}-\d+$")
    assert all(pattern.match(p.stem) for p in files), files


def test_receiver_appears_later_records_go_there(tmp_path: Path) -> None:
    from tests.support import free_port

    port = free_port()
    settings = ApiSettings(forward=f"127.0.0.1:{port}", spool_dir=tmp_path, retry_interval=0.0)
    with _app(settings) as client:
        client.post("/predict", json={"data": [ROW]})
        wait_for(lambda: client.app.state.services.emitter.counts["spooled"] == 1)
        with ForwardReceiver(port) as receiver:
            client.post("/predict", json={"data": [ROW]})
            wait_for(lambda: len(receiver.records) == 1)
            assert receiver.records[0]["seq"] == 2
    assert [e[2]["seq"] for e in read_spool(tmp_path)] == [1]
