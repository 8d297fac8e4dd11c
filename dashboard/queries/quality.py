"""The Quality page's data: feedback compared with the answers, per model version over time.

Everything but the unmatched count comes from rollup tables: the joined feedback's
confusion cells and error sums (``quality_rollups`` by the prediction's minute, and
``quality_rollups_hourly`` by its hour for buckets of hours) and the rows answered
(``rollups``), so the cost grows with the window's minutes (hours) and the cells, not with
the predictions. Unmatched feedback is read from its small partial index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, Table, func, select

from dashboard.queries.rollup import bucket_column, rate, read_frame, rollup_filter
from dashboard.window import Filters, Window, floor_minute
from sidecar.store.schema import DELAY_COLUMNS, feedback, rollups
from sidecar.store.schema import quality_rollups as qr
from sidecar.store.schema import quality_rollups_hourly as qr_hourly

_SUMS = ("matched", "unusable", "error_sum", "abs_error_sum", "squared_error_sum", "delay_sum_s")
_KEYS = ("model", "version")
_CELL = ["model", "version", "truth", "predicted"]
DELAY_LABELS = (
    *(f"≤ {label}" for label in ("1 min", "10 min", "1 h", "6 h", "1 day", "7 days")),
    "> 7 days",
)
"""The delay buckets' names, in ``DELAY_COLUMNS`` order."""


VERSION_COLUMNS = (
    "model",
    "version",
    "kind",
    "rows",
    "feedback",
    "unusable",
    "share",
    "accuracy",
    "mae",
    "rmse",
    "bias",
    "mean_delay_s",
    "max_delay_s",
)


@dataclass(frozen=True, slots=True)
class QualityStats:
    """The Quality page's data for one window and filters."""

    versions: pd.DataFrame
    """model, version, kind (classifier, regressor or ''), rows (answered), feedback
    (compared), unusable, share (feedback and unusable over rows), accuracy, mae, rmse, bias,
    mean_delay_s, max_delay_s: one row per version with feedback in the window."""
    series: pd.DataFrame
    """time, model, version, feedback, accuracy, mae, rmse, share: per bucket."""
    confusion: pd.DataFrame
    """model, version, truth, predicted, count: a classifier's confusion cells."""
    classes: pd.DataFrame
    """model, version, label, support (true), predicted, precision, recall."""
    delays: pd.DataFrame
    """model, version, delay (bucket name), order, count."""
    unmatched: int
    """Feedback received in the window whose job_id matches no stored prediction."""
    unmatched_oldest: datetime | None

    @property
    def feedback(self) -> int:
        """Feedback joined to a prediction in the window, compared or not."""
        return int(self.versions["feedback"].sum() + self.versions["unusable"].sum())


def _cells(
    engine: Engine, table: Table, start: datetime, end: datetime, step: int, filters: Filters
) -> pd.DataFrame:
    """The confusion cells and sums of ``table`` (per minute or per hour) in [start, end),
    per ``step``-wide bucket."""
    when = table.c.hour if "hour" in table.c else table.c.minute
    bucket = bucket_column(engine, step, when)
    keys = (table.c.model, table.c.version, table.c.truth, table.c.predicted)
    columns = [func.sum(table.c[name]).label(name) for name in (*_SUMS, *DELAY_COLUMNS)]
    query = (
        select(bucket, *keys, *columns, func.max(table.c.delay_max_s).label("delay_max_s"))
        .where(when >= start, when < end)
        .group_by(bucket, *keys)
    )
    if filters.model is not None:
        query = query.where(table.c.model == filters.model)
    if filters.version is not None:
        query = query.where(table.c.version == filters.version)
    return read_frame(engine, query)


def _quality_frame(engine: Engine, window: Window, filters: Filters) -> pd.DataFrame:
    """The window's cells per bucket. Buckets of whole hours read the hourly table between
    the window's first and last whole hour, and the minutes only at its two ends."""
    step, start, end = window.bucket_seconds, floor_minute(window.start), window.end
    first = start if start.minute == 0 else start.replace(minute=0) + timedelta(hours=1)
    last = end.replace(minute=0, second=0, microsecond=0)
    if step % 3600 or last <= first:
        raw = _cells(engine, qr, start, end, step, filters)
    else:
        parts = [
            _cells(engine, qr, start, first, step, filters),
            _cells(engine, qr_hourly, first, last, step, filters),
            _cells(engine, qr, last, end, step, filters),
        ]
        raw = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
    counts = ["matched", "unusable", *DELAY_COLUMNS]
    raw[counts] = raw[counts].astype("float64").astype("int64")  # PostgreSQL: numeric
    sums = [*_SUMS[2:], "delay_max_s"]
    raw[sums] = raw[sums].astype("float64")
    raw["bucket"] = raw["bucket"].astype("int64")
    if step % 3600 == 0:  # one row per bucket and cell, whichever table it came from
        aggregations = {name: "sum" for name in [*counts, *_SUMS[2:]]} | {"delay_max_s": "max"}
        raw = raw.groupby(["bucket", *_CELL], as_index=False).agg(aggregations)
    raw["time"] = pd.to_datetime(raw["bucket"], unit="s", utc=True)
    return raw


def _answered(engine: Engine, window: Window, filters: Filters) -> pd.DataFrame:
    """Rows answered per bucket and version (requests that reached a model and succeeded)."""
    bucket = bucket_column(engine, window.bucket_seconds)
    query = rollup_filter(
        select(
            bucket, rollups.c.model, rollups.c.version, func.sum(rollups.c.rows).label("rows")
        ).where(rollups.c.status < 400, rollups.c.model != ""),
        window,
        filters,
    ).group_by(bucket, rollups.c.model, rollups.c.version)
    raw = read_frame(engine, query)
    raw["rows"] = raw["rows"].astype("float64").astype("int64")
    raw["time"] = pd.to_datetime(raw["bucket"].astype("int64"), unit="s", utc=True)
    return raw


