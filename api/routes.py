"""HTTP routes: parse, call one handler, return. No logic lives here.

Routes are added straight to the app's router (``install``): ``include_router`` wraps them
in a second routing level that costs ~20 us per request. Prediction bodies are read and
parsed by ``api.inputs`` (orjson, size-limited) instead of FastAPI's generic validation,
which would cost more than the model; the request schema is still declared
(``openapi_extra``), so ``/docs`` and schema-driven clients see it.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import MetadataDep, MetricsDep, PredictionsDep, RequestLogDep, SettingsDep
from api.http import RawRoute, json_response, pins, read_body
from api.middleware import SCOPE_KEY
from api.records import RequestLog
from api.schemas import (
    ERRORS,
    PREDICT_DOCS,
    REQUEST_BODY,
    BatchResponse,
    HealthResponse,
    ModelQuery,
    PredictLabelResponse,
    PredictResponse,
    VersionQuery,
)
from api.services import Services

router = APIRouter()


@router.get("/health", response_model=HealthResponse, tags=["service"])
async def health() -> Response:
    """Liveness: the process answers."""
    return json_response({"health": "ok"})


@router.get("/metadata", tags=["service"])
async def metadata(handler: MetadataDep) -> Response:
    """The pattern's metadata fields for the default model, the models, versions and weights
    served, and the default model's training statistics per feature."""
    return json_response(handler.metadata())


@router.get("/label", tags=["service"], responses={404: ERRORS[404]})
async def label(
    handler: MetadataDep, model: ModelQuery = None, version: VersionQuery = None
) -> Response:
    """Class index -> label, e.g. ``{"0": "setosa", "1": "versicolor", "2": "virginica"}``."""
    return json_response(handler.labels(model, version))


@router.get(
    "/predict/test",
    response_model=PredictResponse,
    responses={404: ERRORS[404], 503: ERRORS[503]},
    tags=["predict"],
)
async def predict_test(
    handler: PredictionsDep,
    log: RequestLogDep,
    model: ModelQuery = None,
    version: VersionQuery = None,
) -> Response:
    """``/predict`` on a sample row (the training means), to check the service end to end."""
    return json_response(handler.predict_test(log, model, version))


async def predict(request: Request) -> Response:
    """Class probabilities, outlier flag and outlier score (at most ``max_rows`` rows)."""
    services: Services = request.app.state.services
    log: RequestLog = request.scope[SCOPE_KEY]
    body = await read_body(request.receive, log, services.settings.max_body_bytes)
    model, version = pins(request.scope["query_string"])
    return json_response(services.predictions.predict(log, body, model, version))


async def predict_label(request: Request) -> Response:
    """The most probable label and its probability, outlier flag and score."""
    services: Services = request.app.state.services
    log: RequestLog = request.scope[SCOPE_KEY]
    body = await read_body(request.receive, log, services.settings.max_body_bytes)
    model, version = pins(request.scope["query_string"])
    return json_response(services.predictions.predict_label(log, body, model, version))


for _path, _endpoint, _model in (
    ("/predict", predict, PredictResponse),
    ("/predict/label", predict_label, PredictLabelResponse),
):
    router.add_api_route(
        _path,
        _endpoint,
        methods=["POST"],
        response_model=_model,
        responses=ERRORS,
        openapi_extra=PREDICT_DOCS,
        tags=["predict"],
        route_class_override=RawRoute,
    )


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=ERRORS,
    openapi_extra=REQUEST_BODY,
    tags=["predict"],
)
async def predict_batch(
    request: Request,
    handler: PredictionsDep,
    log: RequestLogDep,
    settings: SettingsDep,
    model: ModelQuery = None,
    version: VersionQuery = None,
) -> Response:
    """One result per row for up to ``max_batch_rows`` rows (default 1000); one record."""
    body = await read_body(request.receive, log, settings.max_body_bytes)
    # Large batches take milliseconds: keep them off the event loop.
    answer = await run_in_threadpool(handler.predict_batch, log, body, model, version)
    return json_response(answer)


@router.get("/metrics", tags=["service"], response_class=Response)
def metrics(api_metrics: MetricsDep) -> Response:
    """Prometheus metrics, aggregated over every worker process."""
    # A plain def: FastAPI runs it in a thread, since reading the workers' files is disk I/O.
    return Response(api_metrics.render(), media_type=api_metrics.content_type)


def install(app: FastAPI) -> None:
    """Add every route to ``app``'s own router (no ``include_router`` level on the hot path).

    Routes match in order: the prediction routes go first, ahead of /docs and the others.
    """
    hot = [r for r in router.routes if isinstance(r, RawRoute)]
    app.router.routes[0:0] = hot
    app.router.routes.extend(r for r in router.routes if not isinstance(r, RawRoute))
