"""``predlog sidecar``: receive forward-protocol log records and store them."""

from __future__ import annotations

import click

from predlog.options import option, spool_option, store_option
from sidecar.app import run
from sidecar.settings import SidecarSettings


@click.command("sidecar")
@option(
    "--host",
    default="127.0.0.1",
    env="PREDLOG_SIDECAR_HOST",
    help="Address to bind.",
)
@option(
    "--port",
    default=24224,
    type=int,
    env="PREDLOG_SIDECAR_PORT",
    help="Forward-protocol port.",
)
@option(
    "--http-port",
    default=24225,
    type=int,
    env="PREDLOG_SIDECAR_HTTP_PORT",
    help="Port of /healthz and /metrics.",
)
@store_option("store_url")
@spool_option("spool_dir", "Spool directory (sidecar/ and the api's api/ inside).")
@option(
    "--shared-key",
    default=None,
    env="PREDLOG_SIDECAR_SHARED_KEY",
    help="Require the forward protocol's shared-key handshake.",
)
@option(
    "--self-hostname",
    default="predlog-sidecar",
    env="PREDLOG_SIDECAR_SELF_HOSTNAME",
    help="Host name announced in the handshake.",
)
@option(
    "--migrate/--no-migrate",
    default=False,
    env="PREDLOG_SIDECAR_MIGRATE",
    help="Run the store's migrations at start (normally `predlog db upgrade`).",
)
@option(
    "--batch-records",
    default=1000,
    type=int,
    env="PREDLOG_SIDECAR_BATCH_RECORDS",
    help="Records per store write, at most.",
)
@option(
    "--batch-interval",
    default=0.2,
    type=float,
    env="PREDLOG_SIDECAR_BATCH_INTERVAL",
    help="Seconds a record waits for its batch to fill, at most.",
)
@option(
    "--spool-max-bytes",
    default=1 << 30,
    type=int,
    env="PREDLOG_SIDECAR_SPOOL_MAX_BYTES",
    help="Spool cap; when reached the sidecar stops reading its sockets.",
)
@option(
    "--segment-bytes",
    default=16 << 20,
    type=int,
    env="PREDLOG_SIDECAR_SEGMENT_BYTES",
    help="Size of one spool segment file.",
)
@option(
    "--max-entry-bytes",
    default=16 << 20,
    type=int,
    env="PREDLOG_SIDECAR_MAX_ENTRY_BYTES",
    help="Largest forward message (and decompressed chunk) accepted.",
)
@option(
    "--fsync-interval",
    default=1.0,
    type=float,
    env="PREDLOG_SIDECAR_FSYNC_INTERVAL",
    help="Seconds between fsyncs of unacknowledged data.",
)
@option(
    "--retry-max-delay",
    default=5.0,
    type=float,
    env="PREDLOG_SIDECAR_RETRY_MAX_DELAY",
    help="Cap of the backoff while the store is down.",
)
@option(
    "--drain-timeout",
    default=30.0,
    type=float,
    env="PREDLOG_SIDECAR_DRAIN_TIMEOUT",
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
