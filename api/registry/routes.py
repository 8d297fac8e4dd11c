"""The admin API's routes (``/admin/...``): parse, call the admin handler, return.

Plain ``def`` routes where the handler reads or writes the store: FastAPI runs them in its
thread pool, off the event loop. Every route declares ``CallerDep``: the caller's identity
and roles come from their API key (``Authorization: Bearer <key>``), or, until keys exist,
from being on loopback.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.from_thread
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from api.errors import ModelNotReadyError, PayloadTooLargeError
from api.http import json_response
from api.registry.admin import AdminHandler
from api.registry.auth import Caller
from api.registry.groups import Role
from api.registry.rows import SAFE_NAME

NamePath = Annotated[str, Path(pattern=SAFE_NAME.pattern, max_length=128)]
KeyIdPath = Annotated[str, Path(pattern=r"[0-9a-f]{1,32}", max_length=32)]
ActorHeader = Annotated[
    str | None,
    Header(
        alias="X-Predlog-User",
        max_length=255,
        description="Who asks, before API keys exist (noted in the deploy log); "
        "default: the caller's address. With a key, the key's user.",
    ),
]
ARCHIVE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The bundle directory as a tar.gz (or tar) or zip archive; its kind is "
        "read from its bytes, whatever the Content-Type.",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in (
                "application/gzip",
                "application/x-tar",
                "application/zip",
                "application/octet-stream",
            )
        },
    }
}
BEARER = HTTPBearer(
    auto_error=False,
    description="An API key (`predlog keys create`); none is needed on loopback until one exists.",
)
"""Documents the scheme in OpenAPI; the key itself is read by ``get_caller``."""


async def get_admin(request: Request) -> AdminHandler:
    """The admin handler (503 when the api runs without the registry store)."""
    admin: AdminHandler | None = request.app.state.services.admin
    if admin is None:
        raise ModelNotReadyError(
            "the admin API needs the registry store: start the api with --store"
        )
    return admin


AdminDep = Annotated[AdminHandler, Depends(get_admin)]


def get_caller(
    request: Request,
    admin: AdminDep,
    actor: ActorHeader = None,
    _scheme: Annotated[Any, Depends(BEARER)] = None,
) -> Caller:
    """Who calls, from their API key (401 without a valid one, once keys exist)."""
    client = request.client.host if request.client is not None else "unknown"
    route = request.scope.get("route")
    action = getattr(route, "name", "admin")
    model = request.path_params.get("name")
    return admin.authenticate(request.headers.get("authorization"), client, actor, action, model)


CallerDep = Annotated[Caller, Depends(get_caller)]

router = APIRouter(prefix="/admin", tags=["admin"])


class NewGroup(BaseModel):
    """A group to create."""

    name: Annotated[str, StringConstraints(pattern=SAFE_NAME.pattern, max_length=128)]
    max_versions: Annotated[int | None, Field(ge=1, le=1000)] = None
    max_bundle_bytes: Annotated[int | None, Field(ge=1024, le=1 << 40)] = None


class NewKey(BaseModel):
    """A key to make: for ``user``, with ``role`` on ``group``."""

    user: Annotated[str, StringConstraints(pattern=SAFE_NAME.pattern, max_length=128)]
    group: Annotated[str | None, StringConstraints(pattern=SAFE_NAME.pattern, max_length=128)] = (
        None
    )
    role: Role | None = None


@router.get("/models")
def list_models(admin: AdminDep, caller: CallerDep) -> Response:
    """Every model's versions (state, weight, when and by whom), and each worker's generation."""
    return json_response(admin.index(caller))


@router.get("/models/{name}")
def show_model(admin: AdminDep, caller: CallerDep, name: NamePath) -> Response:
    """One model's versions."""
    return json_response(admin.index(caller, name))


