"""The app factory; ``uvicorn api.app:create_app --factory`` builds settings from the env."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ServiceError
from api.fastpath import PredlogApi
from api.middleware import SCOPE_KEY, RequestLogMiddleware, error_body
from api.records import RequestLog
from api.routes import install
from api.runtime.registry import Registry
from api.services import Services
from api.settings import ApiSettings

DESCRIPTION = """\
Predictions with a job_id and an outlier score; every request (errors included) is logged
once to the sidecar over the Fluentd forward protocol. Every response carries `X-Job-Id`.
Errors answer `{"error": {"type", "message", "status"}}`.
"""


def create_app(settings: ApiSettings | None = None, *, registry: Registry | None = None) -> FastAPI:
    """Build the api; ``settings`` default to the environment, ``registry`` to ``models_dir``."""
    services = Services(settings or ApiSettings(), registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.start()
        try:
            yield
        finally:
            services.stop()

    app = PredlogApi(
        services, title="predlog api", version="1", description=DESCRIPTION, lifespan=lifespan
    )
    app.state.services = services

    install(app)
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_middleware(RequestLogMiddleware, services=services)
    return app


def _error(request: Request, status: int, kind: str, message: str) -> Response:
    request_log: RequestLog | None = request.scope.get(SCOPE_KEY)
    if request_log is not None:
        request_log.error = message
    return Response(
        error_body(status, kind, message), status_code=status, media_type="application/json"
    )


async def _service_error(request: Request, exc: ServiceError) -> Response:
    return _error(request, exc.status_code, type(exc).__name__, exc.message)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    kind = HTTPStatus(exc.status_code).phrase.title().replace(" ", "").replace("-", "")
    message = exc.detail
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    response = _error(request, exc.status_code, kind, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return _error(request, 422, "InvalidInputError", "; ".join(parts) or "invalid request")
