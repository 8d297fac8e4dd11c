"""How a PredictionRecord maps onto a ``predictions`` row, and back."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from sidecar.record import FIELDS, MAX_EPOCH, RESULT_FIELDS, PredictionRecord, validate_record
from sidecar.store.jsontext import dumps_json

__all__ = [
    "PREDICTION_COLUMNS",
    "UtcText",
    "dumps_json",
    "prediction_row",
    "prediction_values",
    "record_from_row",
    "record_values",
    "to_datetime",
    "unstorable",
]

PREDICTION_COLUMNS: tuple[str, ...] = (
    "job_id",
    "request_id",
    "schema_version",
    "event_time",
    "endpoint",
    "method",
    "status",
    "model",
    "version",
    "routing",
    "shadow_of",
    "n_rows",
    "inputs",
    "results",
    "is_outlier",
    "max_outlier_score",
    "latency_ms",
    "inference_ms",
    "upstream_ms",
    "host",
    "pid",
    "run_id",
    "seq",
    "error",
    "stored_at",
)
"""Columns the writer fills (every column but the surrogate ``id``), in insert order.

``stored_at`` comes last: a batch's values are prepared (``record_values``) before its
write begins, and the write's time is appended to each then."""

_PLAIN_FIELDS = tuple(f for f in FIELDS if f not in {"event_time", "results"})


def to_datetime(epoch_seconds: float) -> datetime:
    """A timezone-aware UTC datetime for an epoch time (rounded to the microsecond)."""
    return datetime.fromtimestamp(epoch_seconds, UTC)


def prediction_row(record: PredictionRecord, stored_at: datetime) -> dict[str, Any]:
    """The ``predictions`` row for ``record``; inputs and results stay JSON-ready lists."""
    # Attribute reads, not model_dump(): this runs for every record at ingest rates.
    row = {name: getattr(record, name) for name in _PLAIN_FIELDS}
    results = record.results
    if results:
        row["results"] = [{name: getattr(r, name) for name in RESULT_FIELDS} for r in results]
        scores = [r.outlier_score for r in results if r.outlier_score is not None]
        row["max_outlier_score"] = max(scores) if scores else None  # none: no detector
        row["is_outlier"] = any(r.is_outlier for r in results)
    else:
        row["results"] = None if results is None else []
        row["max_outlier_score"] = None
        row["is_outlier"] = False
    inputs = record.inputs
    row["n_rows"] = len(inputs) if inputs is not None else len(results or ())
    row["event_time"] = to_datetime(record.event_time)
    row["stored_at"] = stored_at
    return row


_json = msgspec.json.Encoder()


def prediction_values(
    record: PredictionRecord, stored_at: Any, convert_time: Callable[[datetime], Any]
) -> tuple[Any, ...]:
    """The row for ``record`` as a tuple in ``PREDICTION_COLUMNS`` order, JSON as text.

    ``convert_time`` turns event_time into what the driver takes; ``stored_at`` comes
    converted already.
    """
    return (*record_values(record, convert_time(to_datetime(record.event_time))), stored_at)


def record_values(record: PredictionRecord, event_time: Any) -> tuple[Any, ...]:
    """``prediction_values`` but ``stored_at``, event_time already converted: the bulk
    paths' hot loop. One pass, no dict, the JSON written by msgspec.
    """
    results = record.results
    if results:
        results_json: str | None = _json.encode(results).decode()
        max_score: float | None
        if len(results) == 1:  # most requests: a third of this function's time saved
            only = results[0]
            max_score, is_outlier = only.outlier_score, only.is_outlier is True
        else:
            scores = [r.outlier_score for r in results if r.outlier_score is not None]
            max_score = max(scores) if scores else None  # none: no detector
            is_outlier = any([r.is_outlier for r in results])
    else:
        results_json = None if results is None else "[]"
        max_score, is_outlier = None, False
    inputs = record.inputs
    return (
        record.job_id,
        record.request_id,
        record.schema_version,
        event_time,
        record.endpoint,
        record.method,
        record.status,
        record.model,
        record.version,
        record.routing,
        record.shadow_of,
        len(inputs) if inputs is not None else len(results or ()),
        None if inputs is None else _json.encode(inputs).decode(),
        results_json,
        is_outlier,
        max_score,
        record.latency_ms,
        record.inference_ms,
        record.upstream_ms,
        record.host,
        record.pid,
        record.run_id,
        record.seq,
        record.error,
    )


