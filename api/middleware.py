"""The request-log middleware: a job_id and ``X-Job-Id`` on every response, one record each.

Plain ASGI (no ``BaseHTTPMiddleware``: it costs a task and a stream per request). It runs for
every request, so unknown routes, 405s and unexpected exceptions get a job_id, an error body
and a record too. Handlers fill the ``RequestLog``; the record is built once the app is done.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.records import RequestLog

if TYPE_CHECKING:
    from api.services import Services

log = logging.getLogger(__name__)

SCOPE_KEY = "predlog.log"
"""Where the request's ``RequestLog`` lives in the ASGI scope."""
UNMATCHED = "<unmatched>"
"""Endpoint label in metrics for paths no route matched (keeps label cardinality bounded)."""


_last_stamp = 0
_random = b""
_random_at = 0
_RANDOM_BATCH = 4096  # bytes of os.urandom per refill: one syscall per 512 ids


def new_job_id() -> str:
    """A UUIDv7 (RFC 9562): unique across processes and restarts, sorting by creation time.

    48-bit Unix milliseconds, then (method 3) a 12-bit fraction of the millisecond, then 62
    random bits. Within a process ids strictly increase. Written here rather than taken from
    ``uuid6.uuid7``, which costs twice as much and, past 1000 ids a second in one process,
    bumps its millisecond field ahead of the clock (ids from a busy worker would then sort
    after later ones from an idle worker); here that happens only past 4 million a second.
    Called by the event loop only (no lock).
    """
    global _last_stamp, _random, _random_at  # noqa: PLW0603 - per-process generator state
    stamp = time.time_ns() * 4096 // 1_000_000  # (ms << 12) | sub-millisecond fraction
    if stamp <= _last_stamp:
        stamp = _last_stamp + 1
    _last_stamp = stamp
    if _random_at >= len(_random):
        _random, _random_at = os.urandom(_RANDOM_BATCH), 0
    r = _random[_random_at : _random_at + 8].hex()
    _random_at += 8
    t = f"{stamp:015x}"
    return f"{t[:8]}-{t[8:12]}-7{t[12:]}-{_VARIANT[int(r[0], 16) >> 2]}{r[1:4]}-{r[4:]}"


_VARIANT = "89ab"  # the RFC 4122/9562 variant: the top two bits of the clock_seq field are 10


def _forget_random() -> None:
    # A forked child must not reuse its parent's unused random bytes: duplicate ids.
    global _random, _random_at
    _random, _random_at = b"", 0


os.register_at_fork(after_in_child=_forget_random)


def error_body(status: int, kind: str, message: str) -> bytes:
    """The JSON error body every failure gets: ``{"error": {"type", "message", "status"}}``."""
    return orjson.dumps({"error": {"type": kind, "message": message, "status": status}})


def start_request(scope: Scope) -> RequestLog:
    """A new job_id and the request's log entry, with the headers the record needs."""
    request_log = RequestLog(new_job_id(), scope["method"], scope["path"])
    for name, value in scope["headers"]:
        if name == b"content-type":
            request_log.content_type = value.decode("latin-1")
        elif name == b"content-length":
            request_log.content_length = int(value) if value.isdigit() else None
        elif name == b"x-request-id":
            request_log.request_id = value.decode("latin-1")
    return request_log


def internal_error(scope: Scope, request_log: RequestLog, exc: Exception) -> bytes:
    """Log an unexpected exception, note it in the request log; the body of its JSON 500."""
    job_id = request_log.job_id
    log.error(
        "unhandled error in %s %s (job %s)", scope["method"], scope["path"], job_id, exc_info=exc
    )
    request_log.error = request_log.error or f"internal error: {exc!r}"
    return error_body(500, "InternalError", f"internal error (job_id {job_id})")


def json_start(status: int, body: bytes, job_id: str) -> Message:
    """The ``http.response.start`` message of a JSON body (Starlette's headers, plus X-Job-Id)."""
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            (b"x-job-id", job_id.encode()),
        ],
    }


class RequestLogMiddleware:
    """Gives each HTTP request a job_id and emits exactly one record when it is answered."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_log = start_request(scope)
        scope[SCOPE_KEY] = request_log
        job_header = (b"x-job-id", request_log.job_id.encode())
        status = 500
        started = False

        async def send_with_job_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), job_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_job_id)
        except Exception as exc:
            body = internal_error(scope, request_log, exc)
            if started:
                raise  # mid-response: only closing the connection is left
            status = 500
            await send(json_start(500, body, request_log.job_id))
            await send({"type": "http.response.body", "body": body})
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", UNMATCHED) if route is not None else UNMATCHED
            self.services.finish(request_log, status, endpoint, time.perf_counter())
