"""The prediction log record: THE one definition every part imports.

Pydantic and stdlib only, so the api imports it without pulling the sidecar in.
The api builds one record per request and sends it as a plain dict (``to_wire``)
with the tag ``TAG``; the sidecar validates what it receives with
``PredictionRecord.model_validate`` and dead-letters what fails.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TAG = "predlog.prediction"
"""Fluentd tag of every prediction record."""

SCHEMA_VERSION: Literal[1] = 1
"""Bumped on every incompatible change of the record's fields."""

Routing = Literal["weighted", "pinned", "shadow"]


class RowResult(BaseModel):
    """What the model answered for one input row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prediction: list[float]
    """Class probabilities, in label order."""
    label: str
    """The most probable class's label."""
    outlier_score: float = Field(ge=0.0, le=1.0)
    """Outlier score in [0, 1]; higher is more unusual."""
    is_outlier: bool
    """Whether outlier_score reached the bundle's threshold."""


class PredictionRecord(BaseModel):
    """One request to the api, as logged: input, output, timing and provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    """Version of this definition that built the record."""
    job_id: str = Field(min_length=1, max_length=64)
    """Unique, time-sortable id of the request (UUIDv7), also in X-Job-Id."""
    request_id: str | None = Field(default=None, max_length=256)
    """The caller's X-Request-Id, if it sent one."""
    event_time: float
    """When the request arrived, seconds since the epoch (microsecond precision)."""
    endpoint: str = Field(max_length=128)
    """Route path, e.g. /predict."""
    method: str = Field(default="POST", max_length=8)
    """HTTP method."""
    status: int = Field(ge=100, le=599)
    """HTTP status of the response."""
    model: str | None = Field(default=None, max_length=128)
    """Name of the model that answered (None when no model was reached)."""
    version: str | None = Field(default=None, max_length=128)
    """Version of the model that answered."""
    routing: Routing | None = None
    """How the version was chosen: by weight, pinned by the caller, or as a shadow."""
    inputs: list[list[float]] | None = None
    """The input rows as the model saw them (None when the body did not parse)."""
    results: list[RowResult] | None = None
    """Per input row, what the model answered (None on error)."""
    latency_ms: float = Field(ge=0.0)
    """Server time from request arrival to response, in milliseconds."""
    inference_ms: float | None = Field(default=None, ge=0.0)
    """Time spent in the model and the outlier detector, in milliseconds."""
    host: str = Field(max_length=255)
    """Host name (pod name on Kubernetes) of the api process."""
    pid: int = Field(ge=0)
    """Process id of the api worker."""
    seq: int = Field(ge=1)
    """Per-process sequence number, from 1 without gaps: a gap is a lost record."""
    error: str | None = Field(default=None, max_length=4096)
    """What was wrong, when the request failed."""

    @field_validator("event_time", "latency_ms")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

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
        return self.model_dump(mode="python")
