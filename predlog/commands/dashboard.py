"""``predlog dashboard``: serve the monitoring dashboard (Streamlit) over the log store."""

from __future__ import annotations

from pathlib import Path

import click

from dashboard.server import serve
from dashboard.settings import DashboardSettings
from predlog.options import models_option, store_option


@click.command(help="Serve the monitoring dashboard over the log store (opened read-only).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="PREDLOG_DASHBOARD_HOST",
    show_envvar=True,
    help="Interface the dashboard binds.",
)
@click.option(
    "--port",
    default=8501,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="PREDLOG_DASHBOARD_PORT",
    show_envvar=True,
    help="Port the dashboard binds.",
)
@store_option()
@models_option(help="Model bundles, read for each version's outlier threshold and feature names.")
@click.option(
    "--outlier-threshold",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    envvar="PREDLOG_OUTLIER_THRESHOLD",
    show_envvar=True,
    help="Threshold marked for versions without a bundle manifest.",
)
@click.option(
    "--refresh",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="PREDLOG_DASHBOARD_REFRESH_SECONDS",
    show_envvar=True,
    help="Seconds between redraws when auto-refresh is on.",
)
def command(
    host: str, port: int, store: str, models: Path, outlier_threshold: float, refresh: int
) -> None:
    """Build the settings and hand over to the Streamlit server."""
    serve(
        DashboardSettings(
            host=host,
            port=port,
            store_url=store,
            models_dir=models,
            outlier_threshold=outlier_threshold,
            refresh_seconds=refresh,
        )
    )
