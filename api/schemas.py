"""Request and response shapes, for the OpenAPI docs (the hot path parses with orjson itself)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, JsonValue

MAX_NAME = 128
"""Longest model or version name accepted in a query parameter."""
SAMPLE_ROW: list[JsonValue] = [6.7, 3.0, 5.2, 2.3]
SETOSA_ROW: list[JsonValue] = [5.1, 3.5, 1.4, 0.2]
SAMPLE_JOB_ID = "019a9c5e-2f1b-7c3e-9a51-3b1f0c2d4e5f"


class PredictRequest(BaseModel):
    """Rows of features, one list per row, in the order of the model's feature_names."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": [SAMPLE_ROW]}, {"data": [SAMPLE_ROW, SETOSA_ROW]}]}
    )

    data: list[list[float]] = Field(min_length=1)
    """Input rows: finite numbers only (no strings, booleans, null, NaN or Infinity)."""


class PredictResponse(BaseModel):
    """One row: flat fields (the prediction-log pattern's shape); several rows: one entry each."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": SAMPLE_JOB_ID,
                    "prediction": [0.01, 0.01, 0.98],
                    "is_outlier": False,
                    "outlier_score": 0.44,
                    "model": "iris",
                    "version": "1",
                }
            ]
        }
    )

    job_id: str
    prediction: list[float] | list[list[float]]
    """Class probabilities in label order, or a regressor's ``[value]`` (a list of them for
    several rows)."""
    is_outlier: bool | list[bool]
    outlier_score: float | list[float]
    """In [0, 1]; higher is more unusual."""
    model: str
    version: str


class LabelPrediction(BaseModel):
    """The most probable label and its probability."""

    proba: float
    label: str


class PredictLabelResponse(BaseModel):
    """Like ``PredictResponse``, with the most probable label instead of probabilities."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": SAMPLE_JOB_ID,
                    "prediction": {"proba": 0.98, "label": "virginica"},
                    "is_outlier": False,
                    "outlier_score": 0.44,
                    "model": "iris",
                    "version": "1",
                }
            ]
        }
    )

    job_id: str
    prediction: LabelPrediction | list[LabelPrediction]
    is_outlier: bool | list[bool]
    outlier_score: float | list[float]
    model: str
    version: str


class RowResult(BaseModel):
    """What the model answered for one input row (the log record's ``RowResult`` too)."""

    prediction: list[float]
    """Class probabilities, in label order; a regressor's ``[value]``."""
    label: str | None = None
    """The most probable class's label (absent for a regressor)."""
    outlier_score: float = Field(ge=0.0, le=1.0)
    """Outlier score in [0, 1]; higher is more unusual."""
    is_outlier: bool
    """Whether outlier_score reached the bundle's threshold."""


class BatchResponse(BaseModel):
    """One result per input row, in input order."""

    job_id: str
    model: str
    version: str
    results: list[RowResult]


class ErrorDetail(BaseModel):
    """What was wrong."""

    type: str
    """Error class, e.g. InvalidInputError, MalformedRequestError, ModelNotFoundError."""
    message: str
    """A sentence that says what was wrong and where."""
    status: int


class ErrorResponse(BaseModel):
    """Every error answer; the job_id is in the X-Job-Id header."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "type": "InvalidInputError",
                        "message": "data[0] has 3 values; the model expects 4 features",
                        "status": 422,
                    }
                }
            ]
        }
    )

    error: ErrorDetail


class HealthResponse(BaseModel):
    """Liveness."""

    health: str = "ok"


MetadataResponse = dict[str, Any]


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its nested models written in place: an OpenAPI request
    body given by ``openapi_extra`` cannot point into pydantic's ``$defs``."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Malformed JSON.",
        401: "The model's group needs a read key (predict key) and none, an unknown or a "
        "revoked one came.",
        403: "The key's user has no role on the model's group (predict key).",
        404: "Unknown model or version.",
        413: "Body over the size limit.",
        415: "Content-Type is not application/json.",
        422: "Wrong shape, wrong types, non-finite numbers or too many rows.",
        503: "Model not loaded yet.",
    }.items()
}
"""The error answers every prediction endpoint documents."""

ModelQuery = Annotated[
    str | None,
    Query(description="Model name; default: the first model served.", max_length=MAX_NAME),
]
VersionQuery = Annotated[
    str | None,
    Query(
        description="Pin this version (routing 'pinned'); default: chosen by weight.",
        max_length=MAX_NAME,
    ),
]

PIN_HEADER: dict[str, Any] = {
    "name": "X-Model-Version",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": MAX_NAME},
    "description": "Pin this version, as ?version= does (the query wins when both are given).",
}
"""The pin header: read by the one request path (``api.exchange.begin``) for every route."""
PIN_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "model",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": MAX_NAME},
        "description": "Model name; default: the first model served.",
    },
    {
        "name": "version",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": MAX_NAME},
        "description": "Pin this version (routing 'pinned'); default: chosen by weight.",
    },
    PIN_HEADER,
]
PREDICT_SECURITY: list[dict[str, list[str]]] = [{}, {"HTTPBearer": []}]
"""No key, unless the model's group needs a read key for predictions (``predlog groups
predict-key``): then ``Authorization: Bearer <key>``."""
REQUEST_BODY: dict[str, Any] = {
    "security": PREDICT_SECURITY,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": PredictRequest.model_json_schema(),
                "examples": {
                    "one row": {"value": {"data": [SAMPLE_ROW]}},
                    "two rows": {"value": {"data": [SAMPLE_ROW, SETOSA_ROW]}},
                },
            }
        },
    },
}


PREDICT_DOCS: dict[str, Any] = {**REQUEST_BODY, "parameters": PIN_PARAMETERS}
"""The fast routes' documentation (FastAPI declares no parameters of theirs)."""
PINNED_BODY_DOCS: dict[str, Any] = {**REQUEST_BODY, "parameters": [PIN_HEADER]}
"""A FastAPI route with a body: its query parameters are declared, the header added here."""
