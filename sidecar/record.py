"""The prediction log record: THE one definition every part imports.

msgspec and stdlib only, so the api imports it without pulling the sidecar in. The api
builds one record per request and sends it as a plain dict (``to_wire``) with the tag
``TAG``; the sidecar decodes what it receives straight into ``PredictionRecord`` (the
constraints below are checked while decoding, in C) and dead-letters what fails, with
``reason`` as the why. Ground truth that arrives later is a ``FeedbackRecord`` of its own
tag (``FEEDBACK_TAG``), decoded and dead-lettered the same way.

A record is only validated when it is decoded (``validate_record``, or a decoder typed
with ``PredictionRecord``); constructing one in Python checks nothing.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

TAG = "predlog.prediction"
"""Fluentd tag of every prediction record."""

SCHEMA_VERSION: Literal[1] = 1
"""Bumped on every incompatible change of the record's fields."""

Routing = Literal["weighted", "pinned", "sticky", "shadow"]

MAX_EPOCH = 253_370_764_800.0
"""Event times are before this (year 9999 begins): every store and platform holds them."""

_MAX_FLOAT = sys.float_info.max
Finite = Annotated[float, Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]
"""A float that is neither NaN nor infinite (both fail these bounds)."""
NonNegative = Annotated[float, Meta(ge=0.0, le=_MAX_FLOAT)]
"""A finite float >= 0."""

RecordError = msgspec.ValidationError
"""What decoding raises for a record that breaks this definition."""


