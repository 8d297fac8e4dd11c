"""Spooled payloads into validated records and dead letters: the writer's decoding step.

A payload of plain Message-mode entries with this tag (what fluent-logger and the api
send) is decoded in one call of a decoder typed with ``PredictionRecord``: msgpack to
checked records in C, with no intermediate dicts. Anything else in the payload, or a
record that breaks the definition, sends the whole payload down the general path, one
message and one record at a time, where each failure becomes a dead letter with its
reason and raw bytes. A payload of feedback entries (tag ``FEEDBACK_TAG``) has a typed
decoder of its own, tried second; a payload that mixes the two tags takes the general path.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import msgpack
import msgspec

from sidecar.record import (
    FEEDBACK_TAG,
    TAG,
    FeedbackRecord,
    PredictionRecord,
    RecordError,
    reason,
    validate_feedback,
    validate_record,
)
from sidecar.spool.format import BATCH, decode_frame
from sidecar.store.writer import DeadLetterIn

Item = PredictionRecord | FeedbackRecord | DeadLetterIn
"""What a payload decodes to: records to store, feedback, and dead letters."""

MAX_REASON = 2000
"""Longest reason kept with a dead letter."""


class _Message(msgspec.Struct, array_like=True):
    """A Message-mode entry; ``option`` is there when it asked for an ack (``chunk``)."""

    tag: str
    # The event time is not used here (the record has its own): left as msgspec's Ext,
    # with no Python hook to call per message.
    time: Any
    record: PredictionRecord
    option: dict[str, Any] | None = None


class _FeedbackMessage(msgspec.Struct, array_like=True):
    """A Message-mode entry that holds a feedback record."""

    tag: str
    time: Any
    record: FeedbackRecord
    option: dict[str, Any] | None = None


_messages = msgspec.msgpack.Decoder(list[_Message])
_feedback_messages = msgspec.msgpack.Decoder(list[_FeedbackMessage])


def decode_payload(payload: bytes) -> list[Item]:
    """The records and dead letters of one spooled payload, in the order received."""
    if payload[:1] == BATCH:
        records = _typed(payload)
        if records is not None:
            return records
    return validate(decode_frame(payload))


def _typed(payload: bytes) -> list[Item] | None:
    """The records of a batch in which every message is a valid record of one tag: all
    predictions, or all feedback."""
    try:
        messages = _messages.decode(memoryview(payload)[1:])
    except Exception:  # ValidationError, DecodeError, UnicodeDecodeError: said in general
        return _typed_feedback(payload)
    for message in messages:
        if message.tag != TAG:
            return None
    return [message.record for message in messages]


def _typed_feedback(payload: bytes) -> list[Item] | None:
    try:
        messages = _feedback_messages.decode(memoryview(payload)[1:])
    except Exception:  # as in _typed
        return None
    for message in messages:
        if message.tag != FEEDBACK_TAG:
            return None
    return [message.record for message in messages]


def validate(entries: list[Any]) -> list[Item]:
    """Decoded entries ``(tag, time, record)`` checked one by one; failures dead-lettered."""
    items: list[Item] = []
    now = datetime.fromtimestamp(time.time(), UTC)
    for entry in entries:
        tag, _time, record = entry[0], entry[1], entry[2]
        if len(entry) > 3:  # known to be bad when spooled (api spool remnants and such)
            items.append(DeadLetterIn(str(tag)[:256], bytes(record), str(entry[3]), now))
        elif tag == TAG:
            try:
                items.append(validate_record(record))
            except RecordError as exc:
                items.append(letter(tag, record, f"invalid record: {reason(exc)}", now))
        elif tag == FEEDBACK_TAG:
            try:
                items.append(validate_feedback(record))
            except RecordError as exc:
                items.append(letter(tag, record, f"invalid feedback: {reason(exc)}", now))
        else:
            items.append(letter(tag, record, f"unexpected tag {tag!r}", now))
    return items


def letter(tag: Any, record: Any, why: str, now: datetime) -> DeadLetterIn:
    """A dead letter for ``record`` (re-encoded as msgpack) with its reason."""
    payload: bytes = msgpack.packb(record, default=repr)
    return DeadLetterIn(str(tag)[:256], payload, why[:MAX_REASON], now)