def _measures(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Accuracy, MAE, RMSE and bias per group of ``keys`` from the summed cells."""
    labelled = frame["predicted"] != ""
    cells = frame.assign(
        labelled=frame["matched"].where(labelled, 0),
        right=frame["matched"].where(labelled & (frame["truth"] == frame["predicted"]), 0),
        valued=frame["matched"].where(~labelled, 0),
    )
    names = ["matched", "unusable", "labelled", "right", "valued", *_SUMS[2:]]
    grouped = cells.groupby(keys, as_index=False)[names].sum()
    grouped["accuracy"] = rate(grouped["right"], grouped["labelled"])
    grouped["mae"] = rate(grouped["abs_error_sum"], grouped["valued"])
    grouped["rmse"] = rate(grouped["squared_error_sum"], grouped["valued"]).pow(0.5)
    grouped["bias"] = rate(grouped["error_sum"], grouped["valued"])
    grouped["mean_delay_s"] = rate(grouped["delay_sum_s"], grouped["matched"] + grouped["unusable"])
    return grouped.rename(columns={"matched": "feedback"})


def _classes(cells: pd.DataFrame) -> pd.DataFrame:
    """Per version and label: support, predictions, precision and recall."""
    out = []
    for (model, version), group in cells.groupby(list(_KEYS)):
        labels = sorted(set(group["truth"]) | set(group["predicted"]))
        for label in labels:
            is_true, is_predicted = group["truth"] == label, group["predicted"] == label
            right = int(group.loc[is_true & is_predicted, "count"].sum())
            support = int(group.loc[is_true, "count"].sum())
            predicted = int(group.loc[is_predicted, "count"].sum())
            out.append(
                {
                    "model": model,
                    "version": version,
                    "label": label,
                    "support": support,
                    "predicted": predicted,
                    "precision": right / predicted if predicted else math.nan,
                    "recall": right / support if support else math.nan,
                }
            )
    columns = ["model", "version", "label", "support", "predicted", "precision", "recall"]
    return pd.DataFrame(out, columns=columns)


def _delays(raw: pd.DataFrame) -> pd.DataFrame:
    wide = raw.groupby(list(_KEYS), as_index=False)[list(DELAY_COLUMNS)].sum()
    long = wide.melt(
        id_vars=list(_KEYS), value_vars=list(DELAY_COLUMNS), var_name="column", value_name="count"
    )
    long["order"] = long["column"].map(DELAY_COLUMNS.index).astype("int64")
    long["delay"] = long["order"].map(dict(enumerate(DELAY_LABELS)))
    long["count"] = long["count"].astype("int64")
    long = long.sort_values([*_KEYS, "order"], ignore_index=True)
    return long[[*_KEYS, "delay", "order", "count"]]


def _unmatched(engine: Engine, window: Window) -> tuple[int, datetime | None]:
    query = select(func.count(), func.min(feedback.c.event_time)).where(
        feedback.c.prediction_time.is_(None),
        feedback.c.event_time >= window.start,
        feedback.c.event_time < window.end,
    )
    with engine.connect() as conn:
        count, oldest = conn.execute(query).one()
    return int(count), oldest


def quality(engine: Engine, window: Window, filters: Filters) -> QualityStats:
    """Feedback against the answers in ``window``: per version, per bucket, per class."""
    raw = _quality_frame(engine, window, filters)
    answered = _answered(engine, window, filters)
    rows = answered.groupby(list(_KEYS), as_index=False)["rows"].sum()
    versions = _measures(raw, list(_KEYS))
    versions = versions.merge(rows, on=list(_KEYS), how="left").fillna({"rows": 0})
    versions["rows"] = versions["rows"].astype("int64")
    versions["share"] = rate(versions["feedback"] + versions["unusable"], versions["rows"])
    maxima = raw.groupby(list(_KEYS), as_index=False)["delay_max_s"].max()
    versions = versions.merge(maxima, on=list(_KEYS), how="left")
    versions = versions.rename(columns={"delay_max_s": "max_delay_s"})
    versions["kind"] = [
        "classifier" if labelled else "regressor" if valued else ""
        for labelled, valued in zip(versions["labelled"], versions["valued"], strict=True)
    ]
    versions = versions.sort_values(list(_KEYS), ignore_index=True)

    series = _measures(raw, ["time", *_KEYS])
    series = series.merge(answered[["time", *_KEYS, "rows"]], on=["time", *_KEYS], how="left")
    series["share"] = rate(series["feedback"] + series["unusable"], series["rows"].fillna(0))
    series = series.sort_values(["time", *_KEYS], ignore_index=True)

    labelled = raw[raw["predicted"] != ""]
    confusion = labelled.groupby([*_KEYS, "truth", "predicted"], as_index=False)[["matched"]].sum()
    confusion = confusion.rename(columns={"matched": "count"})
    unmatched, oldest = _unmatched(engine, window)
    return QualityStats(
        versions=versions[list(VERSION_COLUMNS)],
        series=series[["time", *_KEYS, "feedback", "accuracy", "mae", "rmse", "share"]],
        confusion=confusion,
        classes=_classes(confusion),
        delays=_delays(raw),
        unmatched=unmatched,
        unmatched_oldest=oldest,
    )
