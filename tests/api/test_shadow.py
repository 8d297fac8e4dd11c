"""Shadow traffic: copies of a model's requests answered off the request path, logged as
records of their own (routing "shadow", linked to the primary's job_id), never returned."""

from __future__ import annotations

import threading
from typing import Any

from api.app import create_app
from api.handlers import Limits, PredictionHandler
from api.metrics import ApiMetrics
from api.records import RecordBuilder, RequestLog
from api.runtime.model import ModelVersion
from api.runtime.registry import Registry, Shadow
from api.settings import ApiSettings
from api.shadow import ShadowMirror
from sidecar.record import validate_record
from tests.api.fixtures import (
    AppClient,
    FailingModelVersion,
    FixedModelVersion,
    ForwardReceiver,
    fixed_version,
)
from tests.support import wait_for

ROW = [5.1, 3.5, 1.4, 0.2]


class Recorder:
    """Collects what a mirror emits and counts (thread-safe enough for the tests)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.counts: list[tuple[str, str, str]] = []

    def emit(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def count(self, model: str, version: str, outcome: str) -> None:
        self.counts.append((model, version, outcome))


def mirror_for(recorder: Recorder, queue_size: int = 100) -> ShadowMirror:
    registry = Registry([fixed_version("iris", "1")])
    handler = PredictionHandler(registry, Limits(8, 8), ApiMetrics())
    return ShadowMirror(
        handler.infer_rows, RecordBuilder(), recorder.emit, recorder.count, queue_size=queue_size
    )


def primary(rows: list[list[float]] | None = None) -> RequestLog:
    log = RequestLog("0190a0b0-c0d0-7000-8000-000000000001", "POST", "/predict")
    log.model, log.version, log.routing = "iris", "1", "weighted"
    log.request_id = "req-1"
    log.inputs = rows or [ROW]
    return log


def test_a_copy_is_answered_and_logged_as_a_shadow_record_of_its_primary() -> None:
    recorder = Recorder()
    mirror = mirror_for(recorder)
    mirror.start()
    shadow = fixed_version("iris", "2")
    first = primary([ROW, ROW])
    mirror.offer(first, (Shadow(shadow, 1.0),))
    mirror.stop()
    (record,) = recorder.records
    checked = validate_record(record)  # the sidecar's contract
    assert checked.routing == "shadow"
    assert checked.shadow_of == first.job_id
    assert checked.job_id != first.job_id
    assert (checked.model, checked.version, checked.status) == ("iris", "2", 200)
    assert checked.request_id == "req-1"
    assert checked.event_time == first.event_time
    assert checked.inputs == [ROW, ROW]
    assert checked.results is not None
    assert len(checked.results) == 2
    assert recorder.counts == [("iris", "2", "answered")]


def test_a_fraction_samples_copies() -> None:
    recorder = Recorder()
    mirror = mirror_for(recorder, queue_size=10_000)
    mirror.start()
    shadow = Shadow(fixed_version("iris", "2"), 0.25)
    for _ in range(2000):
        mirror.offer(primary(), (shadow,))
    mirror.stop(timeout=30)
    assert 400 < len(recorder.records) < 600  # 0.25 of 2000, more than 5 standard errors wide


def test_a_full_queue_drops_and_counts_and_never_blocks() -> None:
    recorder = Recorder()
    mirror = mirror_for(recorder, queue_size=3)
    # The shadow blocks on its first copy: three more wait in the queue, the rest find it full.
    gate = threading.Event()

    class Slow(FixedModelVersion):
        def classify(self, batch: Any) -> Any:
            gate.wait(10)
            return super().classify(batch)

    slow = Slow("iris", "2")
    slow.load()
    mirror.start()
    for _ in range(10):
        mirror.offer(primary(), (Shadow(slow, 1.0),))
    dropped = [c for c in recorder.counts if c[2] == "dropped"]
    assert len(dropped) >= 6  # at most one being answered and three queued
    gate.set()
    mirror.stop()
    answered = [c for c in recorder.counts if c[2] == "answered"]
    assert len(answered) + len([c for c in recorder.counts if c[2] == "dropped"]) == 10
    assert len(recorder.records) == len(answered)


def test_a_failing_shadow_is_logged_with_its_error_and_the_primary_is_untouched() -> None:
    recorder = Recorder()
    mirror = mirror_for(recorder)
    mirror.start()
    broken: ModelVersion = FailingModelVersion("iris", "3")
    broken.load()
    narrow = fixed_version("iris", "4")
    first = primary()
    mirror.offer(first, (Shadow(broken, 1.0),))
    mirror.offer(primary([[1.0, 2.0]]), (Shadow(narrow, 1.0),))
    mirror.stop()
    failed, narrow_record = (validate_record(r) for r in recorder.records)
    assert failed.status == 500
    assert failed.error is not None
    assert "the backend exploded" in failed.error
    assert narrow_record.status == 422
    assert narrow_record.error == "shadow: the shadow version expects rows of 4 features"
    assert first.results is None  # the primary's own log is never written by its shadow
    assert [c[2] for c in recorder.counts] == ["failed", "failed"]


def test_the_app_mirrors_answered_requests_only_and_returns_the_primarys_answer(
    settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    one, two = fixed_version("iris", "1"), fixed_version("iris", "2")
    registry = Registry([one], shadows={"iris": [Shadow(two, 1.0)]})
    with AppClient(create_app(settings, registry=registry)) as client:
        ok = client.post("/predict", json={"data": [ROW]})
        bad = client.post("/predict", json={"data": [[1.0]]})
        batch = client.post("/predict/batch", json={"data": [ROW, ROW]})
        assert ok.status_code == 200
        assert ok.json()["version"] == "1"
        assert bad.status_code == 422
        assert batch.status_code == 200
        wait_for(lambda: len(receiver.records) >= 5, timeout=10)
        metrics = client.get("/metrics").text
    records = [validate_record(r) for r in receiver.records]
    primaries = {r.job_id: r for r in records if r.shadow_of is None}
    shadows = [r for r in records if r.shadow_of is not None]
    assert len(shadows) == 2  # the 422 got no copy
    assert {s.shadow_of for s in shadows} == {ok.json()["job_id"], batch.json()["job_id"]}
    for s in shadows:
        assert s.routing == "shadow"
        assert s.version == "2"
        copied = primaries[str(s.shadow_of)]
        assert s.endpoint == copied.endpoint
        assert s.inputs == copied.inputs
    assert two.calls == 2
    assert (
        'predlog_api_shadow_copies_total{model="iris",outcome="answered",version="2"} 2.0'
        in metrics
    )
