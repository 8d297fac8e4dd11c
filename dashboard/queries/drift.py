"""The Drift page's data: per version and feature, the live histogram against the training
reference, PSI and a KS or Wasserstein statistic per bucket, the prediction's distribution
and the outlier rate; all from the per-minute rollups (``feature_rollups``, ``rollups``).

A feature is judged per chart bucket (``sidecar.store.drift``); its flag is its latest
bucket with enough values. A slot without a training reference (a prediction, a feature
of a bundle written before the reference bins were kept) is compared with its first bucket
of the window that has enough values: drift since then.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from dashboard.queries.rollup import bucket_column, rate, read_frame
from dashboard.window import Filters, Window, floor_minute
from sidecar.store.bins import BIN_COLUMNS, PREDICTION_SLOT
from sidecar.store.drift import Rule, Score, padded, scores
from sidecar.store.references import Slot, VersionReference, from_rows
from sidecar.store.schema import feature_references, feature_rollups, feature_rollups_hourly

SCORE_COLUMNS = ("rows", "psi", "wasserstein", "ks", "ks_p", "test", "drift")


@dataclass(frozen=True, slots=True)
class VersionDrift:
    """One version's drift over a window."""

    model: str
    version: str
    features: pd.DataFrame
    """feature, name, rows, psi, wasserstein, ks, ks_p, test, drift (its latest judged
    bucket), time (that bucket), overall_psi, overall_drift (the whole window at once)."""
    series: pd.DataFrame
    """time, feature, name and the scores of every bucket with values."""
    histograms: pd.DataFrame
    """feature, name, column, low, high, live, reference: shares per bin over the window."""
    prediction: pd.DataFrame
    """time, column, label, rows, share: the prediction's distribution per bucket."""
    prediction_series: pd.DataFrame
    """time and the scores of the prediction per bucket (against the window's first)."""
    outliers: pd.DataFrame
    """time, rows, outlier_rows, outlier_rate: rows flagged per bucket."""

    @property
    def flagged(self) -> list[str]:
        """The features whose latest judged bucket drifted."""
        return [str(n) for n in self.features.loc[self.features["drift"] == True, "name"]]  # noqa: E712


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The Drift page's data: one entry per version with histograms in the window."""

    rule: Rule
    versions: tuple[VersionDrift, ...]


def references(engine: Engine, filters: Filters) -> dict[tuple[str, str], VersionReference]:
    """The versions' bins as the sidecar stored them (``feature_references``)."""
    table = feature_references
    query = select(table)
    if filters.model is not None:
        query = query.where(table.c.model == filters.model)
    if filters.version is not None:
        query = query.where(table.c.version == filters.version)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            grouped.setdefault((row["model"], row["version"]), []).append(dict(row))
    return {
        key: from_rows(*key, rows)
        for key, rows in sorted(grouped.items())
        if any(r["feature"] == PREDICTION_SLOT for r in rows)
    }


def drift(engine: Engine, window: Window, filters: Filters, rule: Rule) -> DriftReport:
    """Every version's drift in ``window`` (filtered), from the histogram rollups: the
    hourly ones when the chart's buckets are whole hours (their first and last hour then
    count whole), the per-minute ones otherwise."""
    refs = references(engine, filters)
    if not refs:
        return DriftReport(rule, ())
    width = max(slot.columns for ref in refs.values() for slot in (*ref.features, ref.prediction))
    counts = ["rows", "outliers", *BIN_COLUMNS[:width]]
    if window.bucket_seconds % 3600 == 0:
        t, time = feature_rollups_hourly, feature_rollups_hourly.c.hour
        start = window.start.replace(minute=0, second=0, microsecond=0)
    else:
        t, time = feature_rollups, feature_rollups.c.minute
        start = floor_minute(window.start)
    bucket = bucket_column(engine, window.bucket_seconds, time)
    query = select(
        t.c.model, t.c.version, t.c.feature, bucket, *(func.sum(t.c[c]).label(c) for c in counts)
    ).where(time >= start, time < window.end)
    if filters.model is not None:
        query = query.where(t.c.model == filters.model)
    if filters.version is not None:
        query = query.where(t.c.version == filters.version)
    raw = read_frame(engine, query.group_by(t.c.model, t.c.version, t.c.feature, bucket))
    if raw.empty:
        return DriftReport(rule, ())
    raw[counts] = raw[counts].astype("float64").astype("int64")  # PostgreSQL: numeric sums
    raw["time"] = pd.to_datetime(raw["bucket"].astype("int64"), unit="s", utc=True)
    found = []
    for (model, version), part in raw.groupby(["model", "version"], sort=True):
        ref = refs.get((str(model), str(version)))
        if ref is not None:
            found.append(_version(ref, part, rule))
    return DriftReport(rule, tuple(found))


