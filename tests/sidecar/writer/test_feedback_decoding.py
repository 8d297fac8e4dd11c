"""Feedback payloads: typed like predictions, dead-lettered with a reason when they break
the definition, and mixed with predictions on the general path."""

from __future__ import annotations

from typing import Any

from sidecar.record import FEEDBACK_TAG, FeedbackRecord, PredictionRecord, validate_feedback
from sidecar.store.writer import DeadLetterIn
from sidecar.writer.decoding import decode_payload
from tests.records import wire_record
from tests.sidecar.writer.test_decoding import batch, message


def wire_feedback(n: int, **fields: Any) -> dict[str, Any]:
    return {"job_id": f"job-{n}", "label": "setosa", "event_time": 1_763_900_000.0 + n} | fields


def test_a_batch_of_feedback_decodes_to_feedback_records() -> None:
    sent = [wire_feedback(n) for n in range(5)] + [wire_feedback(9, label=None, value=2.5)]
    items = decode_payload(batch(*(message(f, tag=FEEDBACK_TAG) for f in sent)))
    assert items == [validate_feedback(f) for f in sent]
    assert all(isinstance(item, FeedbackRecord) for item in items)


def test_feedback_and_predictions_in_one_payload_both_decode() -> None:
    items = decode_payload(
        batch(message(wire_record(1)), message(wire_feedback(1), tag=FEEDBACK_TAG))
    )
    assert [type(item) for item in items] == [PredictionRecord, FeedbackRecord]


def test_feedback_that_breaks_the_definition_is_a_dead_letter_with_its_reason() -> None:
    bad = [
        wire_feedback(1, label=None),  # neither label nor value
        wire_feedback(2, value=1.0),  # both
        wire_feedback(3, label=7),  # wrong type
        wire_feedback(4, colour="red"),  # unknown field
        wire_feedback(5, row=-1),
        wire_feedback(6, value=float("nan"), label=None),
    ]
    items = decode_payload(batch(*(message(f, tag=FEEDBACK_TAG) for f in [*bad, wire_feedback(7)])))
    assert [item.job_id for item in items if isinstance(item, FeedbackRecord)] == ["job-7"]
    letters = [item for item in items if isinstance(item, DeadLetterIn)]
    assert {letter.tag for letter in letters} == {FEEDBACK_TAG}
    assert [letter.reason for letter in letters] == [
        "invalid feedback: Expected exactly one of `label` and `value`",
        "invalid feedback: Expected exactly one of `label` and `value`",
        "invalid feedback: Expected `str | null`, got `int` - at `$.label`",
        "invalid feedback: Object contains unknown field `colour`",
        "invalid feedback: Expected `int` >= 0 - at `$.row`",
        "invalid feedback: Expected a finite `float` - at `$.value`",
    ]
