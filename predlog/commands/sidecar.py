"""``predlog sidecar``: receive forward-protocol log records and store them."""

from __future__ import annotations

import click

from predlog.options import option, spool_option, store_option
from sidecar.app import run
from sidecar.settings import SidecarSettings


@click.command("sidecar")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="PREDLOG_SIDECAR_HOST",
    show_envvar=True,
    help="Address to bind.",
)
@click.option(
    "--port",
    default=24224,
    show_default=True,
    type=int,
    envvar="PREDLOG_SIDECAR_PORT",
    show_envvar=True,
    help="Forward-protocol port.",
)
@click.option(
    "--http-port",
    default=24225,
    show_default=True,
    type=int,
    envvar="PREDLOG_SIDECAR_HTTP_PORT",
    show_envvar=True,
    help="Port of /healthz and /metrics.",
)
@store_option("store_url")
@spool_option("spool_dir", "Spool directory (sidecar/ and the api's api/ inside).")
@click.option(
    "--shared-key",
    default=None,
    envvar="PREDLOG_SIDECAR_SHARED_KEY",
    show_envvar=True,
    help="Require the forward protocol's shared-key handshake.",
)
@click.option(
    "--self-hostname",
    default="predlog-sidecar",
    show_default=True,
    envvar="PREDLOG_SIDECAR_SELF_HOSTNAME",
    show_envvar=True,
    help="Host name announced in the handshake.",
)
@click.option(
    "--migrate/--no-migrate",
    default=False,
    show_default=True,
    envvar="PREDLOG_SIDECAR_MIGRATE",
    show_envvar=True,
    help="Run the store's migrations at start (normally `predlog db upgrade`).",
)
@click.option(
    "--batch-records",
    default=1000,
    show_default=True,
    type=int,
    envvar="PREDLOG_SIDECAR_BATCH_RECORDS",
    show_envvar=True,
    help="Records per store write, at most.",
)
@click.option(
    "--batch-interval",
    default=0.2,
    show_default=True,
    type=float,
    envvar="PREDLOG_SIDECAR_BATCH_INTERVAL",
    show_envvar=True,
    help="Seconds a record waits for its batch to fill, at most.",
)
@click.option(
    "--spool-max-bytes",
    default=1 << 30,
    show_default=True,
    type=int,
    envvar="PREDLOG_SIDECAR_SPOOL_MAX_BYTES",
    show_envvar=True,
    help="Spool cap; when reached the sidecar stops reading its sockets.",
)
@click.option(
    "--segment-bytes",
    default=16 << 20,
    show_default=True,
    type=int,
    envvar="PREDLOG_SIDECAR_SEGMENT_BYTES",
    show_envvar=True,
    help="Size of one spool segment file.",
)
@click.option(
    "--max-entry-bytes",
    default=16 << 20,
    show_default=True,
    type=int,
    envvar="PREDLOG_SIDECAR_MAX_ENTRY_BYTES",
    show_envvar=True,
    help="Largest forward message (and decompressed chunk) accepted.",
)
@click.option(
    "--fsync-interval",
    default=1.0,
    show_default=True,
    type=float,
    envvar="PREDLOG_SIDECAR_FSYNC_INTERVAL",
    show_envvar=True,
    help="Seconds between fsyncs of unacknowledged data.",
)
@click.option(
    "--retry-max-delay",
    default=5.0,
    show_default=True,
    type=float,
    envvar="PREDLOG_SIDECAR_RETRY_MAX_DELAY",
    show_envvar=True,
    help="Cap of the backoff while the store is down.",
)
@click.option(
    "--drain-timeout",
    default=30.0,
    show_default=True,
    type=float,
    envvar="PREDLOG_SIDECAR_DRAIN_TIMEOUT",
    show_envvar=True,
    help="On SIGTERM, seconds to keep draining the spool into the store.",
)
@option(
    "--batch-max-records",
    env="PREDLOG_SIDECAR_BATCH_MAX_RECORDS",
    default=5000,
    type=click.IntRange(min=1),
    help="Records per store write when the spool is behind (larger batches catch up faster).",
)
@option(
    "--writer-process/--no-writer-process",
    env="PREDLOG_SIDECAR_WRITER_PROCESS",
    default=True,
    help="Write to the store from a process of its own, so receiving and writing use two cores.",
)
def command(**options: object) -> None:
    """Receive log records (Fluentd forward protocol) and write them into the store."""
    settings = SidecarSettings.model_validate(options)
    raise SystemExit(run(settings))