def _version(ref: VersionReference, part: pd.DataFrame, rule: Rule) -> VersionDrift:
    features, series, bins = [], [], []
    for slot in ref.features:
        rows = part[part["feature"] == slot.feature].sort_values("time")
        if rows.empty:
            continue
        times, live = list(rows["time"]), rows[list(BIN_COLUMNS[: slot.columns])].to_numpy()
        buckets = _scores(slot, live, rule)
        for time, each in zip(times, buckets, strict=True):
            series.append({"time": time, "feature": slot.feature, "name": slot.name, **_row(each)})
        judged = [i for i, s in enumerate(buckets) if s.drift is not None] or [len(buckets) - 1]
        last = judged[-1]
        overall = _scores(slot, live.sum(axis=0, keepdims=True), rule, baseline=live)[0]
        features.append(
            {
                "feature": slot.feature,
                "name": slot.name,
                **_row(buckets[last]),
                "time": times[last],
                "overall_psi": overall.psi,
                "overall_drift": overall.drift,
            }
        )
        bins.extend(_bins(slot, live.sum(axis=0), _reference(slot, live, rule)))
    pred_rows = part[part["feature"] == PREDICTION_SLOT].sort_values("time")
    slot = ref.prediction
    prediction: list[dict[str, Any]] = []
    pred_series: list[dict[str, Any]] = []
    if not pred_rows.empty:
        live = pred_rows[list(BIN_COLUMNS[: slot.columns])].to_numpy()
        labels = _labels(slot)
        for time, counts, each in zip(
            pred_rows["time"], live, _scores(slot, live, rule), strict=True
        ):
            pred_series.append({"time": time, **_row(each)})
            total = max(int(counts.sum()), 1)
            prediction.extend(
                {"time": time, "column": i, "label": labels[i], "rows": int(c), "share": c / total}
                for i, c in enumerate(counts)
                if c
            )
    # The prediction's rows are the rows scored; their outliers, those flagged.
    outliers = pred_rows[["time", "rows", "outliers"]].rename(columns={"outliers": "outlier_rows"})
    outliers = outliers.reset_index(drop=True)
    outliers["outlier_rate"] = rate(outliers["outlier_rows"], outliers["rows"])
    return VersionDrift(
        model=ref.model,
        version=ref.version,
        features=pd.DataFrame(
            features,
            columns=["feature", "name", *SCORE_COLUMNS, "time", "overall_psi", "overall_drift"],
        ),
        series=pd.DataFrame(series, columns=["time", "feature", "name", *SCORE_COLUMNS]),
        histograms=pd.DataFrame(
            bins, columns=["feature", "name", "column", "low", "high", "live", "reference"]
        ),
        prediction=pd.DataFrame(prediction, columns=["time", "column", "label", "rows", "share"]),
        prediction_series=pd.DataFrame(pred_series, columns=["time", *SCORE_COLUMNS]),
        outliers=outliers[["time", "rows", "outlier_rows", "outlier_rate"]],
    )


def _reference(slot: Slot, live: np.ndarray, rule: Rule) -> np.ndarray:
    """The slot's training histogram, or (none kept) its first bucket with enough values."""
    if slot.reference is not None:
        return padded(slot.reference, slot.columns)
    full = [row for row in live if row.sum() >= rule.min_rows]
    return np.asarray(full[0] if full else live[0], dtype=np.float64)


def _scores(
    slot: Slot, live: np.ndarray, rule: Rule, baseline: np.ndarray | None = None
) -> list[Score]:
    ref = _reference(slot, live if baseline is None else baseline, rule)
    return scores(live, ref, rule, edges=slot.edges, std=slot.std)


def _row(each: Score) -> dict[str, Any]:
    return {name: getattr(each, name) for name in SCORE_COLUMNS}


def _bins(slot: Slot, live: np.ndarray, reference: np.ndarray) -> list[dict[str, Any]]:
    """Shares per bin; the open end bins drawn one reference std wide."""
    assert slot.edges is not None
    edges = slot.edges.tolist()
    scale = slot.std if slot.std else 1.0
    points = [edges[0] - scale, *edges, edges[-1] + scale]
    live_total, ref_total = max(live.sum(), 1), max(reference.sum(), 1)
    return [
        {
            "feature": slot.feature,
            "name": slot.name,
            "column": i,
            "low": points[i],
            "high": points[i + 1],
            "live": live[i] / live_total,
            "reference": reference[i] / ref_total,
        }
        for i in range(slot.columns)
    ]


def _labels(slot: Slot) -> list[str]:
    """A name per histogram column of the prediction slot."""
    if slot.edges is None:
        return [
            *slot.labels[: slot.columns - 1],
            "other" if len(slot.labels) > slot.columns else slot.labels[-1],
        ]
    edges = [f"{e:g}" for e in slot.edges]
    return [
        f"< {edges[0]}",
        *(f"{a} to {b}" for a, b in itertools.pairwise(edges)),
        f"> {edges[-1]}",
    ]
