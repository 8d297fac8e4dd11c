"""``predlog load``: generate open-loop traffic against a running api."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson
from pydantic import ValidationError

from client import LoadError, LoadSettings, format_summary, run_load
from client.settings import parse_duration
from predlog.options import option

_F = TypeVar("_F", bound=Callable[..., Any])


class DurationType(click.ParamType[float, "str | float"]):
    """A duration such as 60s, 5m, 1h or a number of seconds."""

    name = "duration"

    def convert(
        self, value: str | float, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _option(*decls: str, env: str, **kwargs: Any) -> Callable[[_F], _F]:
    return option(*decls, env=f"PREDLOG_LOAD_{env}", **kwargs)


@click.command(name="load")
@_option(
    "--url",
    env="URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Base URL of the api.",
)
@_option(
    "--rate",
    env="RATE",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Requests per second, held open-loop (sends never wait for answers).",
)
@_option(
    "--duration",
    env="DURATION",
    type=DurationType(),
    default=None,
    help="How long to send: 60s, 5m, 1h (default 60s unless --count is given).",
)
@_option(
    "--count",
    env="COUNT",
    type=click.IntRange(min=1),
    default=None,
    help="Send this many requests instead of running for a duration.",
)
@_option(
    "--outlier-fraction",
    env="OUTLIER_FRACTION",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of rows drawn far outside the training distribution.",
)
@_option("--model", env="MODEL", default=None, help="Model name (default: the api's default).")
@_option(
    "--version",
    "version",
    env="VERSION",
    default=None,
    help="Pin this model version (default: the api's weighted split).",
)
@_option(
    "--endpoint",
    env="ENDPOINT",
    default="/predict",
    show_default=True,
    help="Path the rows are posted to.",
)
@_option(
    "--concurrency-limit",
    env="CONCURRENCY_LIMIT",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Most requests in flight; sends due beyond it are counted as dropped.",
)
@_option(
    "--timeout",
    env="TIMEOUT",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds before an unanswered request counts as an error.",
)
@_option("--seed", env="SEED", type=int, default=None, help="Seed of the row sampler.")
@_option(
    "--progress/--no-progress",
    env="PROGRESS",
    default=True,
    show_default=True,
    help="Print a progress line to stderr once a second.",
)
@_option(
    "--json",
    "as_json",
    env="JSON",
    is_flag=True,
    default=False,
    help="Print the summary as JSON instead of text.",
)
def command(as_json: bool, **options: Any) -> None:
    """Send POST /predict at a constant arrival rate and summarise what came back."""
    try:
        settings = LoadSettings(**options)
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        summary = run_load(settings, progress=sys.stderr)
    except LoadError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_summary(summary))
