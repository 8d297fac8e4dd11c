"""A job's feedback and the unmatched feedback, rendered like ``predlog.report``'s tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from predlog.report import Format, aligned, render_job
from sidecar.store.feedback_queries import StoredFeedback, Unmatched
from sidecar.store.queries import StoredPrediction


def _iso(value: Any) -> str | None:
    return (
        None if value is None else value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def feedback_dict(item: StoredFeedback) -> dict[str, Any]:
    """One feedback row as JSON-ready fields."""
    return {
        "job_id": item.job_id,
        "row": item.row,
        "label": item.label,
        "value": item.value,
        "received": _iso(item.event_time),
        "stored_at": _iso(item.stored_at),
        "predicted": item.predicted,
        "outcome": item.outcome,
        "delay_s": item.delay_seconds,
        "model": item.model,
        "version": item.version,
    }


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


def feedback_table(found: Sequence[StoredFeedback], *, job: bool = False) -> str:
    """Rows: the truth beside the prediction, the outcome and the delay."""
    header = ["row", "truth", "predicted", "outcome", "delay", "received"]
    if not job:
        header = ["job_id", *header]
    rows = []
    for item in found:
        cells = [
            str(item.row),
            item.truth,
            item.predicted or "-",
            item.outcome or "unmatched",
            _delay(item.delay_seconds),
            (_iso(item.event_time) or "")[:19] + "Z",
        ]
        rows.append(cells if job else [item.job_id, *cells])
    return aligned(header, rows)


def render_job_with_truth(
    stored: StoredPrediction, truths: Sequence[StoredFeedback], fmt: Format
) -> str:
    """``report.render_job`` and the job's feedback beside it (json: a ``feedback`` list)."""
    if fmt == "json":
        body = json.loads(render_job(stored, "json"))
        body["feedback"] = [feedback_dict(item) for item in truths]
        return json.dumps(body, indent=2)
    shown = render_job(stored, fmt)
    if fmt == "csv":
        return shown
    if not truths:
        return shown + "\n\nfeedback: none stored"
    return shown + "\n\nfeedback (ground truth)\n" + feedback_table(truths, job=True)


def render_feedback_only(truths: Sequence[StoredFeedback], fmt: Format) -> str:
    """Feedback of a job whose prediction is not stored (yet)."""
    if fmt == "json":
        return json.dumps([feedback_dict(item) for item in truths], indent=2)
    return "feedback (ground truth), unmatched\n" + feedback_table(truths, job=True)


def render_unmatched(found: Unmatched, fmt: Format) -> str:
    """Feedback that matches no stored prediction, oldest first, and how much there is."""
    if fmt == "json":
        body = {
            "unmatched": found.count,
            "oldest": _iso(found.oldest),
            "listed": [feedback_dict(item) for item in found.listed],
        }
        return json.dumps(body, indent=2)
    if found.count == 0:
        return "no unmatched feedback: every job_id sent matches a stored prediction"
    listed = feedback_table(found.listed)
    more = f" (the oldest {len(found.listed)} listed)" if found.count > len(found.listed) else ""
    return f"{listed}\n\n{found.count} unmatched feedback item(s){more}"
