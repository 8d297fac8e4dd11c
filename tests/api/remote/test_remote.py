"""Remote versions against real upstreams: two ``predlog api`` processes on the demo model.

predlog in front (an app on a registry of remote versions, its records to a receiver)
balances across the upstreams, takes out one that stops and puts it back when it returns,
answers 504 when an upstream hangs and 502 when one answers an error, logs each call once
with the upstream's latency, and routes to remote versions by weight, pin and shadow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.runtime.model import OnnxModelVersion
from api.runtime.registry import Registry, Shadow
from api.runtime.remote import RemoteModelVersion, RemoteOptions
from api.runtime.upstream import Upstreams
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, ForwardReceiver
from tests.api.remote.upstream import PredlogUpstream, remote_manifest
from tests.support import wait_for

ROW = [6.7, 3.0, 5.2, 2.3]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def upstreams(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Iterator[tuple[PredlogUpstream, PredlogUpstream]]:
    spool = tmp_path_factory.mktemp("upstream-spool")
    with (
        PredlogUpstream(models_dir, spool / "a") as a,
        PredlogUpstream(models_dir, spool / "b") as b,
    ):
        yield a, b


def _remote(
    models_dir: Path, endpoints: list[str], version: str, *, timeout: float = 2.0, **kw: Any
) -> RemoteModelVersion:
    bundle = models_dir / "iris" / "1"
    manifest = remote_manifest(bundle, endpoints, version=version, **kw)
    return RemoteModelVersion(manifest, bundle, RemoteOptions(timeout=timeout, probe_interval=0.1))


def _app(settings: ApiSettings, registry: Registry) -> AppClient:
    return AppClient(create_app(settings, registry=registry))


def _direct(upstream: PredlogUpstream) -> dict[str, Any]:
    answer = httpx.post(f"{upstream.url}/predict", json={"data": [ROW]}, params={"version": "1"})
    assert answer.status_code == 200
    return dict(answer.json())


def _records(receiver: ForwardReceiver, n: int) -> list[dict[str, Any]]:
    wait_for(lambda: len(receiver.records) >= n)
    return receiver.records


def test_oip_and_predict_upstreams_answer_as_the_model_does_and_are_logged_once(
    upstreams: tuple[PredlogUpstream, PredlogUpstream],
    models_dir: Path,
    settings: ApiSettings,
    receiver: ForwardReceiver,
) -> None:
    a, _ = upstreams
    oip = _remote(models_dir, [a.url], "oip", model="iris")
    pattern = _remote(models_dir, [a.url], "pattern", protocol="predict", detector=True)
    direct = _direct(a)
    with _app(settings, Registry([oip, pattern], seed=1)) as client:
        by_oip = client.post("/predict", json={"data": [ROW]}, headers={"X-Model-Version": "oip"})
        by_pattern = client.post("/predict?version=pattern", json={"data": [ROW, ROW]})
        label = client.post("/predict/label?version=oip", json={"data": [ROW]})
        infer = client.post(
            "/v2/models/iris/versions/pattern/infer",
            json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW}]},
        )
        test = client.get("/predict/test?version=oip")
        batch = client.post("/predict/batch?version=pattern", json={"data": [ROW] * 3})
        metadata = client.get("/metadata")
    for answer in (by_oip, by_pattern, label, infer, test, batch, metadata):
        assert answer.status_code == 200, answer.text
    assert by_oip.json()["prediction"] == pytest.approx(direct["prediction"])
    assert by_oip.json()["outlier_score"] is None  # no detector with this one
    assert by_oip.json()["is_outlier"] is None
    for row in by_pattern.json()["prediction"]:
        assert row == pytest.approx(direct["prediction"])
    # the bundle brought its detector: scored here, as the upstream scores it
    assert by_pattern.json()["outlier_score"] == pytest.approx([direct["outlier_score"]] * 2)
    direct_label = httpx.post(f"{a.url}/predict/label?version=1", json={"data": [ROW]}).json()
    assert label.json()["prediction"]["label"] == direct_label["prediction"]["label"]
    names = [o["name"] for o in infer.json()["outputs"]]
    assert names == ["probabilities", "label", "outlier_score", "is_outlier"]
    records = _records(receiver, 7)
    mine = {r["job_id"]: r for r in records}
    assert len(mine) == len(records)  # one record per request
    record = mine[by_oip.json()["job_id"]]
    assert record["version"] == "oip"
    assert record["routing"] == "pinned"
    assert 0 < record["upstream_ms"] <= record["inference_ms"] <= record["latency_ms"]
    assert record["results"][0]["outlier_score"] is None
    assert mine[by_pattern.json()["job_id"]]["results"][1]["outlier_score"] is not None
    assert all(r["upstream_ms"] is not None for r in records if r["endpoint"] != "/metadata")


def test_calls_balance_over_both_upstreams_one_down_fails_nothing_and_comes_back(
    upstreams: tuple[PredlogUpstream, PredlogUpstream],
    models_dir: Path,
    settings: ApiSettings,
    receiver: ForwardReceiver,
) -> None:
    a, b = upstreams
    version = _remote(models_dir, [a.url, b.url], "pool")
    with _app(settings, Registry([version], seed=1)) as client:
        before = a.answered(), b.answered()
        for _ in range(20):
            assert client.post("/predict", json={"data": [ROW]}).status_code == 200
        wait_for(lambda: a.answered() + b.answered() - sum(before) >= 20)
        # one call at a time: the least outstanding is a tie each time, taken in turn (the
        # load check's own call may land in either count: its record can come in late)
        assert 9 <= a.answered() - before[0] <= 11
        assert 9 <= b.answered() - before[1] <= 11
        pool = version.upstreams
        assert pool is not None
        b.stop()
        wait_for(lambda: pool.in_service == [a.url])  # its probes failed: out of service
        statuses = [client.post("/predict", json={"data": [ROW]}).status_code for _ in range(10)]
        assert statuses == [200] * 10
        b.start()
        wait_for(lambda: pool.in_service == [a.url, b.url])  # its probe answered: back
        returned = b.answered()
        for _ in range(10):
            assert client.post("/predict", json={"data": [ROW]}).status_code == 200
        wait_for(lambda: b.answered() >= returned + 5)
    records = _records(receiver, 40)
    assert {r["status"] for r in records} == {200}
    assert len({r["job_id"] for r in records}) == 40


def test_a_refused_connection_is_retried_on_the_other_upstream_before_any_probe(
    upstreams: tuple[PredlogUpstream, PredlogUpstream],
    models_dir: Path,
    settings: ApiSettings,
) -> None:
    a, b = upstreams
    version = _remote(models_dir, [a.url, b.url], "retry")
    version.options = RemoteOptions(timeout=2.0, probe_interval=60.0)  # no probe in this test
    with _app(settings, Registry([version], seed=1)) as client:
        pool = version.upstreams
        assert pool is not None
        b.stop()
        try:
            statuses = [client.post("/predict", json={"data": [ROW]}).status_code for _ in range(6)]
            assert statuses == [200] * 6
            assert pool.in_service == [a.url]  # the refusal took it out at once
        finally:
            b.start()


def test_a_hung_upstream_answers_504_and_its_error_502_both_logged(
    upstreams: tuple[PredlogUpstream, PredlogUpstream],
    models_dir: Path,
    settings: ApiSettings,
    receiver: ForwardReceiver,
) -> None:
    a, _ = upstreams
    slow = _remote(models_dir, [a.url], "slow", timeout=0.5)
    slow.options = RemoteOptions(timeout=0.5, probe_interval=60.0)
    wrong = _remote(models_dir, [a.url], "wrong", model="nosuch")  # the upstream's 404
    wrong.load = lambda: _load_without_check(wrong)  # type: ignore[method-assign]
    with _app(settings, Registry([slow, wrong], seed=1)) as client:
        error = client.post("/predict?version=wrong", json={"data": [ROW]})
        infer = client.post(
            "/v2/models/iris/versions/wrong/infer",
            json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW}]},
        )
        a.pause()
        try:
            hung = client.post("/predict?version=slow", json={"data": [ROW]})
        finally:
            a.resume()
        after = client.post("/predict?version=slow", json={"data": [ROW]})
        counted = client.get("/metrics").text
    assert error.status_code == 502, error.text
    assert "answered 404" in error.json()["error"]["message"]
    assert infer.status_code == 502
    assert "answered 404" in infer.json()["error"]  # the protocol's error shape
    assert hung.status_code == 504, hung.text
    assert "did not answer within 0.5 s" in hung.json()["error"]["message"]
    assert after.status_code == 200
    for status in ("502", "504"):  # counted with the other answers, by status
        assert any(
            line.startswith("predlog_api_requests_total") and f'status="{status}"' in line
            for line in counted.splitlines()
        )
    records = {r["job_id"]: r for r in _records(receiver, 4)}
    assert records[error.headers["x-job-id"]]["status"] == 502
    assert records[hung.headers["x-job-id"]]["status"] == 504
    assert "did not answer" in records[hung.headers["x-job-id"]]["error"]


def _load_without_check(version: RemoteModelVersion) -> None:
    """Load a version whose upstream answers every call an error (its probe passes, its
    load check would not)."""
    version.upstreams = Upstreams(
        version.spec.endpoints, "/v2/health/ready", timeout=2.0, probe_interval=60.0
    )
    version.upstreams.start()
    version.ready = True


def test_weights_pins_and_shadows_reach_remote_versions(
    upstreams: tuple[PredlogUpstream, PredlogUpstream],
    models_dir: Path,
    settings: ApiSettings,
    receiver: ForwardReceiver,
) -> None:
    a, _ = upstreams
    local = OnnxModelVersion(models_dir / "iris" / "1")
    remote = _remote(models_dir, [a.url], "9")
    shadow = _remote(models_dir, [a.url], "shadow", protocol="predict")
    shadow.load()  # a fixed registry loads what it routes; a live one its shadows too
    registry = Registry(
        [local, remote], {"1": 0.0, "9": 1.0}, seed=1, shadows={"iris": [Shadow(shadow, 1.0)]}
    )
    with _app(settings, registry) as client:
        weighted = client.post("/predict", json={"data": [ROW]})
        pinned = client.post("/predict", json={"data": [ROW]}, headers={"X-Model-Version": "1"})
        wait_for(lambda: len(receiver.records) >= 4)
    shadow.unload()
    assert weighted.json()["version"] == "9"
    assert pinned.json()["version"] == "1"
    records = _records(receiver, 4)  # two answers, two shadow copies
    by_job = {r["job_id"]: r for r in records}
    assert by_job[weighted.json()["job_id"]]["routing"] == "weighted"
    assert by_job[weighted.json()["job_id"]]["upstream_ms"] > 0
    assert by_job[pinned.json()["job_id"]]["upstream_ms"] is None  # the local version
    copies = [r for r in records if r["routing"] == "shadow"]
    assert {c["shadow_of"] for c in copies} == {weighted.json()["job_id"], pinned.json()["job_id"]}
    assert [(c["status"], c["error"]) for c in copies] == [(200, None)] * 2
    assert all(c["upstream_ms"] > 0 for c in copies)
    assert all(c["version"] == "shadow" for c in copies)


def test_the_legacy_call_shapes_reach_a_remote_version(
    upstreams: tuple[PredlogUpstream, PredlogUpstream],
    models_dir: Path,
    settings: ApiSettings,
    receiver: ForwardReceiver,
) -> None:
    a, _ = upstreams
    remote = _remote(models_dir, [a.url], "r")
    with _app(settings, Registry([remote], seed=1)) as client:
        get_test = client.get("/predict/get/test")
        post_test = client.post("/predict/post/test", json={"data": [ROW]})
        console = client.post(
            "/predict/iris/r", json={"type": "dense", "feature_num": 4, "data": {"insts": [ROW]}}
        )
        fan_out = client.post("/predict/all", json={"data": [ROW]})
    for answer in (get_test, post_test, console, fan_out):
        assert answer.status_code == 200, answer.text
    assert console.json()["code"] == 0
    assert console.json()["data"]["insts"][0]["outlier_score"] is None
    fanned = fan_out.json()["iris"]
    assert fanned["version"] == "r"
    assert fanned["prediction"] == pytest.approx(post_test.json()["prediction"])
    records = {r["job_id"]: r for r in _records(receiver, 4)}
    assert records[console.json()["job_id"]]["upstream_ms"] > 0
    assert records[fanned["job_id"]]["upstream_ms"] > 0
