"""``POST /feedback``: ground truth for logged predictions, by job_id, sent on as records.

The api stays stateless: it checks the shape of each item and emits it as a
``FeedbackRecord`` (tag ``predlog.feedback``) through the same emitter as the predictions;
it never looks the prediction up. The sidecar stores the first feedback per (job_id, row)
and joins it to its prediction when both are stored, in either order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from api.errors import InvalidInputError
from api.inputs import decode
from api.records import RequestLog
from api.schemas import ERRORS, ErrorResponse
from sidecar.record import FEEDBACK_SCHEMA_VERSION, FEEDBACK_TAG, MAX_LABEL

MAX_FEEDBACK = 1000
"""Most feedback items one request carries."""
LABEL = FEEDBACK_TAG.partition(".")[2]
"""The label (the tag past the emitter's prefix) feedback records are emitted with."""
_JOB = "019a9c5e-2f1b-7c3e-9a51-3b1f0c2d4e5f"
_JOB_2 = "019a9c5e-2f1b-7c3e-9a51-3b1f0c2d4e60"
_ONE_OF: list[JsonValue] = [
    {"required": ["label"], "properties": {"label": {"type": "string"}}},
    {"required": ["value"], "properties": {"value": {"type": "number"}}},
]


class FeedbackItem(BaseModel):
    """The truth about one row of one logged request: a label (classifier) or a value
    (regressor), exactly one of them."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "oneOf": _ONE_OF,
            "examples": [{"job_id": _JOB, "label": "virginica"}, {"job_id": _JOB_2, "value": 3.2}],
        },
    )

    job_id: str = Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")
    """The job_id the prediction was answered with (printable ASCII, no spaces)."""
    row: int = Field(default=0, ge=0, le=2**31 - 1)
    """Which input row of that request (0, the default, for a one-row request)."""
    label: str | None = Field(
        default=None, min_length=1, max_length=MAX_LABEL, pattern=r"^[^\x00]+$"
    )
    """The true class label."""
    value: float | None = None
    """The true value."""

    @field_validator("row", mode="before")
    @classmethod
    def _integral(cls, row: Any) -> Any:
        # JSON Schema's integer holds 2.0 too (what the schema says, the handler takes).
        if isinstance(row, float) and row.is_integer():
            return int(row)
        return row

    @model_validator(mode="after")
    def _one_truth(self) -> FeedbackItem:
        if (self.label is None) == (self.value is None):
            raise ValueError("give exactly one of label (a classifier's) and value (a regressor's)")
        return self


class FeedbackResponse(BaseModel):
    """Feedback accepted: sent on to the log store, where it joins its prediction."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"job_id": _JOB_2, "accepted": 1}]})

    job_id: str
    """This request's own job_id (its record in the log says it was feedback)."""
    accepted: int
    """Feedback items accepted."""


_ITEM = TypeAdapter(FeedbackItem)
_ITEM_SCHEMA = FeedbackItem.model_json_schema()

FEEDBACK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _ITEM_SCHEMA,
                        {
                            "type": "array",
                            "items": _ITEM_SCHEMA,
                            "minItems": 1,
                            "maxItems": MAX_FEEDBACK,
                        },
                    ]
                },
                "examples": {
                    "a label": {"value": {"job_id": _JOB, "label": "virginica"}},
                    "a value": {"value": {"job_id": _JOB, "value": 3.2}},
                    "a batch": {
                        "value": [
                            {"job_id": _JOB, "label": "setosa"},
                            {"job_id": _JOB_2, "row": 1, "label": "versicolor"},
                        ]
                    },
                },
            }
        },
    }
}
"""What the OpenAPI schema says ``POST /feedback`` takes."""
FEEDBACK_ERRORS: dict[int | str, dict[str, Any]] = {
    **{status: ERRORS[status] for status in (400, 413, 415)},
    422: {
        "model": ErrorResponse,
        "description": "Not a feedback item or a list of 1 to 1000: a missing or malformed "
        "job_id, both or neither of label and value, a wrong type, an unknown field.",
    },
}
"""The error answers ``POST /feedback`` documents."""


class FeedbackHandler:
    """Checks feedback and emits one record per item; a plain class a test calls directly."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        """``emit`` sends one feedback record dict on (never raises, never blocks)."""
        self.emit = emit

    def submit(self, log: RequestLog, body: bytes) -> dict[str, Any]:
        """``POST /feedback``: one item or a list of up to ``MAX_FEEDBACK``; all or none."""
        items = parse(decode(body))
        for item in items:
            self.emit(
                {
                    "schema_version": FEEDBACK_SCHEMA_VERSION,
                    "job_id": item.job_id,
                    "row": item.row,
                    "label": item.label,
                    "value": item.value,
                    "event_time": log.event_time,
                    "feedback_job_id": log.job_id,
                }
            )
        return {"job_id": log.job_id, "accepted": len(items)}


def parse(body: Any) -> list[FeedbackItem]:
    """The feedback items of a decoded body; raises ``InvalidInputError`` saying what is wrong."""
    if isinstance(body, dict):
        return [_item(body, "body")]
    if not isinstance(body, list):
        raise InvalidInputError("body: expected a feedback object or a list of them")
    if not body:
        raise InvalidInputError("body: the list of feedback is empty")
    if len(body) > MAX_FEEDBACK:
        raise InvalidInputError(
            f"body: {len(body)} feedback items; at most {MAX_FEEDBACK} per request"
        )
    return [_item(entry, f"body[{index}]") for index, entry in enumerate(body)]


def _item(entry: Any, where: str) -> FeedbackItem:
    try:
        return _ITEM.validate_python(entry)
    except ValidationError as exc:
        parts = []
        for error in exc.errors(include_url=False):
            place = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            parts.append(f"{where}{place}: {message}")
        raise InvalidInputError("; ".join(parts)) from None
