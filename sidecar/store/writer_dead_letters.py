"""Dead letters: the payloads that failed validation, and the records the store cannot hold,
kept with their raw bytes and the reason (the ``dead_letters`` table)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from sidecar.record import FEEDBACK_TAG, TAG, FeedbackRecord, PredictionRecord
from sidecar.store.schema import dead_letters


@dataclass(frozen=True)
class DeadLetterIn:
    """A received payload that failed validation, to be kept with its reason."""

    tag: str
    payload: bytes
    reason: str
    received_at: datetime


dead_letters_insert = insert(dead_letters)


def rejected(
    record: PredictionRecord | FeedbackRecord, problem: str, now: datetime
) -> DeadLetterIn:
    """The dead letter of a record the store cannot hold (``problem``: why not)."""
    # The stdlib, not orjson: it writes any int, and NaN, without raising.
    payload = json.dumps(record.to_wire(), separators=(",", ":")).encode(errors="backslashreplace")
    tag = FEEDBACK_TAG if isinstance(record, FeedbackRecord) else TAG
    return DeadLetterIn(tag, payload, f"cannot be stored: {problem}", now)


def dead_letter_row(letter: DeadLetterIn) -> dict[str, Any]:
    """The ``dead_letters`` row of ``letter``."""
    return {
        "tag": letter.tag,
        "payload": bytes(letter.payload),
        "reason": letter.reason,
        "received_at": letter.received_at,
    }
