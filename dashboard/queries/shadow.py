"""Shadow agreement: how often a shadow version's answers agree with its primary's.

A shadow record (``shadow_of`` set) is joined to the primary's record by job_id (the
primary's unique index). Agreement is per input row: the same label for a classifier; for
a regressor, an answer within ``REGRESSION_TOLERANCE`` of the primary's (relative, with
an absolute floor for answers near zero), with the mean absolute difference beside it.
The newest ``limit`` shadow records of the window are compared (the event-time index
walked backwards), so the page's cost does not grow with the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from dashboard.window import Filters, Window
from sidecar.store.schema import Prediction

REGRESSION_TOLERANCE = 0.05
"""A regressor's shadow agrees when within 5% of the primary's value (or 0.05 near zero)."""
COMPARED = 5000
"""Most shadow records compared per window: the newest."""
COLUMNS: tuple[str, ...] = (
    "model",
    "shadow_version",
    "primary_version",
    "compared",
    "rows",
    "agreement",
    "mean_abs_diff",
    "shadow_errors",
    "shadow_p50_ms",
)
"""The agreement table's columns, one row per (model, shadow version, primary version)."""


@dataclass(frozen=True, slots=True)
class RowPair:
    """One compared request: rows that agree, rows compared, a regressor's differences."""

    agreed: int
    rows: int
    abs_diff: list[float]


def agreement(
    engine: Engine, window: Window, filters: Filters, limit: int = COMPARED
) -> pd.DataFrame:
    """Per model, shadow version and primary version: requests compared, share of rows
    that agree, mean absolute difference (regressors), shadow failures and latency."""
    shadow = aliased(Prediction, name="shadow")
    primary = aliased(Prediction, name="primary")
    query = (
        select(
            shadow.model,
            shadow.version,
            primary.version,
            shadow.status,
            shadow.latency_ms,
            shadow.results,
            primary.results,
        )
        .join(primary, primary.job_id == shadow.shadow_of)
        .where(
            shadow.shadow_of.is_not(None),
            shadow.event_time >= window.start,
            shadow.event_time < window.end,
        )
        .order_by(shadow.event_time.desc())
        .limit(limit)
    )
    if filters.model:
        query = query.where(shadow.model == filters.model)
    with engine.connect() as conn:
        fetched = conn.execute(query).all()
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for model, version, primary_version, status, latency, mine, theirs in fetched:
        key = (str(model), str(version), str(primary_version))
        group = groups.setdefault(
            key, {"compared": 0, "rows": 0, "agreed": 0, "diffs": [], "errors": 0, "ms": []}
        )
        group["compared"] += 1
        group["ms"].append(float(latency))
        if status != 200 or not mine or not theirs:
            group["errors"] += status != 200
            continue
        pair = compare(mine, theirs)
        group["rows"] += pair.rows
        group["agreed"] += pair.agreed
        group["diffs"].extend(pair.abs_diff)
    out = [
        {
            "model": key[0],
            "shadow_version": key[1],
            "primary_version": key[2],
            "compared": g["compared"],
            "rows": g["rows"],
            "agreement": g["agreed"] / g["rows"] if g["rows"] else None,
            "mean_abs_diff": sum(g["diffs"]) / len(g["diffs"]) if g["diffs"] else None,
            "shadow_errors": g["errors"],
            "shadow_p50_ms": float(pd.Series(g["ms"]).median()),
        }
        for key, g in sorted(groups.items())
    ]
    return pd.DataFrame(out, columns=list(COLUMNS))


def compare(mine: list[Any], theirs: list[Any]) -> RowPair:
    """Row by row agreement of a shadow's results with the primary's (as stored)."""
    agreed, diffs = 0, []
    for a, b in zip(mine, theirs, strict=False):
        if a.get("label") is not None or b.get("label") is not None:
            agreed += a.get("label") == b.get("label")
            continue
        x, y = _value(a), _value(b)
        if x is None or y is None:
            continue
        diff = abs(x - y)
        diffs.append(diff)
        agreed += diff <= max(REGRESSION_TOLERANCE * abs(y), REGRESSION_TOLERANCE)
    return RowPair(agreed, min(len(mine), len(theirs)), diffs)


def _value(result: dict[str, Any]) -> float | None:
    prediction = result.get("prediction")
    if isinstance(prediction, list) and len(prediction) == 1:
        return float(prediction[0])
    return None
