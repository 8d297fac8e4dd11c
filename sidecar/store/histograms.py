"""Per-minute per-feature histogram increments from a batch of newly stored records.

Vectorised: one pass in Python gathers each version's input rows and predictions, then
numpy bins every feature column at once (``searchsorted``) and counts per minute and bin
(``bincount``). A record counts when it has a result per input row of the version's width
(a failed request has no results).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from sidecar.record import PredictionRecord
from sidecar.store.bins import BIN_COLUMN_COUNT, BIN_COLUMNS, PREDICTION_SLOT
from sidecar.store.mapping import to_datetime
from sidecar.store.references import Slot, VersionReference

Lookup = Callable[[str, str], VersionReference | None]
"""(model, version) -> the version's bins, None for a version without a reference."""

_Group = tuple[list[int], list[list[float]], list[Any]]
"""A version's batch: the minute of each row, the rows, and each row's prediction."""


def bin_index(edges: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """The column of each value: 0 below the first edge, ``len(edges)`` above the last, the
    interior bins between (each closed below, the last closed on both sides)."""
    index = np.searchsorted(edges, values, side="right")
    index[values == edges[-1]] = len(edges) - 1  # the last interior bin is closed
    return index


def feature_increments(records: Iterable[PredictionRecord], lookup: Lookup) -> list[dict[str, Any]]:
    """One ``feature_rollups`` increment per (version, minute, slot), sorted by key."""
    groups: dict[tuple[str, str], _Group] = {}
    for record in records:
        results, inputs = record.results, record.inputs
        model, version = record.model, record.version
        if not results or inputs is None or model is None or version is None:
            continue
        if len(inputs) != len(results):
            continue
        group = groups.get((model, version))
        if group is None:
            group = groups[(model, version)] = ([], [], [])
        group[0].extend([int(record.event_time // 60)] * len(inputs))
        group[1].extend(inputs)
        group[2].extend(results)
    out: list[dict[str, Any]] = []
    for (model, version), (minutes, rows, results) in sorted(groups.items()):
        reference = lookup(model, version)
        if reference is not None:
            out.extend(_version_rows(reference, minutes, rows, results))
    return out


def _version_rows(
    reference: VersionReference, minutes: list[int], rows: list[list[float]], results: list[Any]
) -> list[dict[str, Any]]:
    width = len(reference.features)
    keep = [i for i, row in enumerate(rows) if len(row) == width]
    if len(keep) < len(rows):  # rows of another width than the bundle's: not this version's
        minutes = [minutes[i] for i in keep]
        rows = [rows[i] for i in keep]
        results = [results[i] for i in keep]
    if not rows:
        return []
    unique, at = np.unique(np.asarray(minutes, dtype=np.int64), return_inverse=True)
    matrix = np.asarray(rows, dtype=np.float64)
    counts: list[tuple[int, npt.NDArray[np.int64]]] = [
        (slot.feature, _count(at, len(unique), bin_index(slot.edges, matrix[:, slot.feature])))
        for slot in reference.features
        if slot.edges is not None
    ]
    prediction = _prediction_bins(reference, results)
    if prediction is not None:
        valid = prediction >= 0
        counts.append((PREDICTION_SLOT, _count(at[valid], len(unique), prediction[valid])))
    out: list[dict[str, Any]] = []
    for row, minute_index in enumerate(unique.tolist()):
        minute = to_datetime(minute_index * 60.0)
        for feature, table in counts:
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
            }
            entry.update(zip(BIN_COLUMNS, values, strict=True))
            out.append(entry)
    out.sort(key=lambda e: (e["minute"], e["feature"]))
    return out


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
