"""Feedback for the bulk fill: ground truth for a share of each day's answered requests.

For ``SHARE`` of the answered requests, the truth of their first row arrives a lognormal
delay later (minutes to days, at most the fill's end), right with each version's
``ACCURACY``; a few feedback items name job_ids that match nothing. Rows go to ``feedback``
and their counts to ``quality_rollups`` through the sidecar's own ``sidecar.store.quality``
functions, so the Quality page sees a store as the sidecar would have left it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Engine

from sidecar.store.feedback import rollup_upsert
from sidecar.store.mapping import to_datetime
from sidecar.store.quality import Answer, increments, join
from sidecar.store.schema import feedback

SHARE = 0.1
"""Answered requests that get feedback."""
ACCURACY = {"1": 0.82, "2": 0.9}
"""Share of right truths per version."""
UNMATCHED = 0.001
"""Feedback items (relative to those matched, at least one a day) whose job_id matches nothing."""
LABELS = ("setosa", "versicolor", "virginica")


def write_feedback(
    engine: Engine, rng: np.random.Generator, rows: dict[str, Any], end: datetime
) -> int:
    """Feedback for one generated day (``fill_days.Day.rows``); the feedback rows written."""
    status = np.asarray(rows["status"])
    results = rows["results"]
    answered = np.flatnonzero((status == 200) & np.array([r is not None for r in results]))
    picked = answered[rng.random(len(answered)) < SHARE]
    if not len(picked):
        return 0
    times = np.asarray(rows["event_time"]).astype("datetime64[us]").astype("int64") / 1e6
    delays = np.minimum(rng.lognormal(np.log(3600.0), 1.5, len(picked)), 30 * 86400.0)
    last = end.timestamp()
    stored = to_datetime(last)
    feedback_rows: list[dict[str, Any]] = []
    joined = []
    draws = rng.random(len(picked))
    for index, delay, draw in zip(picked.tolist(), delays.tolist(), draws.tolist(), strict=True):
        first = orjson.loads(results[index])[0]
        version = rows["version"][index]
        answer = first["label"]
        truth = (
            answer if draw < ACCURACY.get(version, 0.8) else LABELS[(LABELS.index(answer) + 1) % 3]
        )
        at = min(times[index] + delay, last)
        item = join(
            rows["job_id"][index], 0, truth, None, at,
            Answer(rows["model"][index], version, float(times[index]), False, [first]),
        )  # fmt: skip
        joined.append(item)
        feedback_rows.append({
            "job_id": item.job_id, "row_index": 0, "schema_version": 1, "label": truth,
            "value": None, "event_time": to_datetime(at), "stored_at": stored,
            "feedback_job_id": None, "model": item.model, "version": item.version,
            "predicted_label": item.predicted_label, "predicted_value": None,
            "prediction_time": to_datetime(item.prediction_time), "outcome": item.outcome,
        })  # fmt: skip
    for n in range(max(1, int(len(picked) * UNMATCHED))):  # at least one a day
        at = float(times[picked[n]]) + 60.0
        feedback_rows.append({
            "job_id": f"nowhere-{rows['job_id'][picked[n]]}", "row_index": 0,
            "schema_version": 1, "label": "setosa", "value": None, "event_time": to_datetime(at),
            "stored_at": stored, "feedback_job_id": None, "model": None, "version": None,
            "predicted_label": None, "predicted_value": None, "prediction_time": None,
            "outcome": None,
        })  # fmt: skip
    with engine.begin() as conn:
        conn.execute(feedback.insert(), feedback_rows)
        # Upserts: a day of the fill begins within an hour (and a minute) the day before ends in.
        dialect = engine.dialect.name
        conn.execute(rollup_upsert(dialect), increments(joined))
        conn.execute(rollup_upsert(dialect, hourly=True), increments(joined, hourly=True))
    return len(feedback_rows)