@router.post("/models/{name}/versions", status_code=201, openapi_extra=ARCHIVE_BODY)
async def deploy(
    request: Request,
    admin: AdminDep,
    caller: CallerDep,
    name: NamePath,
    group: Annotated[
        str | None,
        Query(
            pattern=SAFE_NAME.pattern,
            max_length=128,
            description="the group of a new model (default: the key's group)",
        ),
    ] = None,
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

    def read(limit: int) -> bytes:  # in the worker thread, after the caller's role is checked
        return anyio.from_thread.run(_read_limited, request, limit)

    summary = await run_in_threadpool(
        lambda: admin.deploy(
            caller,
            name,
            read,
            group=group,
            mode=mode,
            weight=weight,
            shadow_fraction=shadow_fraction,
        )
    )
    response = json_response(summary)
    response.status_code = 201
    return response


@router.put("/models/{name}/weights")
def set_weights(
    admin: AdminDep,
    caller: CallerDep,
    name: NamePath,
    weights: Annotated[
        dict[
            Annotated[str, StringConstraints(max_length=128)], Annotated[float, Field(ge=0, le=1e6)]
        ],
        Body(examples=[{"3": 90, "2": 10}], max_length=64),
    ],
) -> Response:
    """Set the traffic split: the named serving versions get these weights, the others 0."""
    return json_response(admin.weights(caller, name, weights))


@router.post("/models/{name}/versions/{version}/promote")
def promote(admin: AdminDep, caller: CallerDep, name: NamePath, version: NamePath) -> Response:
    """All of the model's weighted traffic to this version (change)."""
    return json_response(admin.promote(caller, name, version))


@router.post("/models/{name}/rollback")
def rollback(admin: AdminDep, caller: CallerDep, name: NamePath) -> Response:
    """Back to the model's previous traffic split (change)."""
    return json_response(admin.rollback(caller, name))


@router.post("/models/{name}/versions/{version}/retire")
def retire(admin: AdminDep, caller: CallerDep, name: NamePath, version: NamePath) -> Response:
    """Stop serving this version; it stays listed (change: your own; manage: any)."""
    return json_response(admin.retire(caller, name, version))


@router.get("/models/{name}/logs")
def logs(
    admin: AdminDep,
    caller: CallerDep,
    name: NamePath,
    version: Annotated[str | None, Query(pattern=SAFE_NAME.pattern, max_length=128)] = None,
) -> Response:
    """The deploy log (uploaded, weights, loaded on each worker, or the error) and the audit."""
    return json_response(admin.logs(caller, name, version))


@router.get("/groups")
def list_groups(admin: AdminDep, caller: CallerDep) -> Response:
    """The groups you are a member of, with their members and limits."""
    return json_response(admin.groups(caller))


@router.post("/groups", status_code=201)
def create_group(admin: AdminDep, caller: CallerDep, group: NewGroup) -> Response:
    """A new group; you manage it (its limits: the operator only)."""
    return _created(
        admin.create_group(caller, group.name, group.max_versions, group.max_bundle_bytes)
    )


@router.put("/groups/{group}/predict-key")
def predict_key(
    admin: AdminDep,
    caller: CallerDep,
    group: NamePath,
    required: Annotated[
        bool, Query(description="true: the prediction routes of its models need a read key")
    ],
) -> Response:
    """Close (or open) the prediction routes of the group's models to callers without a
    key with the read role on it (manage)."""
    return json_response(admin.set_predict_key(caller, group, required))


@router.get("/groups/{group}/members")
def members(admin: AdminDep, caller: CallerDep, group: NamePath) -> Response:
    """The group's members and their roles (read)."""
    return json_response(admin.members(caller, group))


@router.put("/groups/{group}/members/{user}")
def share(
    admin: AdminDep,
    caller: CallerDep,
    group: NamePath,
    user: NamePath,
    role: Annotated[Role, Query(description="read, change or manage")],
) -> Response:
    """Give a user a role on the group (manage)."""
    return json_response(admin.share(caller, group, user, role))


@router.delete("/groups/{group}/members/{user}")
def unshare(admin: AdminDep, caller: CallerDep, group: NamePath, user: NamePath) -> Response:
    """Take a user out of the group (manage)."""
    return json_response(admin.unshare(caller, group, user))


@router.get("/keys")
def list_keys(admin: AdminDep, caller: CallerDep) -> Response:
    """Your keys and those of the groups you manage (ids, never the keys)."""
    return json_response(admin.keys(caller))


@router.post("/keys", status_code=201)
def create_key(admin: AdminDep, caller: CallerDep, key: NewKey) -> Response:
    """A new key, in the answer once and never again (manage on its group)."""
    return _created(admin.create_key(caller, key.user, key.group, key.role))


@router.post("/keys/{key_id}/revoke")
def revoke_key(admin: AdminDep, caller: CallerDep, key_id: KeyIdPath) -> Response:
    """Revoke a key: from now on it gets 401."""
    return json_response(admin.revoke_key(caller, key_id))


def _created(body: dict[str, Any]) -> Response:
    response = json_response(body)
    response.status_code = 201
    return response


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the bundle is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
