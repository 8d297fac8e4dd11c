"""Spooled payloads into records and dead letters: the typed fast path and the general one."""

from __future__ import annotations

import time
from typing import Any

import msgpack
from fluent.sender import EventTime

from sidecar.record import TAG, PredictionRecord, validate_record
from sidecar.spool.format import batch_payload, dead_letter_message
from sidecar.store.writer import DeadLetterIn
from sidecar.writer.decoding import decode_payload
from tests.records import wire_record
from tests.sidecar.helpers import forward_message


def message(rec: Any, tag: str = TAG) -> bytes:
    """A Message-mode message as fluent-logger sends it (EventTime)."""
    packed: bytes = msgpack.packb([tag, EventTime(time.time()), rec])
    return packed


def batch(*messages: bytes) -> bytes:
    return batch_payload(b"".join(messages), len(messages))


def test_a_batch_of_valid_records_decodes_to_records() -> None:
    sent = [wire_record(seq) for seq in range(1, 21)]
    items = decode_payload(batch(*(message(r) for r in sent)))
    assert items == [validate_record(r) for r in sent]
    assert all(isinstance(item, PredictionRecord) for item in items)


def test_the_older_payload_form_decodes_the_same() -> None:
    sent = [wire_record(seq) for seq in range(1, 4)]
    older = b"".join(message(r) for r in sent)  # messages back to back, no BATCH header
    assert decode_payload(older) == decode_payload(batch(*(message(r) for r in sent)))


def test_bad_records_in_a_batch_are_dead_lettered_alone_with_their_reason() -> None:
    bad_status = wire_record(2) | {"status": 42}
    not_finite = wire_record(3) | {"inputs": [[5.1, float("nan"), 1.4, 0.2]]}
    unknown = wire_record(4) | {"colour": "red"}
    items = decode_payload(
        batch(
            message(wire_record(1)),
            message(bad_status),
            message(not_finite),
            message(unknown),
            message(wire_record(5), tag="predlog.other"),
            message(wire_record(6)),
        )
    )
    assert [item.seq for item in items if isinstance(item, PredictionRecord)] == [1, 6]
    letters = [item for item in items if isinstance(item, DeadLetterIn)]
    assert [letter.reason for letter in letters] == [
        "invalid record: Expected `int` >= 100 - at `$.status`",
        "invalid record: Expected a finite `float` - at `$.inputs[0][1]`",
        "invalid record: Object contains unknown field `colour`",
        "unexpected tag 'predlog.other'",
    ]
    assert msgpack.unpackb(letters[0].payload) == bad_status
    assert letters[3].tag == "predlog.other"


def test_a_string_that_is_not_utf8_costs_only_its_own_message() -> None:
    good = message(wire_record(1))
    broken = message(wire_record(2) | {"host": "HOST"}).replace(b"HOST", b"\xff\xfe\xfd\xfc")
    items = decode_payload(batch(good, broken, message(wire_record(3))))
    assert [type(item).__name__ for item in items] == [
        "PredictionRecord",
        "DeadLetterIn",
        "PredictionRecord",
    ]
    letter = items[1]
    assert isinstance(letter, DeadLetterIn)
    assert letter.reason.startswith("undecodable spooled message")
    assert letter.payload == broken  # the raw bytes, as received


def test_other_modes_and_spooled_dead_letters_take_the_general_path() -> None:
    forward: bytes = msgpack.packb(forward_message([wire_record(1), wire_record(2)]))
    spooled = dead_letter_message("predlog.api", b"\x00raw", "truncated last entry", 5.0)
    items = decode_payload(batch(message(wire_record(3)), forward, spooled))
    assert [item.seq for item in items if isinstance(item, PredictionRecord)] == [3, 1, 2]
    (letter,) = [item for item in items if isinstance(item, DeadLetterIn)]
    assert (letter.tag, letter.payload, letter.reason) == (
        "predlog.api",
        b"\x00raw",
        "truncated last entry",
    )
