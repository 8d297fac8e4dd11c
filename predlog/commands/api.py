"""``predlog api``: serve the inference API (flags -> ApiSettings -> uvicorn)."""

from __future__ import annotations

from pathlib import Path

import click

from api.server import serve
from api.settings import ApiSettings
from predlog.options import option

_DEFAULTS = ApiSettings.model_construct()


@click.command("api")
@option(
    "--host",
    default=_DEFAULTS.host,
    env="PREDLOG_API_HOST",
    help="Address to bind.",
)
@option(
    "--port",
    default=_DEFAULTS.port,
    type=int,
    env="PREDLOG_API_PORT",
    help="HTTP port.",
)
@option(
    "--workers",
    default=_DEFAULTS.workers,
    type=click.IntRange(min=1),
    env="PREDLOG_API_WORKERS",
    help="uvicorn worker processes.",
)
@option(
    "--models",
    "models_dir",
    default=_DEFAULTS.models_dir,
    type=click.Path(file_okay=False, path_type=Path),
    env="PREDLOG_MODELS_DIR",
    help="Model bundles, laid out <name>/<version>/manifest.json.",
)
@option(
    "--forward",
    default=_DEFAULTS.forward,
    env="PREDLOG_FORWARD",
    help="HOST:PORT of the forward-protocol receiver (the sidecar) that gets the log records.",
)
@option(
    "--spool",
    "spool_dir",
    default=_DEFAULTS.spool_dir,
    type=click.Path(file_okay=False, path_type=Path),
    env="PREDLOG_SPOOL_DIR",
    help="Spool root: records that cannot be sent go to <spool>/api/.",
)
@option(
    "--weights",
    default="",
    env="PREDLOG_API_WEIGHTS",
    help='Traffic split by version, e.g. "1=0.5,2=0.5" (default: equal).',
)
@option(
    "--max-rows",
    default=_DEFAULTS.max_rows,
    type=click.IntRange(min=1),
    env="PREDLOG_API_MAX_ROWS",
    help="Most rows per /predict or /predict/label request.",
)
@option(
    "--max-batch-rows",
    default=_DEFAULTS.max_batch_rows,
    type=click.IntRange(min=1),
    env="PREDLOG_API_MAX_BATCH_ROWS",
    help="Most rows per /predict/batch request.",
)
@option(
    "--max-body-bytes",
    default=_DEFAULTS.max_body_bytes,
    type=click.IntRange(min=64),
    env="PREDLOG_API_MAX_BODY_BYTES",
    help="Largest request body; larger gets 413.",
)
@option(
    "--queue-size",
    default=_DEFAULTS.queue_size,
    type=click.IntRange(min=1),
    env="PREDLOG_API_QUEUE_SIZE",
    help="Records queued for sending before new ones go to the spool.",
)
@option(
    "--log-level",
    default="info",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    env="PREDLOG_API_LOG_LEVEL",
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
