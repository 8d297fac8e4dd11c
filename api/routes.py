"""HTTP routes: parse, call one handler, return. No logic lives here.

Routes are added straight to the app's router (``install``): ``include_router`` wraps them
in a second routing level that costs ~20 us per request. ``POST /predict`` and
``/predict/label`` are served by ``api.fastpath`` and only described here
(``FAST_ROUTE_DOCS``). Prediction bodies are read and parsed by ``api.inputs`` (orjson,
size-limited) instead of FastAPI's generic validation, which would cost more than the
model; the request schema is still declared (``openapi_extra``), so ``/docs`` and
schema-driven clients see it.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api import drain, stats
from api.deps import (
    MetadataDep,
    MetricsDep,
    PredictionsDep,
    RegistryDep,
    RequestLogDep,
    ServicesDep,
    SettingsDep,
)
from api.errors import ShuttingDownError
from api.fastpath import Answer
from api.feedback import FEEDBACK_BODY, FEEDBACK_ERRORS, FeedbackResponse
from api.handlers import resolved
from api.http import json_response, read_body
from api.schemas import (
    ERRORS,
    PIN_HEADER,
    PINNED_BODY_DOCS,
    PREDICT_DOCS,
    PREDICT_SECURITY,
    BatchResponse,
    HealthResponse,
    ModelQuery,
    PredictLabelResponse,
    PredictResponse,
    VersionQuery,
)
from api.services import Services

router = APIRouter()
HEALTH_503 = {**ERRORS[503], "description": "Shutting down: the worker drains (SIGTERM)."}


@router.get("/health", response_model=HealthResponse, tags=["service"], responses={503: HEALTH_503})
async def health() -> Response:
    """Liveness and readiness: the process answers; 503 while it drains to stop."""
    if drain.state.draining:
        raise ShuttingDownError("shutting down: this worker drains and takes no new work")
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
    responses={status: ERRORS[status] for status in (401, 403, 404, 503)},
    openapi_extra={"security": PREDICT_SECURITY, "parameters": [PIN_HEADER]},
    tags=["predict"],
)
async def predict_test(
    handler: PredictionsDep,
    log: RequestLogDep,
    model: ModelQuery = None,
    version: VersionQuery = None,
) -> Response:
    """``/predict`` on a sample row (the training means), to check the service end to end."""
    return json_response(await resolved(handler.predict_test(log, model, version)))


def fast_routes(services: Services) -> dict[str, Answer]:
    """The prediction routes that ``api.fastpath`` serves: path -> the handler method."""
    return {
        "/predict": services.predictions.predict,
        "/predict/label": services.predictions.predict_label,
    }


async def _described_only() -> None:
    """Never called: ``FAST_ROUTE_DOCS`` are never mounted (``api.fastpath`` serves them)."""
    raise RuntimeError("the prediction routes are served by api.fastpath")


FAST_ROUTE_DOCS = [
    APIRoute(
        path,
        _described_only,
        name=name,
        methods=["POST"],
        response_model=model,
        responses=ERRORS,
        openapi_extra=PREDICT_DOCS,
        tags=["predict"],
        summary=summary,
        description=description,
    )
    for path, name, model, summary, description in (
        (
            "/predict",
            "predict",
            PredictResponse,
            "Predict",
            "Class probabilities, outlier flag and outlier score (at most ``max_rows`` rows).",
        ),
        (
            "/predict/label",
            "predict_label",
            PredictLabelResponse,
            "Predict Label",
            "The most probable label and its probability, outlier flag and score.",
        ),
    )
]
"""What the OpenAPI schema says of the fast routes."""


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=ERRORS,
    openapi_extra=PINNED_BODY_DOCS,
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


@router.post(
    "/feedback",
    status_code=202,
    response_model=FeedbackResponse,
    responses=FEEDBACK_ERRORS,
    openapi_extra=FEEDBACK_BODY,
    tags=["feedback"],
)
async def feedback(
    request: Request, services: ServicesDep, log: RequestLogDep, settings: SettingsDep
) -> Response:
    """Ground truth for logged predictions, by job_id: ``{"job_id", "label"}`` (a
    classifier's), ``{"job_id", "value"}`` (a regressor's), ``"row"`` for a row past the
    first; one item or a list of up to 1000. Sent on to the log store, where it joins its
    prediction whenever that is stored; the first feedback for a job_id and row counts."""
    body = await read_body(request.receive, log, settings.max_body_bytes)
    return json_response(services.feedback.submit(log, body), status_code=202)


@router.get("/health/all", tags=["service"])
async def health_all(registry: RegistryDep) -> Response:
    """Every model version this worker serves: ``{"<model>/<version>": {"health": "ok"}}``."""
    return json_response(stats.health_all(registry))


@router.get("/stats", tags=["service"])
def service_stats(services: ServicesDep) -> Response:
    """Uptime, and requests per model version per worker (host, pid) and summed over them."""
    # A plain def: reading every worker's metrics files is disk I/O, off the event loop.
    return json_response(stats.stats(services.metrics, services.builder.host))


@router.get("/metrics", tags=["service"], response_class=Response)
def metrics(api_metrics: MetricsDep) -> Response:
    """Prometheus metrics, aggregated over every worker process."""
    # A plain def: FastAPI runs it in a thread, since reading the workers' files is disk I/O.
    return Response(api_metrics.render(), media_type=api_metrics.content_type)


def install(app: FastAPI) -> None:
    """Add every route to ``app``'s own router (no ``include_router`` level: ~20 us less)."""
    app.router.routes.extend(router.routes)
