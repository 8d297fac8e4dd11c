"""HTTP routes of the legacy call shapes (``api.legacy``): parse, call one handler, return.

Installed after ``api.routes``: the console's ``/predict/{model}/{version}`` is declared
last, so ``/predict/get/test`` and ``/predict/post/test`` keep their own routes; the
one-segment ``/predict/...`` routes (batch, test, label) never match it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import PredictionsDep, RequestLogDep, ServicesDep, SettingsDep
from api.handlers import resolved
from api.http import json_response, read_body
from api.legacy import MAX_MODELS, LegacyHandler, elb_healthcheck
from api.schemas import (
    ERRORS,
    MAX_NAME,
    REQUEST_BODY,
    SAMPLE_ROW,
    ModelQuery,
    PredictResponse,
    VersionQuery,
    inline_schema,
)

router = APIRouter(tags=["legacy call shapes"])


async def get_legacy(request: Request) -> LegacyHandler:
    """The app's ``LegacyHandler`` (built in ``create_app``)."""
    handler: LegacyHandler = request.app.state.legacy
    return handler


LegacyDep = Annotated[LegacyHandler, Depends(get_legacy)]


class FanOutRequest(BaseModel):
    """Rows for every model, or for the models named."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": [SAMPLE_ROW]}, {"data": [SAMPLE_ROW],
                                                                  "models": ["iris"]}]}
    )  # fmt: skip

    data: list[list[float]] = Field(min_length=1)
    models: list[Annotated[str, Field(min_length=1, max_length=MAX_NAME)]] | None = Field(
        default=None, min_length=1, max_length=MAX_MODELS
    )
    """Default: every model served."""


class ConsoleData(BaseModel):
    """The instances."""

    insts: list[list[float] | str] = Field(min_length=1)
    """Dense: lists of numbers; libsvm: strings such as ``"1:5.1 2:3.5 3:1.4 4:0.2"``."""


class ConsoleRequest(BaseModel):
    """The model-service console's request."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"type": "dense", "feature_num": 4, "data": {"insts": [SAMPLE_ROW]}},
                {"type": "libsvm", "feature_num": 4, "data": {"insts": ["1:6.7 2:3 3:5.2 4:2.3"]}},
            ]
        }
    )

    type: str = Field(default="dense", pattern="^(dense|libsvm)$")
    feature_num: int | None = Field(default=None, ge=1)
    """The model's feature count (checked)."""
    data: ConsoleData


class ConsoleAnswer(BaseModel):
    """``code`` 0 and one result per instance; an error: the HTTP status as ``code``."""

    message: str
    code: int
    data: dict[str, Any] | None
    job_id: str | None = None
    model: str | None = None
    version: str | None = None


def _body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"content": {"application/json": {"schema": inline_schema(model)}}}
    return {"requestBody": {"required": True, **schema}}


@router.get("/predict/get/test", response_model=PredictResponse, responses=ERRORS)
async def get_test(
    handler: PredictionsDep,
    log: RequestLogDep,
    model: ModelQuery = None,
    version: VersionQuery = None,
) -> Response:
    """The horizontal-microservice pattern's test call: ``/predict`` on a sample row."""
    return json_response(await resolved(handler.predict_test(log, model, version)))


@router.post(
    "/predict/post/test",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra=REQUEST_BODY,
)
async def post_test(
    request: Request,
    handler: PredictionsDep,
    log: RequestLogDep,
    settings: SettingsDep,
    model: ModelQuery = None,
    version: VersionQuery = None,
) -> Response:
    """The pattern's test call with rows of one's own: ``POST /predict``."""
    body = await read_body(request.receive, log, settings.max_body_bytes)
    return json_response(await resolved(handler.predict(log, body, model, version)))


@router.post("/predict/all", responses=ERRORS, openapi_extra=_body(FanOutRequest))
async def predict_all(
    request: Request, handler: LegacyDep, log: RequestLogDep, settings: SettingsDep
) -> Response:
    """Every model (or ``models``) on the rows: ``{"<model>": {"prediction": [...], ...}}``;
    one record per model, all with the request's id."""
    body = await read_body(request.receive, log, settings.max_body_bytes)
    # On a thread: each model is asked in turn, and a remote version's call blocks its thread.
    return json_response(await run_in_threadpool(handler.predict_all, log, body))


@router.get("/elb-healthcheck")
def elb_health(services: ServicesDep) -> Response:
    """Uptime, capacity and requests per model per worker; 503 until every version loads."""
    # A plain def: reading every worker's metrics files is disk I/O, off the event loop.
    status, answer = elb_healthcheck(services.predictions, services.metrics, services.builder.host)
    return json_response(answer, status)


Name = Annotated[str, Path(max_length=MAX_NAME)]


@router.post(
    "/predict/{model}/{version}",
    response_model=ConsoleAnswer,
    responses={s: {"model": ConsoleAnswer} for s in ERRORS},
    openapi_extra=_body(ConsoleRequest),
)
async def console(
    request: Request,
    handler: LegacyDep,
    log: RequestLogDep,
    settings: SettingsDep,
    model: Name,
    version: Name,
) -> Response:
    """The model-service console's call on one model version (pinned)."""
    body = await read_body(request.receive, log, settings.max_body_bytes)
    return json_response(await resolved(handler.console(log, body, model, version)))


def install(app: FastAPI) -> None:
    """Add the routes to ``app``'s own router, after ``api.routes``'s."""
    app.router.routes.extend(router.routes)
