"""``predlog run``: the whole system on one machine (sidecar, api, dashboard)."""

from __future__ import annotations

import click
from pydantic_settings import SettingsConfigDict

from api.settings import ApiSettings
from dashboard.settings import DashboardSettings
from predlog.options import settings_options
from predlog.settings import PredlogSettings
from predlog.supervisor import LocalStack, Supervisor
from sidecar.settings import SidecarSettings
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade


class RunSettings(PredlogSettings):
    """What ``predlog run`` decides beyond the parts' own settings (``PREDLOG_RUN_*``)."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_RUN_", frozen=True)

    host: str = "127.0.0.1"
    """Address every part binds."""
    dashboard: bool = True
    """Also start the dashboard."""


@click.command(
    help="Start the sidecar, the api and the dashboard on one machine; Ctrl-C stops all."
)
@settings_options(RunSettings, "run")
@settings_options(
    ApiSettings, "api", fields=["port", "workers", "models_dir"], flags={"port": "--api-port"}
)
@settings_options(
    SidecarSettings,
    "sidecar",
    fields=["port", "http_port", "store_url", "spool_dir"],
    flags={"port": "--sidecar-port", "http_port": "--sidecar-http-port"},
)
@settings_options(
    DashboardSettings, "dashboard", fields=["port"], flags={"port": "--dashboard-port"}
)
def command(
    run: RunSettings, api: ApiSettings, sidecar: SidecarSettings, dashboard: DashboardSettings
) -> None:
    engine = make_engine(sidecar.store_url)
    upgrade(engine)
    engine.dispose()
    # The parts meet on one host: the api sends to this sidecar and spools where it reads,
    # serves the model registry in this store, and the dashboard reads this store and these
    # bundles.
    host = run.host
    sidecar = sidecar.model_copy(update={"host": host})
    api = api.model_copy(
        update={
            "host": host,
            "forward": f"{host}:{sidecar.port}",
            "spool_dir": sidecar.spool_dir,
            "store_url": sidecar.store_url,
        }
    )
    shown = dashboard.model_copy(
        update={"host": host, "store_url": sidecar.store_url, "models_dir": api.models_dir}
    )
    stack = LocalStack(sidecar, api, shown if run.dashboard else None)
    raise SystemExit(Supervisor(stack.specs()).run())
