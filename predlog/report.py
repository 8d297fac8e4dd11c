"""Query results rendered for a terminal or a pipe: aligned table, JSON, or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sidecar.store.queries import StoredPrediction, StreamGaps
from sidecar.store.retention import TableStats

Format = Literal["table", "json", "csv"]
FORMATS: tuple[Format, ...] = ("table", "json", "csv")

_FLAT_COLUMNS = (
    "event_time",
    "job_id",
    "request_id",
    "endpoint",
    "method",
    "status",
    "model",
    "version",
    "routing",
    "n_rows",
    "is_outlier",
    "max_outlier_score",
    "latency_ms",
    "inference_ms",
    "host",
    "pid",
    "run_id",
    "seq",
    "error",
    "stored_at",
    "inputs",
    "results",
)
_TABLE_COLUMNS = (
    "event_time",
    "job_id",
    "model",
    "version",
    "endpoint",
    "status",
    "latency_ms",
    "rows",
    "outlier",
    "error",
)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _flat(stored: StoredPrediction) -> dict[str, Any]:
    record = stored.record
    wire = record.to_wire()
    scores = [r.outlier_score for r in record.results or () if r.outlier_score is not None]
    wire.update(
        event_time=_iso(datetime.fromtimestamp(record.event_time, UTC)),
        stored_at=_iso(stored.stored_at),
        n_rows=len(record.inputs) if record.inputs is not None else len(scores),
        is_outlier=record.is_outlier,
        max_outlier_score=max(scores) if scores else None,
    )
    return {name: wire[name] for name in _FLAT_COLUMNS}


def _json(stored: StoredPrediction) -> dict[str, Any]:
    # The record exactly as the api sent it, plus when it happened and was stored, readable.
    return {
        **stored.record.to_wire(),
        "event_time_utc": _iso(datetime.fromtimestamp(stored.record.event_time, UTC)),
        "stored_at": _iso(stored.stored_at),
    }


def _cell(value: Any, width: int = 60) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text columns padded to their widest cell, numbers right-aligned."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    numeric = [all(_is_number(r[i]) for r in rows) and bool(rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True


def _table_row(stored: StoredPrediction) -> list[str]:
    flat = _flat(stored)
    score = flat["max_outlier_score"]
    outlier = "-" if score is None else f"{'yes' if flat['is_outlier'] else 'no'} {score:.3f}"
    return [
        flat["event_time"][:23] + "Z",
        flat["job_id"],
        _cell(flat["model"]),
        _cell(flat["version"]),
        flat["endpoint"],
        str(flat["status"]),
        f"{flat['latency_ms']:.2f}",
        str(flat["n_rows"]),
        outlier,
        _cell(flat["error"], 40),
    ]


def _csv(header: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
        )
    return out.getvalue().rstrip("\n")


def render_predictions(found: Sequence[StoredPrediction], fmt: Format) -> str:
    """A list of stored requests: one line each (table), a JSON array, or CSV with a header."""
    if fmt == "json":
        return json.dumps([_json(s) for s in found], indent=2)
    if fmt == "csv":
        return _csv(_FLAT_COLUMNS, [_flat(s) for s in found])
    if not found:
        return "no matching predictions"
    return aligned(_TABLE_COLUMNS, [_table_row(s) for s in found])


def render_job(stored: StoredPrediction, fmt: Format) -> str:
    """One stored request in full: every field, and each input row with its result."""
    if fmt == "json":
        return json.dumps(_json(stored), indent=2)
    if fmt == "csv":
        return _csv(_FLAT_COLUMNS, [_flat(stored)])
    flat = _flat(stored)
    fields = [k for k in _FLAT_COLUMNS if k not in {"inputs", "results"}]
    width = max(map(len, fields))
    lines = [f"{k.ljust(width)}  {_cell(flat[k], 200)}" for k in fields]
    record = stored.record
    results = record.results or []
    inputs = record.inputs or []
    if inputs or results:
        header = ["row", "input", "label", "prediction", "outlier_score", "outlier"]
        rows = []
        for i in range(max(len(inputs), len(results))):
            result = results[i] if i < len(results) else None
            rows.append(
                [
                    str(i),
                    _cell(inputs[i] if i < len(inputs) else None),
                    (result.label or "-") if result else "-",  # a regressor: none
                    _cell([round(p, 4) for p in result.prediction]) if result else "-",
                    f"{result.outlier_score:.4f}" if result else "-",
                    ("yes" if result.is_outlier else "no") if result else "-",
                ]
            )
        lines += ["", aligned(header, rows)]
    return "\n".join(lines)


def _ranges(gap: StreamGaps) -> str:
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in gap.missing_ranges)
    return text + (", …" if gap.truncated else "") or "-"


_GAP_COLUMNS = (
    "host",
    "pid",
    "run_id",
    "max_seq",
    "received",
    "missing",
    "first_seen",
    "last_seen",
    "missing_ranges",
    "truncated",
)


def _gap_dict(gap: StreamGaps) -> dict[str, Any]:
    return {
        "host": gap.host,
        "pid": gap.pid,
        "run_id": gap.run_id,
        "max_seq": gap.max_seq,
        "received": gap.received,
        "missing": gap.missing,
        "first_seen": _iso(gap.first_seen),
        "last_seen": _iso(gap.last_seen),
        "missing_ranges": [list(r) for r in gap.missing_ranges],
        "truncated": gap.truncated,
    }


def render_gaps(found: Sequence[StreamGaps], fmt: Format) -> str:
    """Loss accounting per api process, with the missing sequence numbers as ranges."""
    if fmt == "json":
        return json.dumps([_gap_dict(g) for g in found], indent=2)
    if fmt == "csv":
        flat = [{**_gap_dict(g), "missing_ranges": _ranges(g)} for g in found]
        return _csv(_GAP_COLUMNS, flat)
    if not found:
        return "no api process has logged anything yet"
    header = ["host", "pid", "run", "max_seq", "received", "missing", "last_seen", "missing_seqs"]
    rows = [
        [
            g.host,
            str(g.pid),
            g.run_id or "-",
            str(g.max_seq),
            str(g.received),
            str(g.missing),
            _iso(g.last_seen)[:19] + "Z",
            _ranges(g),
        ]
        for g in found
    ]
    total = sum(g.missing for g in found)
    return aligned(header, rows) + f"\n\n{total} missing in {len(found)} process run(s)"


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{size} B" if size < 1024 else f"{value:.1f} {unit}"
    return f"{size} B"


def render_stats(found: Sequence[TableStats], fmt: str) -> str:
    """``predlog db stats``: a row per table (rows, bytes, oldest row, partitions)."""
    if fmt == "json":
        items = [
            {
                "table": t.table,
                "rows": t.rows,
                "bytes": t.bytes,
                "oldest": None if t.oldest is None else _iso(t.oldest),
                "partitions": t.partitions,
            }
            for t in found
        ]
        return json.dumps(items, indent=2)
    header = ["table", "rows", "size", "oldest", "partitions"]
    rows = [
        [
            t.table,
            str(t.rows),
            _size(t.bytes),
            "-" if t.oldest is None else _iso(t.oldest)[:19] + "Z",
            "-" if t.partitions is None else str(t.partitions),
        ]
        for t in found
    ]
    return aligned(header, rows)