class RowResult(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """What the model answered for one input row."""

    prediction: list[Finite]
    """A classifier's class probabilities, in label order; a regressor's one value."""
    label: str | None = None
    """The most probable class's label (a classifier's; None from a regressor)."""
    outlier_score: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    """Outlier score in [0, 1]; higher is more unusual (None: the version has no detector,
    a remote version whose bundle brings none)."""
    is_outlier: bool | None = None
    """Whether outlier_score reached the bundle's threshold (None without a detector)."""


class PredictionRecord(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """One request to the api, as logged: input, output, timing and provenance."""

    schema_version: Literal[1] = SCHEMA_VERSION
    """Version of this definition that built the record."""
    job_id: Annotated[str, Meta(min_length=1, max_length=64)]
    """Unique, time-sortable id of the request (UUIDv7), also in X-Job-Id."""
    request_id: Annotated[str, Meta(max_length=256)] | None = None
    """The caller's X-Request-Id, if it sent one."""
    event_time: Annotated[float, Meta(ge=0.0, lt=MAX_EPOCH)]
    """When the request arrived, seconds since the epoch (microsecond precision)."""
    endpoint: Annotated[str, Meta(max_length=128)]
    """Route path, e.g. /predict."""
    method: Annotated[str, Meta(max_length=8)] = "POST"
    """HTTP method."""
    status: Annotated[int, Meta(ge=100, le=599)]
    """HTTP status of the response."""
    model: Annotated[str, Meta(max_length=128)] | None = None
    """Name of the model that answered (None when no model was reached)."""
    version: Annotated[str, Meta(max_length=128)] | None = None
    """Version of the model that answered."""
    routing: Routing | None = None
    """How the version was chosen: by weight, pinned by the caller, or as a shadow."""
    shadow_of: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    """For a shadow version's record (routing ``shadow``): the job_id of the request whose
    copy it answered. Its answer was never returned to the caller."""
    inputs: list[list[Finite]] | None = None
    """The input rows as the model saw them (None when the body did not parse)."""
    results: list[RowResult] | None = None
    """Per input row, what the model answered (None on error)."""
    latency_ms: NonNegative
    """Server time from request arrival to response, in milliseconds."""
    inference_ms: NonNegative | None = None
    """Time spent in the model and the outlier detector, in milliseconds."""
    upstream_ms: NonNegative | None = None
    """A remote version's: the upstream call's time, in milliseconds (within inference_ms;
    None for a local version)."""
    host: Annotated[str, Meta(max_length=255)]
    """Host name (pod name on Kubernetes) of the api process."""
    pid: Annotated[int, Meta(ge=0, le=2**31 - 1)]
    """Process id of the api worker."""
    run_id: Annotated[str, Meta(max_length=64)] | None = None
    """Random id the api process draws when it starts. A process restarted with the same
    pid (a container restarted in its pod) starts ``seq`` again under a new run_id, so
    (host, pid, run_id) names one sequence. None from senders that do not set it."""
    seq: Annotated[int, Meta(ge=1, le=2**63 - 1)]
    """Per-process sequence number, from 1 without gaps: a gap is a lost record."""
    error: Annotated[str, Meta(max_length=4096)] | None = None
    """What was wrong, when the request failed."""

    @property
    def is_error(self) -> bool:
        """Whether the request failed (HTTP status 400 or more)."""
        return self.status >= 400

    @property
    def is_outlier(self) -> bool:
        """Whether any row of the request was flagged as an outlier."""
        return any(r.is_outlier for r in self.results or ())

    def to_wire(self) -> dict[str, Any]:
        """The record as the plain dict that goes over the forward protocol."""
        wire: dict[str, Any] = msgspec.to_builtins(self)
        return wire


FIELDS: tuple[str, ...] = PredictionRecord.__struct_fields__
"""The record's field names, in definition order (the keys of ``to_wire``)."""
RESULT_FIELDS: tuple[str, ...] = RowResult.__struct_fields__


def validate_record(data: Any) -> PredictionRecord:
    """``data`` (a decoded dict) checked against the definition; raises ``RecordError``."""
    return msgspec.convert(data, PredictionRecord)


_NOT_FINITE = re.compile(r"Expected `float` [<>]= -?1\.7976931348623157e\+308")


def reason(exc: msgspec.ValidationError) -> str:
    """Why a record failed, in words (``exc`` names the field, e.g. ``$.seq``)."""
    return _NOT_FINITE.sub("Expected a finite `float`", str(exc))


FEEDBACK_TAG = "predlog.feedback"
"""Fluentd tag of every feedback (ground truth) record."""

FEEDBACK_SCHEMA_VERSION: Literal[1] = 1
"""Bumped on every incompatible change of the feedback record's fields."""

MAX_LABEL = 128
"""Longest label a feedback record carries."""


class FeedbackRecord(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """The truth about one row of one logged request, known later: a label or a value.

    Keyed by (job_id, row); joined to the prediction with that job_id when both are stored,
    in either order. Exactly one of ``label`` (a classifier's truth) and ``value`` (a
    regressor's) is set: checked while decoding, like the constraints.
    """

    schema_version: Literal[1] = FEEDBACK_SCHEMA_VERSION
    """Version of this definition that built the record."""
    job_id: Annotated[str, Meta(min_length=1, max_length=64)]
    """The job_id of the prediction this is the truth for."""
    row: Annotated[int, Meta(ge=0, le=2**31 - 1)] = 0
    """Which input row of that request (0 for a one-row request)."""
    label: Annotated[str, Meta(min_length=1, max_length=MAX_LABEL)] | None = None
    """The true class label (a classifier's truth)."""
    value: Finite | None = None
    """The true value (a regressor's truth)."""
    event_time: Annotated[float, Meta(ge=0.0, lt=MAX_EPOCH)]
    """When the api received the feedback, seconds since the epoch."""
    feedback_job_id: Annotated[str, Meta(max_length=64)] | None = None
    """The job_id of the ``POST /feedback`` request that carried it (its own log record)."""

    def __post_init__(self) -> None:
        # Raised while decoding, msgspec turns this into a ValidationError (RecordError).
        if (self.label is None) == (self.value is None):
            raise ValueError("Expected exactly one of `label` and `value`")

    def to_wire(self) -> dict[str, Any]:
        """The record as the plain dict that goes over the forward protocol."""
        wire: dict[str, Any] = msgspec.to_builtins(self)
        return wire


FEEDBACK_FIELDS: tuple[str, ...] = FeedbackRecord.__struct_fields__
"""The feedback record's field names, in definition order."""


def validate_feedback(data: Any) -> FeedbackRecord:
    """``data`` (a decoded dict) checked against ``FeedbackRecord``; raises ``RecordError``."""
    return msgspec.convert(data, FeedbackRecord)
