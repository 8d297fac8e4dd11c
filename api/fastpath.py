"""The prediction routes' fast path: plain ASGI in front of FastAPI's middleware and router.

``POST /predict`` and ``POST /predict/label`` are nearly all of the traffic. Through FastAPI
each one crosses its telemetry check, body-limit, error and exception middleware, an exit
stack, the router and the Request/Response objects: more CPU than the model itself. ``PredlogApi``
answers those two routes directly with the same handlers, errors, headers and log record, and
hands every other request (and any other method on those paths) to FastAPI. The routes are
still declared in FastAPI, so ``/docs`` shows them and they answer alike without the fast
path (a test compares both). FastAPI's native telemetry does not see the fast-path requests;
the api's own metrics and log record do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from api.errors import ServiceError
from api.http import pins, read_body
from api.middleware import error_body, internal_error, json_start, start_request
from api.records import RequestLog
from api.services import Services

Answer = Callable[[RequestLog, bytes, str | None, str | None], dict[str, Any]]
"""A handler method: (request log, body, model, version) -> response body."""


def route_path(scope: Scope) -> str:
    """The path the router matches: ``path`` without the ``root_path`` prefix (as Starlette)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class PredlogApi(FastAPI):
    """FastAPI, with ``POST /predict`` and ``POST /predict/label`` served by ``serve_fast``."""

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        predictions = services.predictions
        self.fast_routes: dict[str, Answer] = {
            "/predict": predictions.predict,
            "/predict/label": predictions.predict_label,
        }
        """Route path -> the handler method that answers it on the fast path."""
        self._finish = services.finish
        self._max_body = services.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not self.root_path:
            path = route_path(scope)
            answer = self.fast_routes.get(path)
            if answer is not None:
                await self.serve_fast(scope, receive, send, path, answer)
                return
        await super().__call__(scope, receive, send)

    async def serve_fast(
        self, scope: Scope, receive: Receive, send: Send, endpoint: str, answer: Answer
    ) -> None:
        """Answer one prediction request and emit its record; what the FastAPI route does."""
        request_log = start_request(scope)
        status = 500
        started = False
        try:
            try:
                body = await read_body(receive, request_log, self._max_body)
                model, version = pins(scope["query_string"])
                content = orjson.dumps(answer(request_log, body, model, version))
                status = 200
            except ServiceError as exc:  # bad input, unknown model: what app._error answers
                status = exc.status_code
                request_log.error = exc.message
                content = error_body(status, type(exc).__name__, exc.message)
            started = True
            await send(json_start(status, content, request_log.job_id))
            await send({"type": "http.response.body", "body": content})
        except Exception as exc:
            content = internal_error(scope, request_log, exc)
            if started:
                raise  # mid-response: only closing the connection is left
            status = 500
            await send(json_start(500, content, request_log.job_id))
            await send({"type": "http.response.body", "body": content})
        finally:
            self._finish(request_log, status, endpoint, time.perf_counter())
