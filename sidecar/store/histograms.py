"""Per-minute per-feature histogram increments from a batch of newly stored records.

Vectorised: one pass in Python gathers each version's input rows and predictions, then
numpy bins every feature column at once (``searchsorted``) and counts per minute and bin
(``bincount``). A record counts when it has a result per input row of the version's width
(a failed request has no results).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from sidecar.record import PredictionRecord
from sidecar.store.bins import BIN_COLUMN_COUNT, BIN_COLUMNS, PREDICTION_SLOT
from sidecar.store.mapping import to_datetime
from sidecar.store.references import Slot, VersionReference

Lookup = Callable[[str, str], VersionReference | None]
"""(model, version) -> the version's bins, None for a version without a reference."""

_Group = tuple[list[float], list[int], list[list[float]], list[Any]]
"""A version's batch: each record's event time and number of rows, the rows, their results."""


def bin_index(edges: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """The column of each value: 0 below the first edge, ``len(edges)`` above the last, the
    interior bins between (each closed below, the last closed on both sides)."""
    index = np.searchsorted(edges, values, side="right")
    index[values == edges[-1]] = len(edges) - 1  # the last interior bin is closed
    return index


def feature_increments(records: Iterable[PredictionRecord], lookup: Lookup) -> list[dict[str, Any]]:
    """One ``feature_rollups`` increment per (version, minute, slot), sorted by key."""
    # This loop runs once per stored record: plain lists, one dict lookup per version change.
    groups: dict[tuple[str, str], _Group] = {}
    last: tuple[str | None, str | None] = (None, None)
    group: _Group = ([], [], [], [])
    for record in records:
        results = record.results
        if not results:
            continue
        inputs = record.inputs
        if inputs is None or len(inputs) != len(results):
            continue
        key = (record.model, record.version)
        if key != last:
            model, version = key
            if model is None or version is None:
                continue
            last = key
            group = groups.setdefault((model, version), ([], [], [], []))
        group[0].append(record.event_time)
        group[1].append(len(inputs))
        group[2].extend(inputs)
        group[3].extend(results)
    out: list[dict[str, Any]] = []
    for (model, version), group in sorted(groups.items()):
        reference = lookup(model, version)
        if reference is not None:
            out.extend(_version_rows(reference, *group))
    return out


def _version_rows(
    reference: VersionReference,
    times: list[float],
    sizes: list[int],
    rows: list[list[float]],
    results: list[Any],
) -> list[dict[str, Any]]:
    minutes = (np.asarray(times, dtype=np.float64) // 60).astype(np.int64)
    if len(rows) != len(times):  # requests of several rows: each row in its record's minute
        minutes = np.repeat(minutes, sizes)
    width = len(reference.features)
    try:
        matrix = np.asarray(rows, dtype=np.float64)
        ragged = matrix.ndim != 2 or matrix.shape[1] != width
    except ValueError:  # rows of several widths
        ragged = True
    if ragged:  # rows of another width than the bundle's are not this version's
        keep = [i for i, row in enumerate(rows) if len(row) == width]
        minutes = minutes[keep]
        results = [results[i] for i in keep]
        matrix = np.asarray([rows[i] for i in keep], dtype=np.float64).reshape(-1, width)
    if not len(matrix):
        return []
    unique, at = np.unique(minutes, return_inverse=True)
    flagged = np.fromiter((r.is_outlier for r in results), np.bool_, len(results))
    every = np.bincount(at[flagged], minlength=len(unique))
    counts: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[Any]]] = [
        (
            slot.feature,
            _count(at, len(unique), bin_index(slot.edges, matrix[:, slot.feature])),
            every,
        )
        for slot in reference.features
        if slot.edges is not None
    ]
    prediction = _prediction_bins(reference, results)
    if prediction is not None:
        valid = prediction >= 0
        outliers = np.bincount(at[valid & flagged], minlength=len(unique))
        counts.append(
            (PREDICTION_SLOT, _count(at[valid], len(unique), prediction[valid]), outliers)
        )
    out: list[dict[str, Any]] = []
    for row, minute_index in enumerate(unique.tolist()):
        minute = to_datetime(minute_index * 60.0)
        for feature, table, outlier_counts in counts:
            values = table[row].tolist()
            total = sum(values)
            if total == 0:
                continue
            entry = {
                "model": reference.model,
                "version": reference.version,
                "minute": minute,
                "feature": feature,
                "rows": total,
                "outliers": int(outlier_counts[row]),
            }
            entry.update(zip(BIN_COLUMNS, values, strict=True))
            out.append(entry)
    out.sort(key=lambda e: (e["minute"], e["feature"]))
    return out


def hourly(increments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-minute increments summed per hour: ``feature_rollups_hourly``'s, sorted."""
    hours: dict[tuple[str, str, datetime, int], dict[str, Any]] = {}
    for entry in increments:
        minute: datetime = entry["minute"]
        hour = minute.replace(minute=0)
        key = (entry["model"], entry["version"], hour, entry["feature"])
        found = hours.get(key)
        if found is None:
            found = hours[key] = {**entry, "hour": hour}
            del found["minute"]
        else:
            for name in SUMMED:
                found[name] += entry[name]
    return [hours[key] for key in sorted(hours)]


SUMMED: tuple[str, ...] = ("rows", "outliers", *BIN_COLUMNS)
"""The columns of a histogram row that add up."""


def _count(at: npt.NDArray[Any], minutes: int, bins: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Rows per (minute, column): a (minutes, BIN_COLUMN_COUNT) table."""
    flat = np.bincount(at * BIN_COLUMN_COUNT + bins, minlength=minutes * BIN_COLUMN_COUNT)
    return flat.reshape(minutes, BIN_COLUMN_COUNT).astype(np.int64)


def _prediction_bins(reference: VersionReference, results: list[Any]) -> npt.NDArray[Any] | None:
    """Each row's prediction column (-1: not countable), or None when the slot has no bins."""
    slot: Slot = reference.prediction
    if slot.kind == "classes":
        index = reference.label_index
        return np.fromiter((index.get(r.label, -1) for r in results), np.int64, len(results))
    if slot.edges is None:
        return None
    values = np.fromiter(
        (r.prediction[0] if r.prediction else np.nan for r in results), np.float64, len(results)
    )
    bins = bin_index(slot.edges, values)
    bins[np.isnan(values)] = -1
    return bins
