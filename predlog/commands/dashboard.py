"""``predlog dashboard``: serve the monitoring dashboard (Streamlit) over the log store."""

from __future__ import annotations

import click

from dashboard.server import serve
from dashboard.settings import DashboardSettings
from predlog.options import settings_options


@click.command(help="Serve the monitoring dashboard over the log store (opened read-only).")
@settings_options(DashboardSettings, flags={"refresh_seconds": "--refresh"})
def command(settings: DashboardSettings) -> None:
    """Hand the settings over to the Streamlit server."""
    serve(settings)
