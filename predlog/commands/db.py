"""``predlog db``: create, migrate and inspect the log store's schema."""

from __future__ import annotations

import click

from predlog.options import field_option, option
from sidecar.settings import SidecarSettings
from sidecar.store.engine import make_engine
from sidecar.store.migrate import current_revision, head_revision, upgrade

store_option = field_option(SidecarSettings, "store_url", dest="store")


@click.group(help="Create, migrate and inspect the log store's schema.")
def command() -> None:
    """The ``db`` group."""


@command.command("upgrade", help="Create the schema, or migrate it to the newest revision.")
@store_option
@option(
    "--revision",
    default="head",
    env="PREDLOG_DB_REVISION",
    help="Alembic revision to migrate to.",
)
def upgrade_command(store: str, revision: str) -> None:
    """Migrate the store and say where it stands."""
    engine = make_engine(store)
    try:
        upgrade(engine, revision)
        click.echo(f"store at revision {current_revision(engine)} ({engine.url!r})")
    finally:
        engine.dispose()


@command.command("current", help="Print the store's revision and the newest one this code knows.")
@store_option
def current_command(store: str) -> None:
    """Print the store's revision; exit 1 when it is behind the code."""
    engine = make_engine(store, readonly=True)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    click.echo(f"current: {current or '(empty store)'}\nhead:    {head}")
    if current != head:
        raise click.exceptions.Exit(1)
