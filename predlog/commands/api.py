"""``predlog api``: serve the inference API (flags -> ApiSettings -> uvicorn)."""

from __future__ import annotations

from pathlib import Path

import click

from api.server import serve
from api.settings import ApiSettings

_DEFAULTS = ApiSettings.model_construct()


@click.command("api")
@click.option(
    "--host",
    default=_DEFAULTS.host,
    show_default=True,
    envvar="PREDLOG_API_HOST",
    show_envvar=True,
    help="Address to bind.",
)
@click.option(
    "--port",
    default=_DEFAULTS.port,
    show_default=True,
    type=int,
    envvar="PREDLOG_API_PORT",
    show_envvar=True,
    help="HTTP port.",
)
@click.option(
    "--workers",
    default=_DEFAULTS.workers,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="PREDLOG_API_WORKERS",
    show_envvar=True,
    help="uvicorn worker processes.",
)
@click.option(
    "--models",
    "models_dir",
    default=_DEFAULTS.models_dir,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PREDLOG_MODELS_DIR",
    show_envvar=True,
    help="Model bundles, laid out <name>/<version>/manifest.json.",
)
@click.option(
    "--forward",
    default=_DEFAULTS.forward,
    show_default=True,
    envvar="PREDLOG_FORWARD",
    show_envvar=True,
    help="HOST:PORT of the forward-protocol receiver (the sidecar) that gets the log records.",
)
@click.option(
    "--spool",
    "spool_dir",
    default=_DEFAULTS.spool_dir,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PREDLOG_SPOOL_DIR",
    show_envvar=True,
    help="Spool root: records that cannot be sent go to <spool>/api/.",
)
@click.option(
    "--weights",
    default="",
    envvar="PREDLOG_API_WEIGHTS",
    show_envvar=True,
    help='Traffic split by version, e.g. "1=0.5,2=0.5" (default: equal).',
)
@click.option(
    "--max-rows",
    default=_DEFAULTS.max_rows,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="PREDLOG_API_MAX_ROWS",
    show_envvar=True,
    help="Most rows per /predict or /predict/label request.",
)
@click.option(
    "--max-batch-rows",
    default=_DEFAULTS.max_batch_rows,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="PREDLOG_API_MAX_BATCH_ROWS",
    show_envvar=True,
    help="Most rows per /predict/batch request.",
)
@click.option(
    "--max-body-bytes",
    default=_DEFAULTS.max_body_bytes,
    show_default=True,
    type=click.IntRange(min=64),
    envvar="PREDLOG_API_MAX_BODY_BYTES",
    show_envvar=True,
    help="Largest request body; larger gets 413.",
)
@click.option(
    "--queue-size",
    default=_DEFAULTS.queue_size,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="PREDLOG_API_QUEUE_SIZE",
    show_envvar=True,
    help="Records queued for sending before new ones go to the spool.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    envvar="PREDLOG_API_LOG_LEVEL",
    show_envvar=True,
    help="Server log level.",
)
def command(
    host: str,
    port: int,
    workers: int,
    models_dir: Path,
    forward: str,
    spool_dir: Path,
    weights: str,
    max_rows: int,
    max_batch_rows: int,
    max_body_bytes: int,
    queue_size: int,
    log_level: str,
) -> None:
    """Serve the inference API: predictions, a job_id and one log record per request."""
    settings = ApiSettings.model_validate(
        {
            "host": host,
            "port": port,
            "workers": workers,
            "models_dir": models_dir,
            "forward": forward,
            "spool_dir": spool_dir,
            "weights": weights,
            "max_rows": max_rows,
            "max_batch_rows": max_batch_rows,
            "max_body_bytes": max_body_bytes,
            "queue_size": queue_size,
        }
    )
    serve(settings, log_level)
