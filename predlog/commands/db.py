"""``predlog db``: create, migrate, inspect and prune the log store."""

from __future__ import annotations

import click

from predlog.options import field_option, option
from predlog.report import render_stats
from predlog.timespec import parse_duration
from sidecar.settings import SidecarSettings
from sidecar.store.engine import make_engine
from sidecar.store.migrate import current_revision, head_revision, upgrade
from sidecar.store.retention import DEFAULT_BATCH_ROWS, cutoff_from, prune, table_stats

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


def _age(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@command.command(
    "prune",
    help="Delete predictions and dead letters older than --older-than (and rollups and streams "
    "older than --rollups-older-than); on PostgreSQL whole days go as partitions.",
)
@store_option
@option(
    "--older-than",
    required=True,
    env="PREDLOG_DB_PRUNE_OLDER_THAN",
    show_default=False,
    help="Age of the predictions and dead letters to delete: 30d, 12h, ...",
)
@option(
    "--rollups-older-than",
    default=None,
    env="PREDLOG_DB_PRUNE_ROLLUPS_OLDER_THAN",
    help="Age of the rollups and streams to delete (unset: keep them).",
)
@option(
    "--batch-rows",
    default=DEFAULT_BATCH_ROWS,
    type=click.IntRange(min=1),
    env="PREDLOG_DB_PRUNE_BATCH_ROWS",
    help="Rows per DELETE transaction (short ones let a running sidecar write between).",
)
def prune_command(
    store: str, older_than: str, rollups_older_than: str | None, batch_rows: int
) -> None:
    """Prune the store now, exactly to the cutoffs, and say what went."""
    log_before = cutoff_from(_age(older_than))
    rollups_before = None if rollups_older_than is None else cutoff_from(_age(rollups_older_than))
    engine = make_engine(store)
    try:
        done = prune(
            engine, log_before=log_before, rollups_before=rollups_before, batch_rows=batch_rows
        )
    finally:
        engine.dispose()
    for pruned in done:
        dropped = f", {len(pruned.partitions)} partitions dropped" if pruned.partitions else ""
        click.echo(
            f"{pruned.table}: {pruned.rows} rows deleted{dropped} before "
            f"{pruned.cutoff.isoformat(timespec='seconds')} ({pruned.seconds:.2f}s)"
        )


@command.command("stats", help="Rows, bytes on disk and the oldest row of each table.")
@store_option
@option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    env="PREDLOG_DB_STATS_FORMAT",
    help="Output format.",
)
def stats_command(store: str, fmt: str) -> None:
    """Print the size and age of every table."""
    engine = make_engine(store, readonly=True)
    try:
        found = table_stats(engine)
    finally:
        engine.dispose()
    click.echo(render_stats(found, fmt))
