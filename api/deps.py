"""FastAPI dependencies, declared once with ``Annotated`` and used by the routes.

All ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.exchange import SCOPE_KEY
from api.handlers import MetadataHandler, PredictionHandler
from api.metrics import ApiMetrics
from api.records import RequestLog
from api.runtime.registry import ModelRouter
from api.services import Services
from api.settings import ApiSettings


async def get_services(request: Request) -> Services:
    """The app's services (built in ``create_app``, started in its lifespan)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> ApiSettings:
    """The app's settings."""
    return services.settings


async def get_registry(services: ServicesDep) -> ModelRouter:
    """The model registry."""
    return services.registry


async def get_predictions(services: ServicesDep) -> PredictionHandler:
    """The handler of the /predict family."""
    return services.predictions


async def get_metadata(services: ServicesDep) -> MetadataHandler:
    """The handler of /metadata and /label."""
    return services.metadata


async def get_metrics(services: ServicesDep) -> ApiMetrics:
    """The app's Prometheus metrics."""
    return services.metrics


async def get_request_log(request: Request) -> RequestLog:
    """This request's log entry, created by ``RequestLogMiddleware``."""
    request_log: RequestLog = request.scope[SCOPE_KEY]
    return request_log


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
RegistryDep = Annotated[ModelRouter, Depends(get_registry)]
PredictionsDep = Annotated[PredictionHandler, Depends(get_predictions)]
MetadataDep = Annotated[MetadataHandler, Depends(get_metadata)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
RequestLogDep = Annotated[RequestLog, Depends(get_request_log)]
