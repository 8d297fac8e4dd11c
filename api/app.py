"""The app factory; ``uvicorn api.app:create_app --factory`` builds settings from the env."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ServiceError
from api.exchange import SCOPE_KEY, failure
from api.fastpath import PredlogApi
from api.legacy import LegacyHandler
from api.legacy_routes import install as install_legacy
from api.middleware import RequestLogMiddleware
from api.oip import routes as oip_routes
from api.oip.fast import InferRoute
from api.oip.handler import OipHandler
from api.registry import routes as admin_routes
from api.registry.port import AdminPortGate
from api.routes import FAST_ROUTE_DOCS, fast_routes, install
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
    oip = OipHandler(services.predictions, services.settings.max_rows)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.start()
        try:
            yield
        finally:
            services.stop()

    app = PredlogApi(
        services,
        fast_routes(services),
        [*FAST_ROUTE_DOCS, *oip_routes.INFER_DOCS],
        [
            InferRoute(
                oip,
                services.finish,
                services.settings.max_body_bytes,
                services.settings.sticky_header,
                services.reserve,
            )
        ],
        title="predlog api",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.oip = oip
    app.state.legacy = LegacyHandler(services.predictions, services.finish)

    install(app)
    oip_routes.install(app)
    install_legacy(app)  # after install: /predict/{model}/{version} comes last
    app.include_router(admin_routes.router)
    for kind in (ServiceError, StarletteHTTPException, RequestValidationError):
        app.add_exception_handler(kind, _error_response)
    admin_port = services.settings.admin_port
    if admin_port is not None:  # added first, so inside the request log: its 404s are logged
        app.add_middleware(AdminPortGate, port=admin_port)
    app.add_middleware(RequestLogMiddleware, services=services)
    return app


async def _error_response(request: Request, exc: Exception) -> Response:
    """What ``api.exchange.failure`` answers to an error a FastAPI route raised."""
    reply = failure(request.scope, request.scope[SCOPE_KEY], exc)
    response = Response(reply.body, status_code=reply.status, media_type="application/json")
    response.raw_headers.extend(reply.headers)
    return response
