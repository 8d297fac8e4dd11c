"""Run the api under uvicorn (uvloop, httptools, no access log), with one or more workers."""

from __future__ import annotations

import copy
import os
import tempfile
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from api.settings import ApiSettings

FACTORY = "api.app:create_app"


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config, extended to the api's own loggers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["api"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def serve(settings: ApiSettings) -> None:
    """Serve until SIGINT/SIGTERM; every worker rebuilds ``settings`` from the environment.

    prometheus-client picks its multiprocess mode when it is first imported, so the per-run
    metrics directory is set up here, before uvicorn imports the app in any process (this
    module must not import prometheus-client, directly or through the app).
    """
    with tempfile.TemporaryDirectory(prefix="predlog-api-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ.update(settings.to_env())
        uvicorn.run(
            FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level=settings.log_level,
            log_config=log_config(settings.log_level),
            timeout_graceful_shutdown=10,
        )
