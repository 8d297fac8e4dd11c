"""mapping: the bulk paths' value tuples say the same as the SQLAlchemy rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sidecar.record import PredictionRecord
from sidecar.store.mapping import (
    PREDICTION_COLUMNS,
    prediction_row,
    prediction_values,
    unstorable,
)
from tests.sidecar.store.factories import error_record, make_record

STORED_AT = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "record",
    [
        make_record(1),
        make_record(2, n_rows=5),
        error_record(3),
        make_record(4, results=[], inputs=[]),
        make_record(5, request_id=None, routing="pinned", inference_ms=None),
    ],
    ids=["one-row", "five-rows", "error", "empty", "nones"],
)
def test_values_follow_the_column_order_of_the_row(record: PredictionRecord) -> None:
    row = prediction_values(record, STORED_AT, lambda t: t)
    values = dict(zip(PREDICTION_COLUMNS, row, strict=True))
    for name in ("inputs", "results"):
        values[name] = None if values[name] is None else json.loads(values[name])
    assert values == prediction_row(record, STORED_AT)


def test_a_good_record_is_storable() -> None:
    assert unstorable(make_record(1)) is None
    assert unstorable(error_record(2)) is None
