"""``predlog query``: read the log store from the command line."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import click
from sqlalchemy.exc import DBAPIError

from dashboard.settings import DashboardSettings
from predlog import feedback_report, report
from predlog.options import field_option, option
from predlog.timespec import parse_when
from sidecar.store import feedback_queries, queries
from sidecar.store.engine import make_engine


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """A duration back from now (10m, 2h, 7d) or an ISO timestamp (UTC unless it says)."""
    try:
        return None if value is None else parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _status(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A status class (2xx, 4xx, 5xx) or an exact code (404)."""
    try:
        if value is not None:
            queries.parse_status(value)  # fail here, as a usage error, not in the query
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


@click.command(
    help="Find stored predictions by job id (with their feedback), request id or filters; "
    "or list gaps or unmatched feedback."
)
@field_option(DashboardSettings, "store_url", dest="store")  # read-only, like the dashboard
@option(
    "--job-id",
    env="PREDLOG_QUERY_JOB_ID",
    help="Show the one request with this job id, and its truth.",
)
@option("--request-id", env="PREDLOG_QUERY_REQUEST_ID", help="Requests with this X-Request-Id.")
@option("--since", env="PREDLOG_QUERY_SINCE", callback=_when, help="From: 10m, 2h, 7d or ISO.")
@option("--until", env="PREDLOG_QUERY_UNTIL", callback=_when, help="Before: 10m, 2h or ISO.")
@option("--model", env="PREDLOG_QUERY_MODEL", help="Only this model.")
@option("--version", env="PREDLOG_QUERY_VERSION", help="Only this model version.")
@option("--endpoint", env="PREDLOG_QUERY_ENDPOINT", help="Only this route, e.g. /predict.")
@option(
    "--outliers",
    env="PREDLOG_QUERY_OUTLIERS",
    is_flag=True,
    help="Only requests with at least one outlier row.",
)
@option("--status", env="PREDLOG_QUERY_STATUS", callback=_status, help="2xx, 4xx, 5xx or 404.")
@option(
    "--limit",
    env="PREDLOG_QUERY_LIMIT",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="At most this many requests, newest first.",
)
@option(
    "--gaps",
    env="PREDLOG_QUERY_GAPS",
    is_flag=True,
    help="List missing sequence numbers per api process run (host, pid, run id) instead.",
)
@option(
    "--unmatched",
    env="PREDLOG_QUERY_UNMATCHED",
    is_flag=True,
    help="List feedback whose job id matches no stored prediction (--since/--until apply).",
)
@option(
    "--format",
    "fmt",
    env="PREDLOG_QUERY_FORMAT",
    type=click.Choice(report.FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
def command(
    store: str,
    job_id: str | None,
    request_id: str | None,
    since: datetime | None,
    until: datetime | None,
    model: str | None,
    version: str | None,
    endpoint: str | None,
    outliers: bool,
    status: str | None,
    limit: int,
    gaps: bool,
    unmatched: bool,
    fmt: str,
) -> None:
    """Read the store and print what was asked for."""
    if sum((job_id is not None, request_id is not None, gaps, unmatched)) > 1:
        raise click.UsageError("--job-id, --request-id, --gaps and --unmatched exclude each other")
    out = cast(report.Format, fmt)
    engine = make_engine(store, readonly=True)
    try:
        if job_id is not None:
            found = queries.get_job(engine, job_id)
            truths = feedback_queries.feedback_for(engine, job_id)
            if found is None:
                if truths:
                    click.echo(feedback_report.render_feedback_only(truths, out))
                raise click.ClickException(f"no prediction with job id {job_id!r}")
            click.echo(feedback_report.render_job_with_truth(found, truths, out))
        elif unmatched:
            waiting = feedback_queries.unmatched(engine, since=since, until=until, limit=limit)
            click.echo(feedback_report.render_unmatched(waiting, out))
        elif gaps:
            click.echo(report.render_gaps(queries.gaps(engine), out))
        elif request_id is not None:
            listed = queries.find_by_request_id(engine, request_id, limit)
            click.echo(report.render_predictions(listed, out))
        else:
            listed = queries.search(
                engine,
                since=since,
                until=until,
                model=model,
                version=version,
                endpoint=endpoint,
                outliers_only=outliers,
                status=status,
                limit=limit,
            )
            click.echo(report.render_predictions(listed, out))
    except DBAPIError as exc:
        # Unreachable, missing file, or not migrated yet: one line, not a traceback.
        raise click.ClickException(f"cannot read the store: {exc.orig}") from exc
    finally:
        engine.dispose()
