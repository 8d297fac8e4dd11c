"""``predlog api``: serve the inference API (flags -> ApiSettings -> uvicorn)."""

from __future__ import annotations

import click

from api.server import serve
from api.settings import ApiSettings
from predlog.options import settings_options


@click.command("api")
@settings_options(ApiSettings)
def command(settings: ApiSettings) -> None:
    """Serve the inference API: predictions, a job_id and one log record per request."""
    serve(settings)
