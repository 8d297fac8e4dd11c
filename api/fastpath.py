"""The prediction routes, served in plain ASGI ahead of FastAPI's middleware and router.

``POST /predict`` and ``POST /predict/label`` are nearly all of the traffic. Through FastAPI
each one would cross its telemetry check, body-limit, error and exception middleware, an exit
stack, the router and the Request/Response objects: more CPU than the model itself. So
``PredlogApi`` serves these paths itself, every method on them, and FastAPI never does:
this is their only path. It goes through ``api.exchange`` like every other route (the job_id,
the error answers, the headers, the one record). FastAPI only documents them: their OpenAPI
entries come from route objects that describe them and are never mounted. FastAPI's own
telemetry does not see these requests; the api's metrics and log record do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from api.exchange import Reply, begin, failure, send_reply
from api.handlers import Answered
from api.http import pins, read_body
from api.records import RequestLog
from api.services import Services

Answer = Callable[[RequestLog, bytes, str | None, str | None], Answered]
"""A handler method: (request log, body, model, version) -> response body (or, for a remote
version, a coroutine that gives it)."""


class PatternRoute(Protocol):
    """A route served here by its path's pattern (the Open Inference Protocol's infer)."""

    def match(self, path: str) -> tuple[str, str | None] | None:
        """The path's (model, version) if this route serves it, else None."""

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, matched: tuple[str, str | None]
    ) -> None:
        """Answer one request through ``api.exchange`` and emit its record."""


def route_path(scope: Scope) -> str:
    """The path the router matches: ``path`` without the ``root_path`` prefix (as Starlette)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class PredlogApi(FastAPI):
    """FastAPI, with the prediction routes (``fast_routes``) served by ``serve_fast``."""

    def __init__(
        self,
        services: Services,
        fast_routes: Mapping[str, Answer],
        documented: Sequence[APIRoute],
        pattern_routes: Sequence[PatternRoute] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fast_routes = dict(fast_routes)
        """Route path -> the handler method that answers ``POST`` on it (exact paths only)."""
        self.pattern_routes = tuple(pattern_routes)
        """Routes matched by pattern, after the exact paths and before FastAPI's router."""
        self.documented = list(documented)
        """Route objects that describe the fast routes to the OpenAPI schema (never mounted)."""
        self._finish = services.finish
        self._reserve = services.reserve
        self._max_body = services.settings.max_body_bytes
        self._sticky = (services.settings.sticky_header or "").lower().encode("latin-1")
        self._documented_into: dict[str, Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.root_path:  # what FastAPI.__call__ does before routing
                scope["root_path"] = self.root_path
            path = route_path(scope)
            answer = self.fast_routes.get(path)
            if answer is not None:
                await self.serve_fast(scope, receive, send, path, answer)
                return
            for route in self.pattern_routes:
                matched = route.match(path)
                if matched is not None:
                    await route.serve(scope, receive, send, matched)
                    return
        await super().__call__(scope, receive, send)

    async def serve_fast(
        self, scope: Scope, receive: Receive, send: Send, endpoint: str, answer: Answer
    ) -> None:
        """Answer one request on a prediction route and emit its record."""
        request_log = begin(scope, self._sticky)
        reply = Reply(500, b"")
        try:
            try:
                if scope["method"] != "POST":
                    raise HTTPException(405, headers={"Allow": "POST"})
                body = await read_body(receive, request_log, self._max_body)
                model, version = pins(scope["query_string"])
                answered = answer(request_log, body, model, version)
                if not isinstance(answered, dict):  # a remote version: await its upstream
                    answered = await answered
                reply = Reply(200, orjson.dumps(answered))
            except Exception as exc:
                reply = failure(scope, request_log, exc)
            self._reserve(request_log)
            await send_reply(send, reply, request_log.job_id)
        finally:
            self._finish(request_log, reply.status, endpoint, time.perf_counter())

    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema, with the fast routes' entries first."""
        schema = super().openapi()
        if schema is not self._documented_into:
            fast = get_openapi(title=self.title, version=self.version, routes=self.documented)
            schema["paths"] = {**fast["paths"], **schema["paths"]}
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(fast.get("components", {}).get("schemas", {}))
            self._documented_into = schema
        return schema
