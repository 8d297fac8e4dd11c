"""The one request path: a request's context plus its outcome or exception becomes status,
body, headers and its record.

Every route goes through here, whichever way it is entered: the plain-ASGI prediction routes
(``api.fastpath``) and FastAPI's routes (``RequestLogMiddleware`` and the exception handlers
of ``api.app``). ``begin`` gives a request its job_id and log entry, ``failure`` maps any
exception to its answer, ``send_reply`` sends a JSON answer with ``X-Job-Id``, and
``Services.finish`` counts the request and emits its one record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import Scope, Send

from api.errors import ServiceError
from api.job_ids import new_job_id
from api.records import RequestLog

log = logging.getLogger(__name__)

SCOPE_KEY = "predlog.log"
"""Where the request's ``RequestLog`` lives in the ASGI scope."""
UNMATCHED = "<unmatched>"
"""Endpoint label in metrics for paths no route matched (keeps label cardinality bounded)."""


@dataclass(slots=True)
class Reply:
    """An answer: status, body, and headers beyond content-type, -length and X-Job-Id."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    content_type: bytes = b"application/json"


ErrorShape = Callable[[int, str, str], bytes]
"""(status, kind, message) -> an error body in the shape of a protocol the api speaks."""
_SHAPES: list[tuple[Callable[[str], bool], ErrorShape]] = []


def error_shape(matches: Callable[[str], bool], shape: ErrorShape) -> None:
    """Answer errors on the paths that ``matches`` in ``shape`` instead of predlog's own
    (the Open Inference Protocol's ``/v2``, the legacy call shapes): called once, at import."""
    _SHAPES.append((matches, shape))


def begin(scope: Scope, sticky_header: bytes = b"") -> RequestLog:
    """A new job_id and the request's log entry, with the headers the record and the
    routing need (``sticky_header``: lower-case name of the sticky-routing header, or b"")."""
    request_log = RequestLog(new_job_id(), scope["method"], scope["path"])
    for name, value in scope["headers"]:
        if name == b"content-type":
            request_log.content_type = value.decode("latin-1")
        elif name == b"content-length":
            request_log.content_length = int(value) if value.isdigit() else None
        elif name == b"x-request-id":
            request_log.request_id = value.decode("latin-1")
        elif name == b"x-model-version":
            request_log.pinned = value.decode("latin-1")
        elif name == b"authorization":
            request_log.authorization = value.decode("latin-1")
        if name == sticky_header:
            request_log.sticky = value.decode("latin-1")
    return request_log


def error_body(status: int, kind: str, message: str) -> bytes:
    """The JSON error body every failure gets: ``{"error": {"type", "message", "status"}}``."""
    return orjson.dumps({"error": {"type": kind, "message": message, "status": status}})


def failure(scope: Scope, request_log: RequestLog, exc: Exception) -> Reply:
    """The answer to ``exc``, noted in ``request_log``, in the shape of the path's protocol."""
    reply, kind, message = _failure(scope, request_log, exc)
    path: str = scope["path"]
    for matches, shape in _SHAPES:
        if matches(path):
            reply.body = shape(reply.status, kind, message)
            break
    return reply


def _failure(scope: Scope, request_log: RequestLog, exc: Exception) -> tuple[Reply, str, str]:
    """The answer to ``exc``, noted in ``request_log``; an unexpected one is logged as a 500."""
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(exc, ServiceError):
        status, kind, message = exc.status_code, type(exc).__name__, exc.message
    elif isinstance(exc, HTTPException):
        status, kind, message = exc.status_code, _kind(exc.status_code), str(exc.detail)
        path = scope["path"]
        if status == 404:
            message = f"no route for {scope['method']} {path}"
        elif status == 405:
            message = f"method {scope['method']} is not allowed on {path}"
        headers = [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
    elif isinstance(exc, RequestValidationError):
        status, kind, message = 422, "InvalidInputError", _validation_message(exc)
    else:
        log.error(
            "unhandled error in %s %s (job %s)",
            scope["method"],
            scope["path"],
            request_log.job_id,
            exc_info=exc,
        )
        request_log.error = request_log.error or f"internal error: {exc!r}"
        message = f"internal error (job_id {request_log.job_id})"
        return Reply(500, error_body(500, "InternalError", message)), "InternalError", message
    request_log.error = message
    return Reply(status, error_body(status, kind, message), headers), kind, message


async def send_reply(send: Send, reply: Reply, job_id: str) -> None:
    """Send ``reply`` (Starlette's headers, plus X-Job-Id)."""
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [
                (b"content-length", str(len(reply.body)).encode()),
                (b"content-type", reply.content_type),
                *reply.headers,
                (b"x-job-id", job_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": reply.body})


def _kind(status: int) -> str:
    return HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
