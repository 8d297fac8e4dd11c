"""mapping: the bulk paths' value tuples say the same as the SQLAlchemy rows."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from msgspec.structs import replace

from sidecar.record import PredictionRecord, RowResult
from sidecar.store.mapping import (
    PREDICTION_COLUMNS,
    UtcText,
    prediction_row,
    prediction_values,
    unstorable,
)
from tests.records import T0, error_record, make_record

STORED_AT = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "record",
    [
        make_record(1),
        make_record(2, n_rows=5),
        error_record(3),
        make_record(4, results=[], inputs=[]),
        make_record(5, request_id=None, routing="pinned", inference_ms=None),
        make_record(
            6, n_rows=1, results=[RowResult(prediction=[0.2], outlier_score=0.9, is_outlier=True)]
        ),
        make_record(7, n_rows=1, results=[RowResult(prediction=[0.1, 0.9], label="b")]),
        make_record(
            8, n_rows=2, results=[RowResult(prediction=[1.0]), RowResult(prediction=[2.0])]
        ),
    ],
    ids=[
        "one-row",
        "five-rows",
        "error",
        "empty",
        "nones",
        "one-outlier",
        "unscored",
        "unscored-2",
    ],
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


def test_utc_text_matches_datetime_to_the_microsecond() -> None:
    rng = random.Random(3)
    text = UtcText()
    times = [rng.uniform(0, 4e9) for _ in range(20_000)]
    times += [T0 + i * 0.25e-6 for i in range(4_000)]  # ties: rounded half to even
    times += [T0 + 0.9999995, T0 + 59.9999999, 0.0, 1e-7, -1.5, -0.0000005]
    for t in times:
        want = datetime.fromtimestamp(t, UTC).isoformat(sep=" ", timespec="microseconds")
        assert text(t) == want[:26], t
    assert UtcText("+00")(T0) == "2025-11-23 12:13:20.000000+00"


def test_the_cheap_check_never_hides_a_problem() -> None:
    huge = make_record(1, inputs=[[1e308, 1e308, 1.0, 1.0]])
    assert unstorable(huge) is None
    assert unstorable(replace(make_record(2, n_rows=3), host="a\x00")) == (
        "host contains a NUL character"
    )
    results = make_record(3).results
    assert results is not None
    bad = replace(results[0], label="x\x00")
    assert unstorable(replace(make_record(3), results=[bad])) == (
        "a label contains a NUL character"
    )
    assert unstorable(make_record(5, event_time=-1.0)) == "event_time -1.0 is out of range"
