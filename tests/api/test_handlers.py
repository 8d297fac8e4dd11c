"""The handlers without HTTP: inference, the request log they fill, metadata."""

from __future__ import annotations

import pytest

from api.errors import InvalidInputError, ModelNotFoundError, ModelNotReadyError
from api.handlers import Limits, MetadataHandler, PredictionHandler
from api.metrics import ApiMetrics
from api.records import RecordBuilder, RequestLog
from api.runtime.registry import Registry
from sidecar.record import FIELDS, validate_record
from tests.api.fixtures import FIXED_PROBA, FixedModelVersion


@pytest.fixture
def registry() -> Registry:
    registry = Registry([FixedModelVersion("iris", "1"), FixedModelVersion("iris", "2")], seed=0)
    registry.load()
    return registry


@pytest.fixture
def handler(registry: Registry) -> PredictionHandler:
    return PredictionHandler(registry, Limits(max_rows=4, max_batch_rows=10), ApiMetrics())


def test_predict_fills_the_request_log(handler: PredictionHandler) -> None:
    log = RequestLog("job-1", "POST", "/predict")
    body = handler.predict(log, b'{"data": [[9, 1, 1, 1]]}', None, "2")
    assert isinstance(body, dict)  # a local version answers at once (a remote one: awaitable)
    assert body["prediction"] == pytest.approx(FIXED_PROBA)
    assert (log.model, log.version, log.routing) == ("iris", "2", "pinned")
    assert log.inputs == [[9, 1, 1, 1]]
    assert log.results == [
        {
            "prediction": pytest.approx(FIXED_PROBA),
            "label": "virginica",
            "outlier_score": pytest.approx(0.9),
            "is_outlier": True,
        }
    ]
    record = RecordBuilder(host="h", pid=1).build(log, 200, 1.5)
    parsed = validate_record(record)
    assert parsed.seq == 1
    assert parsed.results is not None
    assert parsed.results[0].label == "virginica"
    assert set(record) == set(FIELDS)


def test_errors_are_service_errors_and_leave_the_choice_logged(handler: PredictionHandler) -> None:
    log = RequestLog("job-2", "POST", "/predict")
    with pytest.raises(InvalidInputError, match="at most 4"):
        handler.predict(
            log, b'{"data": [[1,1,1,1],[1,1,1,1],[1,1,1,1],[1,1,1,1],[1,1,1,1]]}', None, None
        )
    assert log.model == "iris"
    assert log.results is None
    with pytest.raises(ModelNotFoundError):
        handler.predict(RequestLog("j", "POST", "/predict"), b"{}", "wine", None)


def test_an_unloaded_model_is_not_ready(registry: Registry, handler: PredictionHandler) -> None:
    registry.unload()
    with pytest.raises(ModelNotReadyError):
        handler.predict(RequestLog("j", "POST", "/predict"), b'{"data": [[1,1,1,1]]}', None, None)


def test_batch_answers_one_result_per_row(handler: PredictionHandler) -> None:
    log = RequestLog("job-3", "POST", "/predict/batch")
    rows = b'{"data": [' + b",".join([b"[1, 2, 3, 4]"] * 10) + b"]}"
    body = handler.predict_batch(log, rows, None, None)
    assert len(body["results"]) == 10
    assert body["results"] == log.results


def test_record_builder_numbers_from_one_and_truncates(registry: Registry) -> None:
    builder = RecordBuilder(host="h", pid=7)
    log = RequestLog("job", "GET", "/x" * 100)
    log.error = "e" * 5000
    log.request_id = "r" * 300
    records = [builder.build(log, 404, 0.1) for _ in range(3)]
    assert [r["seq"] for r in records] == [1, 2, 3]
    # One run_id per run of the process; a restarted process (a new builder) draws another.
    assert len({r["run_id"] for r in records}) == 1
    assert RecordBuilder(host="h", pid=7).build(log, 404, 0.1)["run_id"] != records[0]["run_id"]
    for record in records:
        validate_record(record)


def test_metadata_lists_versions_and_weights(registry: Registry) -> None:
    meta = MetadataHandler(registry).metadata()
    assert meta["models"]["iris"]["versions"] == ["1", "2"]
    assert meta["data_sample"] == [[5.8, 3.1, 3.8, 1.2]]
    assert MetadataHandler(registry).labels() == {
        "0": "setosa",
        "1": "versicolor",
        "2": "virginica",
    }
