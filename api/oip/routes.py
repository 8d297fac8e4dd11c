"""The Open Inference Protocol v2's REST routes: parse, call ``OipHandler``, return.

Health and metadata are FastAPI routes; infer is served by ``api.oip.fast`` and only
described here (``INFER_DOCS``). Errors anywhere under ``/v2`` answer the protocol's
``{"error": "<message>"}`` (``api.exchange.error_shape``), with the X-Job-Id header.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.routing import APIRoute

from api import exchange
from api.http import json_response
from api.oip.fast import INFER, INFER_VERSION
from api.oip.handler import OipHandler, error_body, is_oip_path
from api.oip.schemas import (
    ERRORS,
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataServerResponse,
)
from api.schemas import MAX_NAME, inline_schema

exchange.error_shape(is_oip_path, error_body)

router = APIRouter(tags=["open inference protocol v2"])


async def get_oip(request: Request) -> OipHandler:
    """The app's ``OipHandler`` (built in ``create_app``)."""
    handler: OipHandler = request.app.state.oip
    return handler


OipDep = Annotated[OipHandler, Depends(get_oip)]
ModelName = Annotated[str, Path(max_length=MAX_NAME, description="The model's name.")]
ModelVersion = Annotated[str, Path(max_length=MAX_NAME, description="Pin this version.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: ERRORS[404]}
NOT_READY: dict[int | str, dict[str, Any]] = {404: ERRORS[404], 503: ERRORS[503]}


@router.get("/v2/health/live")
async def live() -> Response:
    """The server answers (200)."""
    return json_response({"live": True})


@router.get("/v2/health/ready", responses={503: ERRORS[503]})
async def ready(handler: OipDep) -> Response:
    """Every served model version is loaded (200), else 503."""
    handler.ready()
    return json_response({"ready": True})


@router.get("/v2", response_model=MetadataServerResponse)
async def server_metadata(handler: OipDep) -> Response:
    """The server's name, version and protocol extensions."""
    return json_response(handler.server)


@router.get("/v2/models/{model_name}", response_model=MetadataModelResponse, responses=NOT_FOUND)
async def model_metadata(handler: OipDep, model_name: ModelName) -> Response:
    """The model's versions and its tensors (those of its newest version)."""
    return json_response(handler.model_metadata(model_name, None))


@router.get(
    "/v2/models/{model_name}/versions/{model_version}",
    response_model=MetadataModelResponse,
    responses=NOT_FOUND,
)
async def model_version_metadata(
    handler: OipDep, model_name: ModelName, model_version: ModelVersion
) -> Response:
    """One version's tensors."""
    return json_response(handler.model_metadata(model_name, model_version))


@router.get("/v2/models/{model_name}/ready", responses=NOT_READY)
async def model_ready(handler: OipDep, model_name: ModelName) -> Response:
    """Some version of the model is loaded (200); 404 unknown, 503 not loaded."""
    return json_response(handler.model_ready(model_name, None))


@router.get("/v2/models/{model_name}/versions/{model_version}/ready", responses=NOT_READY)
async def model_version_ready(
    handler: OipDep, model_name: ModelName, model_version: ModelVersion
) -> Response:
    """The version is loaded (200); 404 unknown, 503 not loaded."""
    return json_response(handler.model_ready(model_name, model_version))


async def _infer(model_name: ModelName) -> None:
    """Never called: ``api.oip.fast`` serves infer."""
    raise RuntimeError("infer is served by api.oip.fast")


async def _infer_version(model_name: ModelName, model_version: ModelVersion) -> None:
    """Never called: ``api.oip.fast`` serves infer."""
    raise RuntimeError("infer is served by api.oip.fast")


INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_schema(InferenceRequest)},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "The JSON request (Inference-Header-Content-Length bytes), "
                "then each binary input's bytes (little-endian, row-major).",
            },
        },
    },
    "parameters": [
        {
            "name": "Inference-Header-Content-Length",
            "in": "header",
            "required": False,
            "description": "Binary tensor extension: the JSON header's length; tensor bytes "
            "follow it.",
            "schema": {"type": "integer", "minimum": 1},
        }
    ],
}
INFER_DOCS = [
    APIRoute(
        path,
        endpoint,
        name=name,
        methods=["POST"],
        response_model=InferenceResponse,
        responses=ERRORS,
        openapi_extra=INFER_BODY,
        tags=["open inference protocol v2"],
        summary=summary,
        description="Routed as /predict is (weights, sticky, X-Model-Version), the path's "
        "version pins. Outputs: probabilities (a regressor: prediction), label, "
        "outlier_score, is_outlier; binary when asked (binary tensor extension).",
    )
    for path, endpoint, name, summary in (
        (INFER, _infer, "oip_infer", "Infer"),
        (INFER_VERSION, _infer_version, "oip_infer_version", "Infer with a version"),
    )
]
"""What the OpenAPI schema says of the infer routes (never mounted)."""


def install(app: FastAPI) -> None:
    """Add the routes to ``app``'s own router (no ``include_router`` level)."""
    app.router.routes.extend(router.routes)
