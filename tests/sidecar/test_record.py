"""The one record definition: what it accepts, what it refuses and why, and its wire form."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sidecar.record import FIELDS, PredictionRecord, RecordError, reason, validate_record
from tests.records import wire_record


def test_the_wire_form_round_trips() -> None:
    wire = wire_record(7)
    parsed = validate_record(wire)
    assert parsed.to_wire() == wire
    assert tuple(wire) == FIELDS
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(wire), type=PredictionRecord) == parsed


def test_integers_are_accepted_where_floats_are_expected() -> None:
    parsed = validate_record(wire_record(1) | {"latency_ms": 2, "inputs": [[5, 3, 1, 0]]})
    assert parsed.latency_ms == 2.0
    assert parsed.inputs == [[5.0, 3.0, 1.0, 0.0]]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": 42}, "Expected `int` >= 100 - at `$.status`"),
        ({"status": True}, "Expected `int`, got `bool` - at `$.status`"),
        ({"seq": 0}, "Expected `int` >= 1 - at `$.seq`"),
        ({"job_id": ""}, "Expected `str` of length >= 1 - at `$.job_id`"),
        ({"event_time": float("nan")}, "Expected `float` >= 0.0 - at `$.event_time`"),
        ({"latency_ms": float("inf")}, "Expected a finite `float` - at `$.latency_ms`"),
        ({"routing": "random"}, "Invalid enum value 'random' - at `$.routing`"),
        ({"schema_version": 2}, "Invalid enum value 2 - at `$.schema_version`"),
        ({"extra": 1}, "Object contains unknown field `extra`"),
    ],
)
def test_what_breaks_the_definition_is_refused_with_a_reason(
    change: dict[str, Any], why: str
) -> None:
    with pytest.raises(RecordError) as info:
        validate_record(wire_record(1) | change)
    assert reason(info.value) == why


def test_a_missing_field_is_named() -> None:
    wire = wire_record(1)
    del wire["host"]
    with pytest.raises(RecordError, match="missing required field `host`"):
        validate_record(wire)


def test_outlier_and_error_properties() -> None:
    parsed = validate_record(wire_record(1))
    assert not parsed.is_outlier
    assert not parsed.is_error
    failed = validate_record(wire_record(2) | {"status": 503, "results": None})
    assert failed.is_error
    assert not failed.is_outlier
