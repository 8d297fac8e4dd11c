"""``predlog run``: the whole system on one machine (sidecar, api, dashboard)."""

from __future__ import annotations

from pathlib import Path

import click

from predlog.options import models_option, option, spool_option, store_option
from predlog.supervisor import LocalStack, Supervisor
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade


@click.command(
    help="Start the sidecar, the api and the dashboard on one machine; Ctrl-C stops all."
)
@option(
    "--host",
    default="127.0.0.1",
    env="PREDLOG_RUN_HOST",
    help="Address every part binds.",
)
@option(
    "--api-port",
    default=8000,
    env="PREDLOG_API_PORT",
    help="Port of the inference api.",
)
@option(
    "--sidecar-port",
    default=24224,
    env="PREDLOG_SIDECAR_PORT",
    help="Forward-protocol port of the sidecar.",
)
@option(
    "--sidecar-http-port",
    default=24225,
    env="PREDLOG_SIDECAR_HTTP_PORT",
    help="Health and metrics port of the sidecar.",
)
@option(
    "--dashboard-port",
    default=8501,
    env="PREDLOG_DASHBOARD_PORT",
    help="Port of the dashboard.",
)
@option(
    "--workers",
    default=1,
    env="PREDLOG_API_WORKERS",
    help="uvicorn worker processes of the api.",
)
@models_option()
@store_option()
@spool_option(help="Spool directory shared by the api and the sidecar.")
@option(
    "--dashboard/--no-dashboard",
    default=True,
    env="PREDLOG_RUN_DASHBOARD",
    help="Also start the dashboard.",
)
def command(
    host: str,
    api_port: int,
    sidecar_port: int,
    sidecar_http_port: int,
    dashboard_port: int,
    workers: int,
    models: Path,
    store: str,
    spool: Path,
    dashboard: bool,
) -> None:
    engine = make_engine(store)
    upgrade(engine)
    engine.dispose()
    stack = LocalStack(
        host,
        api_port,
        sidecar_port,
        sidecar_http_port,
        dashboard_port,
        workers,
        str(models),
        store,
        str(spool),
        dashboard,
    )
    raise SystemExit(Supervisor(stack.specs()).run())
