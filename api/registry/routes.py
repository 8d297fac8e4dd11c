"""The admin API's routes (``/admin/...``): parse, call the admin handler, return.

Plain ``def`` routes where the handler reads or writes the store: FastAPI runs them in its
thread pool, off the event loop. Until API keys exist, only loopback callers may use them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from pydantic import Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from api.errors import ModelNotReadyError, PayloadTooLargeError, ServiceError
from api.http import json_response
from api.registry.admin import AdminHandler
from api.registry.rows import SAFE_NAME

NamePath = Annotated[str, Path(pattern=SAFE_NAME.pattern, max_length=128)]
ActorHeader = Annotated[
    str | None,
    Header(
        alias="X-Predlog-User",
        max_length=255,
        description="Who asks (noted in the deploy log); default: the caller's address.",
    ),
]
ARCHIVE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The bundle directory as a tar.gz (or tar) or zip archive.",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("application/gzip", "application/x-tar", "application/zip")
        },
    }
}


class AdminUnauthorizedError(ServiceError):
    """The caller may not use the admin API."""

    status_code = 401


async def get_admin(request: Request) -> AdminHandler:
    """The admin handler, for loopback callers only (until API keys exist)."""
    client = request.client
    host = client.host if client is not None else ""
    if not (host.startswith("127.") or host in ("::1", "localhost")):
        raise AdminUnauthorizedError(
            "the admin API answers loopback callers only (no API keys are configured)"
        )
    admin: AdminHandler | None = request.app.state.services.admin
    if admin is None:
        raise ModelNotReadyError(
            "the admin API needs the registry store: start the api with --store"
        )
    return admin


AdminDep = Annotated[AdminHandler, Depends(get_admin)]

router = APIRouter(prefix="/admin", tags=["admin"])


def _actor(request: Request, actor: str | None) -> str:
    if actor:
        return actor
    client = request.client
    return client.host if client is not None else "unknown"


@router.get("/models")
def list_models(admin: AdminDep) -> Response:
    """Every model's versions (state, weight, when and by whom), and each worker's generation."""
    return json_response(admin.index())


@router.get("/models/{name}")
def show_model(admin: AdminDep, name: NamePath) -> Response:
    """One model's versions."""
    return json_response(admin.index(name))


@router.post("/models/{name}/versions", status_code=201, openapi_extra=ARCHIVE_BODY)
async def deploy(
    request: Request,
    admin: AdminDep,
    name: NamePath,
    actor: ActorHeader = None,
    mode: Annotated[
        Literal["add", "replace", "shadow"],
        Query(description="add beside the serving versions, replace them, or shadow them"),
    ] = "add",
    weight: Annotated[float, Query(ge=0, le=1e6, description="weight when added")] = 1.0,
    shadow_fraction: Annotated[
        float, Query(gt=0, le=1, description="share of requests a shadow gets")
    ] = 1.0,
) -> Response:
    """Upload a bundle and serve it on every worker of every replica within seconds."""
    body = await _read_limited(request, admin.max_bundle_bytes)
    summary = await run_in_threadpool(
        lambda: admin.deploy(
            name,
            body,
            mode=mode,
            weight=weight,
            shadow_fraction=shadow_fraction,
            actor=_actor(request, actor),
        )
    )
    response = json_response(summary)
    response.status_code = 201
    return response


@router.put("/models/{name}/weights")
def set_weights(
    request: Request,
    admin: AdminDep,
    name: NamePath,
    weights: Annotated[
        dict[
            Annotated[str, StringConstraints(max_length=128)], Annotated[float, Field(ge=0, le=1e6)]
        ],
        Body(examples=[{"3": 90, "2": 10}], max_length=64),
    ],
    actor: ActorHeader = None,
) -> Response:
    """Set the traffic split: the named serving versions get these weights, the others 0."""
    return json_response(admin.weights(name, weights, _actor(request, actor)))


@router.post("/models/{name}/versions/{version}/promote")
def promote(
    request: Request, admin: AdminDep, name: NamePath, version: NamePath, actor: ActorHeader = None
) -> Response:
    """All of the model's weighted traffic to this version."""
    return json_response(admin.promote(name, version, _actor(request, actor)))


@router.post("/models/{name}/rollback")
def rollback(
    request: Request, admin: AdminDep, name: NamePath, actor: ActorHeader = None
) -> Response:
    """Back to the model's previous traffic split."""
    return json_response(admin.rollback(name, _actor(request, actor)))


@router.post("/models/{name}/versions/{version}/retire")
def retire(
    request: Request, admin: AdminDep, name: NamePath, version: NamePath, actor: ActorHeader = None
) -> Response:
    """Stop serving this version (it stays listed)."""
    return json_response(admin.retire(name, version, _actor(request, actor)))


@router.get("/models/{name}/logs")
def logs(
    admin: AdminDep,
    name: NamePath,
    version: Annotated[str | None, Query(pattern=SAFE_NAME.pattern, max_length=128)] = None,
) -> Response:
    """The deploy log: uploaded, checked, weights, loaded on each worker, or the error."""
    return json_response(admin.logs(name, version))


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the bundle is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