class UtcText:
    """Epoch seconds -> the UTC timestamp text ``datetime.fromtimestamp`` would give.

    ``YYYY-MM-DD HH:MM:SS.ffffff`` plus ``suffix``, rounded to the microsecond exactly as
    ``datetime.fromtimestamp`` rounds (half to even). The date and time of day are
    formatted once per second: a batch's records share a few seconds, and formatting a
    datetime per record was a visible part of the write.
    """

    def __init__(self, suffix: str = "") -> None:
        self._suffix = suffix
        self._second: int | None = None
        self._prefix = ""

    def __call__(self, epoch_seconds: float) -> str:
        if not epoch_seconds >= 0.0:  # negative (or NaN): the general path
            text = to_datetime(epoch_seconds).isoformat(sep=" ", timespec="microseconds")
            return text[:26] + self._suffix
        second = int(epoch_seconds)
        micros = round((epoch_seconds - second) * 1e6)
        if micros >= 1_000_000:
            second += 1
            micros -= 1_000_000
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
            self._second = second
        return f"{self._prefix}.{micros:06d}{self._suffix}"


_MAX_INT32 = 2**31 - 1
_MAX_INT64 = 2**63 - 1
_TEXT_FIELDS = (
    "job_id",
    "request_id",
    "endpoint",
    "method",
    "model",
    "version",
    "shadow_of",
    "host",
    "run_id",
    "error",
)


def unstorable(record: PredictionRecord, *, nul: bool = True) -> str | None:
    """Why the store cannot hold ``record`` as it is (None when it can).

    A decoded record is in range and finite: the definition checks that while decoding.
    What a valid record may still hold and a database refuses is a NUL character
    (PostgreSQL's text and JSON types have none; SQLite keeps them: ``nul=False``). The
    scalar ranges are checked here too, for records built in Python rather than decoded
    (nested lists are not: a NaN there would be stored as JSON null, not refused).
    """
    r = record
    if (
        0 <= r.pid <= _MAX_INT32
        and 0 < r.seq <= _MAX_INT64
        and 0.0 <= r.event_time < MAX_EPOCH
        and (r.inference_ms is None or math.isfinite(r.inference_ms))
        and (r.upstream_ms is None or math.isfinite(r.upstream_ms))
    ):
        if not nul:
            return None
        texts = (
            f"{r.job_id}{r.request_id}{r.endpoint}{r.method}{r.model}{r.version}{r.host}"
            f"{r.run_id}{r.error}{r.shadow_of}"
        )
        labels = "".join([x.label or "" for x in r.results]) if r.results else ""
        if "\x00" not in texts and "\x00" not in labels:
            return None
    return next(_problems(record, nul), None)


def _problems(record: PredictionRecord, nul: bool) -> Iterator[str]:
    if not 0.0 <= record.event_time < MAX_EPOCH:
        yield f"event_time {record.event_time} is out of range"
    if not 0 <= record.pid <= _MAX_INT32:
        yield f"pid {record.pid} is out of range"
    if not 0 < record.seq <= _MAX_INT64:
        yield f"seq {record.seq} is out of range"
    if record.inference_ms is not None and not math.isfinite(record.inference_ms):
        yield "inference_ms is not finite"
    if record.upstream_ms is not None and not math.isfinite(record.upstream_ms):
        yield "upstream_ms is not finite"
    if nul:
        for name in _TEXT_FIELDS:
            value = getattr(record, name)
            if value is not None and "\x00" in value:
                yield f"{name} contains a NUL character"
        if any("\x00" in (result.label or "") for result in record.results or ()):
            yield "a label contains a NUL character"


def record_from_row(row: Mapping[str, Any]) -> PredictionRecord:
    """The PredictionRecord a ``predictions`` row was stored from."""
    data = {key: row[key] for key in FIELDS}
    event_time: datetime = data["event_time"]
    data["event_time"] = event_time.timestamp()
    return validate_record(data)
