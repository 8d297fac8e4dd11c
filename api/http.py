"""HTTP plumbing of the prediction routes: the body, the query, JSON out."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response
from starlette.datastructures import QueryParams
from starlette.types import Receive

from api.errors import InvalidInputError
from api.inputs import ClientGoneError, check_content, too_large
from api.records import RequestLog
from api.schemas import MAX_NAME


def pins(query_string: bytes) -> tuple[str | None, str | None]:
    """The ``model`` and ``version`` query parameters (None when absent)."""
    if not query_string:
        return None, None
    params = QueryParams(query_string)  # what request.query_params would parse
    model, version = params.get("model"), params.get("version")
    for name, value in (("model", model), ("version", version)):
        if value is not None and len(value) > MAX_NAME:
            raise InvalidInputError(
                f"query parameter {name!r} is longer than {MAX_NAME} characters"
            )
    return model, version


def json_response(body: Any, status_code: int = 200) -> Response:
    """Serialise with orjson (numpy-free dicts of floats, bools and strings)."""
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


async def read_body(receive: Receive, log: RequestLog, limit: int) -> bytes:
    """The request body, refusing a non-JSON content type and anything over ``limit`` bytes."""
    check_content(log.content_type, log.content_length, limit)
    return await receive_body(receive, limit)


async def receive_body(receive: Receive, limit: int) -> bytes:
    """The request body, refusing anything over ``limit`` bytes (whatever its content type)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientGoneError("the client disconnected before sending the whole body")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
