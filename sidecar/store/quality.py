"""Feedback compared with its prediction, and the quality_rollups increments it makes.

Pure functions over what the writer's join found: ``join`` says what one feedback row gets
(the answer, an outcome, the error, the delay), ``increments`` sums joined rows per key of
``quality_rollups`` (the prediction's minute, model, version, true and predicted label).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.store.mapping import to_datetime
from sidecar.store.schema import DELAY_BOUNDS_S, DELAY_COLUMNS

OK = "ok"
"""The outcome of feedback compared with its prediction."""
QUALITY_KEY: tuple[str, ...] = ("minute", "model", "version", "truth", "predicted")
QUALITY_SUMS: tuple[str, ...] = (
    "matched",
    "unusable",
    "error_sum",
    "abs_error_sum",
    "squared_error_sum",
    "delay_sum_s",
    *DELAY_COLUMNS,
)
"""quality_rollups columns whose increments add up; ``delay_max_s`` is kept by max."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a stored prediction said, as far as the join needs it."""

    model: str | None
    version: str | None
    event_time: float
    """Epoch seconds."""
    failed: bool
    results: Sequence[Any] | None
    """Per row: a RowResult, or its stored dict (``label``, ``prediction``)."""


@dataclass(frozen=True, slots=True)
class Joined:
    """One feedback row joined to its prediction: what its row gets, and its counts."""

    job_id: str
    row: int
    model: str
    version: str
    predicted_label: str | None
    predicted_value: float | None
    prediction_time: float
    outcome: str
    truth: str
    error: float | None
    delay_s: float


def join(job_id: str, row: int, label: str | None, value: float | None, feedback_time: float,
         answer: Answer) -> Joined:  # fmt: skip
    """Feedback (the truth ``label`` or ``value`` of ``row``) compared with ``answer``."""
    predicted_label: str | None = None
    predicted_value: float | None = None
    error: float | None = None
    results = answer.results
    if answer.failed or results is None:
        outcome = "the request failed"
    elif row >= len(results):
        outcome = f"the request has no row {row}"
    else:
        result = results[row]
        if isinstance(result, dict):
            predicted_label, prediction = result.get("label"), result.get("prediction") or [None]
        else:
            predicted_label, prediction = result.label, result.prediction
        if predicted_label is not None:
            outcome = OK if label is not None else "a value for a classifier"
        elif value is None:
            outcome = "a label for a regressor"
        else:
            predicted_value = prediction[0]
            outcome = OK if predicted_value is not None else "the request has no value"
            if predicted_value is not None:
                error = predicted_value - value
    return Joined(
        job_id=job_id,
        row=row,
        model=answer.model or "",
        version=answer.version or "",
        predicted_label=predicted_label,
        predicted_value=predicted_value,
        prediction_time=answer.event_time,
        outcome=outcome,
        truth=label or "" if outcome == OK else "",
        error=error,
        delay_s=max(0.0, feedback_time - answer.event_time),
    )


def increments(joined: Iterable[Joined], *, hourly: bool = False) -> list[dict[str, Any]]:
    """One quality_rollups increment per key, sorted by key (a fixed lock order); with
    ``hourly``, per hour for quality_rollups_hourly."""
    step = 3600 if hourly else 60
    time_column = "hour" if hourly else "minute"
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    top = len(DELAY_COLUMNS) - 1
    for item in joined:
        ok = item.outcome == OK
        predicted = (item.predicted_label or "") if ok else ""
        minute = int(item.prediction_time // step)
        key = (minute, item.model, item.version, item.truth, predicted)
        row = acc.get(key)
        if row is None:
            row = acc[key] = dict.fromkeys(QUALITY_SUMS, 0)
            row.update(error_sum=0.0, abs_error_sum=0.0, squared_error_sum=0.0, delay_max_s=0.0)
            row["delay_sum_s"] = 0.0
        row["matched" if ok else "unusable"] += 1
        if ok and item.error is not None:
            row["error_sum"] += item.error
            row["abs_error_sum"] += abs(item.error)
            row["squared_error_sum"] += item.error * item.error
        row["delay_sum_s"] += item.delay_s
        row["delay_max_s"] = max(row["delay_max_s"], item.delay_s)
        row[DELAY_COLUMNS[min(bisect_left(DELAY_BOUNDS_S, item.delay_s), top)]] += 1
    out = []
    for key in sorted(acc):
        minute, model, version, truth, predicted = key
        row = acc[key]
        row[time_column] = to_datetime(minute * float(step))
        row.update(model=model, version=version)
        row.update(truth=truth, predicted=predicted)
        out.append(row)
    return out
