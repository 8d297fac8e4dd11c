"""Run the api under uvicorn (uvloop, httptools, no access log), with one or more workers."""

from __future__ import annotations

import copy
import os
import tempfile
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.supervisors import Multiprocess

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
        if settings.admin_port is None:
            uvicorn.run(FACTORY, **uvicorn_options(settings))
        else:
            serve_two_ports(settings, settings.admin_port)


def uvicorn_options(settings: ApiSettings) -> dict[str, Any]:
    """What uvicorn serves the api with."""
    return {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": settings.log_level,
        "log_config": log_config(settings.log_level),
        "timeout_graceful_shutdown": 10,
    }


def serve_two_ports(settings: ApiSettings, admin_port: int) -> None:
    """Serve on ``port`` and ``admin_port`` (``api.registry.port`` keeps /admin to the latter).

    ``uvicorn.run`` binds one socket; this is what it does with it, given two: its
    ``Server.run`` and its worker supervisor (``uvicorn.supervisors.Multiprocess``, past
    uvicorn's documented interface: ``uvicorn.run`` has no way to take two sockets) both
    take a list. Every worker serves both; tests/api/registry/test_admin_port.py runs it
    with two workers.
    """
    config = uvicorn.Config(FACTORY, **uvicorn_options(settings))
    # the same options (a Config sets up logging), only to bind the admin port's socket
    admin = uvicorn.Config(FACTORY, **{**uvicorn_options(settings), "port": admin_port})
    sockets = [config.bind_socket(), admin.bind_socket()]
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=sockets).run()
        else:
            server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    finally:
        for sock in sockets:
            sock.close()
    if config.workers == 1 and not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE
