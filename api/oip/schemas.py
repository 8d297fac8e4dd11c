"""The Open Inference Protocol v2's JSON objects, for the OpenAPI docs and the metadata answers.

The infer request is parsed by ``api.oip.request`` (orjson, checks of its own: the binary
tensor extension puts raw bytes after the JSON); these models say what it accepts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import MAX_NAME

MAX_TENSORS = 8
"""Most input or requested-output tensors per infer request."""

Datatype = Literal["FP32", "FP64"]
"""The input datatypes accepted (the models compute in float32; FP64 values must fit it)."""
OUTPUT_DATATYPES = ("FP32", "BYTES", "FP64", "BOOL")

PROBABILITIES = "probabilities"
"""A classifier's output: FP32 [n, labels], class probabilities in label order."""
PREDICTION = "prediction"
"""A regressor's output: FP32 [n, 1], the predicted value."""
LABEL = "label"
"""BYTES [n]: the most probable class's label (classifiers only)."""
OUTLIER_SCORE = "outlier_score"
"""FP64 [n]: the outlier score in [0, 1]."""
IS_OUTLIER = "is_outlier"
"""BOOL [n]: whether the outlier score reached the bundle's threshold."""

Parameters = dict[str, Any]


class RequestInput(BaseModel):
    """One input tensor: the model's rows, ``shape`` [rows, features] (or [features])."""

    name: str = Field(max_length=MAX_NAME)
    """The model's input name (``GET /v2/models/{name}`` says it)."""
    shape: list[int] = Field(min_length=1, max_length=2)
    datatype: Datatype
    parameters: Parameters | None = None
    """``binary_data_size``: the tensor's bytes follow the JSON (binary tensor extension)."""
    data: list[Any] | None = None
    """Row-major values, flat or nested; absent when sent as binary."""


class RequestOutput(BaseModel):
    """An output asked for by name; ``parameters.binary_data`` answers it as binary."""

    name: Literal["probabilities", "prediction", "label", "outlier_score", "is_outlier"]
    parameters: Parameters | None = None


class InferenceRequest(BaseModel):
    """``POST /v2/models/{name}[/versions/{v}]/infer``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [
                        {
                            "name": "input",
                            "shape": [1, 4],
                            "datatype": "FP32",
                            "data": [6.7, 3.0, 5.2, 2.3],
                        }
                    ],
                }
            ]
        }
    )

    id: str | None = Field(default=None, max_length=256)
    """The caller's request id: answered back, and the record's request id."""
    parameters: Parameters | None = None
    """``binary_data_output: true`` answers every output as binary."""
    inputs: list[RequestInput] = Field(min_length=1, max_length=1)
    outputs: list[RequestOutput] | None = Field(default=None, max_length=MAX_TENSORS)
    """The outputs wanted (default: all of them)."""


class ResponseOutput(BaseModel):
    """One output tensor."""

    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    """The answer: one tensor per output, ``parameters.job_id`` the record's job_id."""

    model_name: str
    model_version: str
    id: str
    parameters: Parameters
    outputs: list[ResponseOutput]


class MetadataTensor(BaseModel):
    """A tensor's name, datatype and shape (-1: any number of rows)."""

    name: str
    datatype: str
    shape: list[int]


class MetadataServerResponse(BaseModel):
    """``GET /v2``."""

    name: str
    version: str
    extensions: list[str]


class MetadataModelResponse(BaseModel):
    """``GET /v2/models/{name}[/versions/{v}]``."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: Parameters


class ErrorResponse(BaseModel):
    """Every error on ``/v2``: the protocol's shape; the job_id is in X-Job-Id."""

    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Malformed JSON or tensors that do not fit the model.",
        404: "Unknown model or version.",
        413: "Body over the size limit.",
        415: "Content-Type is neither JSON nor application/octet-stream.",
        422: "Wrong path parameters, non-finite numbers or too many rows.",
        503: "Model not loaded yet.",
    }.items()
}
