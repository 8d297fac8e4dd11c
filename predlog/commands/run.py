"""``predlog run``: the whole system on one machine (sidecar, api, dashboard)."""

from __future__ import annotations

from pathlib import Path

import click

from predlog.options import models_option, spool_option, store_option
from predlog.supervisor import LocalStack, Supervisor
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade


@click.command(
    help="Start the sidecar, the api and the dashboard on one machine; Ctrl-C stops all."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="PREDLOG_RUN_HOST",
    show_envvar=True,
    help="Address every part binds.",
)
@click.option(
    "--api-port",
    default=8000,
    show_default=True,
    envvar="PREDLOG_API_PORT",
    show_envvar=True,
    help="Port of the inference api.",
)
@click.option(
    "--sidecar-port",
    default=24224,
    show_default=True,
    envvar="PREDLOG_SIDECAR_PORT",
    show_envvar=True,
    help="Forward-protocol port of the sidecar.",
)
@click.option(
    "--sidecar-http-port",
    default=24225,
    show_default=True,
    envvar="PREDLOG_SIDECAR_HTTP_PORT",
    show_envvar=True,
    help="Health and metrics port of the sidecar.",
)
@click.option(
    "--dashboard-port",
    default=8501,
    show_default=True,
    envvar="PREDLOG_DASHBOARD_PORT",
    show_envvar=True,
    help="Port of the dashboard.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    envvar="PREDLOG_API_WORKERS",
    show_envvar=True,
    help="uvicorn worker processes of the api.",
)
@models_option()
@store_option()
@spool_option(help="Spool directory shared by the api and the sidecar.")
@click.option(
    "--dashboard/--no-dashboard",
    default=True,
    show_default=True,
    envvar="PREDLOG_RUN_DASHBOARD",
    show_envvar=True,
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
