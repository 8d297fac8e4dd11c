"""``predlog dashboard``: serve the monitoring dashboard (Streamlit) over the log store."""

from __future__ import annotations

from pathlib import Path

import click

from dashboard.server import serve
from dashboard.settings import DashboardSettings
from predlog.options import models_option, option, store_option


@click.command(help="Serve the monitoring dashboard over the log store (opened read-only).")
@option(
    "--host",
    default="127.0.0.1",
    env="PREDLOG_DASHBOARD_HOST",
    help="Interface the dashboard binds.",
)
@option(
    "--port",
    default=8501,
    type=click.IntRange(0, 65535),
    env="PREDLOG_DASHBOARD_PORT",
    help="Port the dashboard binds.",
)
@store_option()
@models_option(help="Model bundles, read for each version's outlier threshold and feature names.")
@option(
    "--outlier-threshold",
    default=0.5,
    type=click.FloatRange(0.0, 1.0),
    env="PREDLOG_OUTLIER_THRESHOLD",
    help="Threshold marked for versions without a bundle manifest.",
)
@option(
    "--refresh",
    default=10,
    type=click.IntRange(min=1),
    env="PREDLOG_DASHBOARD_REFRESH_SECONDS",
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
