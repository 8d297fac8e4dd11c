"""A regressor's records (one value a row, no label) beside a classifier's, in the store."""

from __future__ import annotations

from msgspec.structs import replace
from sqlalchemy import Engine

from sidecar.record import PredictionRecord, RowResult, validate_record
from sidecar.store.mapping import (
    PREDICTION_COLUMNS,
    prediction_row,
    record_values,
    to_datetime,
    unstorable,
)
from sidecar.store.queries import get_job
from sidecar.store.writer import StoreWriter, WriteResult
from tests.records import T0, make_record


def regressor_record(n: int) -> PredictionRecord:
    """The n-th record of a regressor: its rows' predictions are one value each."""
    record = make_record(n, model="diabetes", version="1")
    results = [
        RowResult(prediction=[150.5 + i], outlier_score=r.outlier_score, is_outlier=r.is_outlier)
        for i, r in enumerate(record.results or ())
    ]
    return replace(record, results=results)


def test_a_record_without_labels_validates_and_old_ones_still_do() -> None:
    old = make_record(1).to_wire()
    assert all(r["label"] for r in old["results"])
    assert validate_record(old) == make_record(1)
    wire = make_record(2).to_wire()
    for row in wire["results"]:
        del row["label"]  # as the api sends a regressor's rows
        row["prediction"] = [3.5]
    record = validate_record(wire)
    assert record.results is not None
    assert [(r.prediction, r.label) for r in record.results] == [([3.5], None)] * len(
        record.results
    )


def test_the_mapping_takes_rows_without_labels() -> None:
    record = regressor_record(3)
    assert unstorable(record) is None
    row = prediction_row(record, to_datetime(T0))
    assert [r["label"] for r in row["results"]] == [None] * row["n_rows"]
    values = record_values(record, to_datetime(T0))
    assert '"label":null' in values[PREDICTION_COLUMNS.index("results")]


def test_regressor_and_classifier_records_are_stored_and_read_back(engine: Engine) -> None:
    records = [make_record(1), regressor_record(2), make_record(3), regressor_record(4)]
    result = StoreWriter(engine).write(records)
    assert result == WriteResult(inserted=4, duplicates=0, dead_letters=0)
    for record in records:
        stored = get_job(engine, record.job_id)
        assert stored is not None
        assert stored.record == record


def test_predlog_query_shows_a_regressors_rows() -> None:
    from predlog.report import render_job
    from sidecar.store.queries import StoredPrediction

    text = render_job(StoredPrediction(regressor_record(5), to_datetime(T0)), "table")
    rows = [line.split() for line in text.splitlines()[-3:]]
    assert [(row[0], row[5], row[6]) for row in rows] == [
        ("0", "-", "[150.5]"),
        ("1", "-", "[151.5]"),
        ("2", "-", "[152.5]"),
    ]  # row, label (none), prediction
