"""The request-log middleware: FastAPI's routes enter the one request path (``api.exchange``).

Plain ASGI (no ``BaseHTTPMiddleware``: it costs a task and a stream per request). It runs for
every request FastAPI serves, so unknown routes, 405s and unexpected exceptions get a job_id,
an error body and a record too. Handlers fill the ``RequestLog``; the record is built once
the app is done. The prediction routes never come here: ``api.fastpath`` serves them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.exchange import SCOPE_KEY, UNMATCHED, begin, failure, send_reply

if TYPE_CHECKING:
    from api.services import Services


class RequestLogMiddleware:
    """Gives each HTTP request a job_id and emits exactly one record when it is answered."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        self.sticky = (services.settings.sticky_header or "").lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_log = begin(scope, self.sticky)
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
                self.services.reserve(request_log)
            await send(message)

        try:
            await self.app(scope, receive, send_with_job_id)
        except Exception as exc:
            reply = failure(scope, request_log, exc)
            if started:
                raise  # mid-response: only closing the connection is left
            status = reply.status
            self.services.reserve(request_log)
            await send_reply(send, reply, request_log.job_id)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", UNMATCHED) if route is not None else UNMATCHED
            self.services.finish(request_log, status, endpoint, time.perf_counter())
