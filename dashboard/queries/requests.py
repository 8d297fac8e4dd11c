"""Per-request reads of the predictions table: listings and the job_id / request id lookup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, select

from dashboard.queries.rollup import read_frame
from dashboard.window import Filters, Window
from sidecar.store.queries import job_query, request_id_query
from sidecar.store.schema import predictions

LIST_COLUMNS: tuple[str, ...] = (
    "event_time",
    "job_id",
    "request_id",
    "endpoint",
    "status",
    "model",
    "version",
    "routing",
    "n_rows",
    "is_outlier",
    "max_outlier_score",
    "latency_ms",
    "error",
)
"""Columns of the request listings (inputs and results only where asked for)."""


def _listing(columns: Sequence[str]) -> Select[Any]:
    return select(*(predictions.c[name] for name in columns))


def _prediction_filter(query: Select[Any], window: Window, filters: Filters) -> Select[Any]:
    query = query.where(
        predictions.c.event_time >= window.start, predictions.c.event_time < window.end
    )
    # Rollups say '' where predictions say NULL: a request that reached no model.
    pairs = ((predictions.c.model, filters.model), (predictions.c.version, filters.version))
    for column, value in pairs:
        if value == "":
            query = query.where(column.is_(None))
        elif value is not None:
            query = query.where(column == value)
    return query


def recent_requests(
    engine: Engine,
    window: Window,
    filters: Filters,
    *,
    status: int | None = None,
    outlier: bool | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """The newest requests of the window matching the filters, newest first."""
    query = _prediction_filter(_listing(LIST_COLUMNS), window, filters)
    if status is not None:
        query = query.where(predictions.c.status == status)
    if outlier is not None:
        query = query.where(predictions.c.is_outlier == outlier)
    return _utc(read_frame(engine, query.order_by(predictions.c.event_time.desc()).limit(limit)))


def latest_outliers(
    engine: Engine, window: Window, filters: Filters, *, limit: int = 100
) -> pd.DataFrame:
    """The newest requests of the window with an outlier row, with their inputs and scores."""
    columns = (*LIST_COLUMNS, "inputs", "results")
    # The bare column, not "IS true": PostgreSQL's partial index holds "WHERE is_outlier".
    query = _prediction_filter(_listing(columns), window, filters).where(predictions.c.is_outlier)
    frame = _utc(read_frame(engine, query.order_by(predictions.c.event_time.desc()).limit(limit)))
    frame["scores"] = [_scores(results) for results in frame["results"]]
    return frame.drop(columns=["results"])


def _scores(results: Any) -> list[float]:
    return [float(row["outlier_score"]) for row in results or ()]


def find_requests(engine: Engine, key: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Every column of the request with job_id ``key``, else of those with that request id."""
    key = key.strip()
    if not key:
        return []
    with engine.connect() as conn:
        found = [dict(row) for row in conn.execute(job_query(key)).mappings()]
        if not found:
            query = request_id_query(key, limit)
            found = [dict(row) for row in conn.execute(query).mappings()]
    return found


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    if "event_time" in frame and len(frame):
        frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame
