"""The feature histogram rollups of a bulk fill (bench.fill_store), as the sidecar keeps them.

Each version gets reference bins as training would make them: quantile edges of 150
"training" rows drawn from the fill's feature distribution, and their counts. A day's input
rows are then counted per minute, version, feature and bin (and the predicted class), with
the same binning as ``sidecar.store.histograms``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, insert

from sidecar.store.bins import BIN_COLUMN_COUNT, BIN_COLUMNS, PREDICTION_SLOT
from sidecar.store.histograms import bin_index
from sidecar.store.references import VersionReference, from_manifest, to_rows
from sidecar.store.schema import feature_references, feature_rollups, feature_rollups_hourly

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
TRAINING_ROWS = 150
BINS = 10
FEATURE_COLUMNS: tuple[str, ...] = tuple(c.name for c in feature_rollups.columns)
HOURLY_COLUMNS: tuple[str, ...] = tuple(c.name for c in feature_rollups_hourly.columns)


def references(
    versions: tuple[tuple[str, str], ...], means: npt.NDArray[Any], stds: npt.NDArray[Any],
    labels: tuple[str, ...],
) -> dict[tuple[str, str], VersionReference]:  # fmt: skip
    """Reference bins per version, from a deterministic "training" sample."""
    rng = np.random.default_rng(12345)
    sample = np.round(rng.normal(means, stds, (TRAINING_ROWS, len(FEATURES))), 2)
    stats = []
    for name, col in zip(FEATURES, sample.T, strict=True):
        edges = np.unique(np.quantile(col, np.linspace(0.0, 1.0, BINS + 1)))
        counts, _ = np.histogram(col, bins=edges)
        stats.append(
            {"name": name, "mean": float(col.mean()), "std": float(col.std()),
             "min": float(col.min()), "max": float(col.max()),
             "bin_edges": edges.tolist(), "bin_counts": counts.tolist()}
        )  # fmt: skip
    return {
        (model, version): from_manifest(
            {"name": model, "version": version, "feature_stats": stats, "labels": list(labels)}
        )
        for model, version in versions
    }


def store_references(engine: Engine, refs: dict[tuple[str, str], VersionReference]) -> None:
    """The versions' bins into ``feature_references``."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(feature_references), [r for ref in refs.values() for r in to_rows(ref, now)]
        )


def day_features(
    refs: dict[tuple[str, str], VersionReference],
    keys: list[tuple[str, str]],
    row_version: npt.NDArray[Any],
    row_minute: npt.NDArray[Any],
    inputs: npt.NDArray[Any],
    label: npt.NDArray[Any],
    outlier: npt.NDArray[Any],
) -> pd.DataFrame:
    """``feature_rollups`` rows of one day: per scored input row, its version (index into
    ``keys``), its minute (datetime64[m]), its features, its predicted class and whether it
    was flagged."""
    frames = []
    for index, key in enumerate(keys):
        mask = row_version == index
        if not mask.any():
            continue
        ref = refs[key]
        minutes, at = np.unique(row_minute[mask], return_inverse=True)
        flagged = np.bincount(at[outlier[mask]], minlength=len(minutes))
        slots = [
            (s.feature, bin_index(s.edges, inputs[mask, s.feature]))
            for s in ref.features
            if s.edges is not None
        ]
        slots.append((PREDICTION_SLOT, label[mask]))
        for feature, bins in slots:
            table = np.bincount(
                at * BIN_COLUMN_COUNT + bins, minlength=len(minutes) * BIN_COLUMN_COUNT
            )
            table = table.reshape(len(minutes), BIN_COLUMN_COUNT)
            frame = pd.DataFrame(table, columns=list(BIN_COLUMNS))
            frame.insert(0, "outliers", flagged)
            frame.insert(0, "rows", table.sum(axis=1))
            frame.insert(0, "feature", feature)
            frame.insert(0, "minute", minutes.astype("datetime64[us]"))
            frame.insert(0, "version", key[1])
            frame.insert(0, "model", key[0])
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(FEATURE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(FEATURE_COLUMNS)]


def write_hourly(engine: Engine, minutes: list[pd.DataFrame]) -> None:
    """``feature_rollups_hourly`` from every day's ``feature_rollups`` rows, in one insert."""
    if not minutes:
        return
    frame = pd.concat(minutes, ignore_index=True)
    frame = frame.assign(hour=frame["minute"].dt.floor("h")).drop(columns="minute")
    summed = frame.groupby(["model", "version", "hour", "feature"], as_index=False).sum()
    rows: list[dict[str, Any]] = []
    for record in summed[list(HOURLY_COLUMNS)].to_dict("records"):
        row = {str(name): value for name, value in record.items()}
        row["hour"] = row["hour"].to_pydatetime().replace(tzinfo=UTC)
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(insert(feature_rollups_hourly), rows)
