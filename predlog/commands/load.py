"""``predlog load``: generate open-loop traffic against a running api."""

from __future__ import annotations

import sys

import click
import orjson

from client import LoadError, LoadSettings, format_summary, run_load
from predlog.options import option, settings_options


@click.command(name="load")
@settings_options(LoadSettings)
@option(
    "--json",
    "as_json",
    env="PREDLOG_LOAD_JSON",
    is_flag=True,
    default=False,
    help="Print the summary as JSON instead of text.",
)
def command(settings: LoadSettings, as_json: bool) -> None:
    """Send POST /predict at a constant arrival rate and summarise what came back."""
    try:
        summary = run_load(settings, progress=sys.stderr)
    except LoadError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_summary(summary))
