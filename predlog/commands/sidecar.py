"""``predlog sidecar``: receive forward-protocol log records and store them."""

from __future__ import annotations

import click

from predlog.options import settings_options
from sidecar.app import run
from sidecar.settings import SidecarSettings


@click.command("sidecar")
@settings_options(SidecarSettings)
def command(settings: SidecarSettings) -> None:
    """Receive log records (Fluentd forward protocol) and write them into the store."""
    raise SystemExit(run(settings))
