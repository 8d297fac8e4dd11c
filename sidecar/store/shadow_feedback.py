"""Feedback for a shadow version's answers: the truth of a request counts for its shadows too.

A shadow version answers a copy of a request in a record of its own (``shadow_of``: the
primary's job_id). Feedback names the primary's job_id; the shadows' answers are compared
with it as well, so a shadow version gets an accuracy before it is promoted. Only counts
are kept (``quality_rollups``, under the shadow's version): the feedback row records the
primary's answer. Whichever comes second is where it is counted: newly stored feedback
looks for the shadows of its job_ids, newly stored shadow records for their primary's
feedback; a shadow counted by both in one transaction is counted once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from sidecar.record import FeedbackRecord, PredictionRecord
from sidecar.store.quality import Answer, Joined, join
from sidecar.store.schema import feedback, predictions

_IN_CHUNK = 2000


def shadow_joins(
    conn: Connection, new: Sequence[FeedbackRecord], shadows: Sequence[PredictionRecord]
) -> list[Joined]:
    """Shadow answers compared with feedback: those of ``new`` feedback's requests, and the
    feedback of the ``shadows`` just stored."""
    found: dict[tuple[str, int], Joined] = {}
    by_primary: dict[str, list[FeedbackRecord]] = {}
    for record in new:
        by_primary.setdefault(record.job_id, []).append(record)
    ids = sorted(by_primary)
    for start in range(0, len(ids), _IN_CHUNK):
        query = select(
            predictions.c.job_id,
            predictions.c.shadow_of,
            predictions.c.model,
            predictions.c.version,
            predictions.c.event_time,
            predictions.c.status,
            predictions.c.results,
        ).where(predictions.c.shadow_of.in_(ids[start : start + _IN_CHUNK]))
        for row in conn.execute(query):
            answer = Answer(
                row.model, row.version, row.event_time.timestamp(), row.status >= 400, row.results
            )
            for truth in by_primary[row.shadow_of]:
                _keep(
                    found, row.job_id, truth.row, truth.label, truth.value, truth.event_time, answer
                )
    by_shadow: dict[str, list[PredictionRecord]] = {}
    for shadow in shadows:
        if shadow.shadow_of is not None:
            by_shadow.setdefault(shadow.shadow_of, []).append(shadow)
    primaries = sorted(by_shadow)
    for start in range(0, len(primaries), _IN_CHUNK):
        truths = select(
            feedback.c.job_id, feedback.c.row_index, feedback.c.label, feedback.c.value,
            feedback.c.event_time,
        ).where(feedback.c.job_id.in_(primaries[start : start + _IN_CHUNK]))  # fmt: skip
        for truth_row in conn.execute(truths):
            for shadow in by_shadow[truth_row.job_id]:
                answer = Answer(
                    shadow.model,
                    shadow.version,
                    shadow.event_time,
                    shadow.status >= 400,
                    shadow.results,
                )
                _keep(found, shadow.job_id, truth_row.row_index, truth_row.label, truth_row.value,
                      truth_row.event_time.timestamp(), answer)  # fmt: skip
    return list(found.values())


def _keep(
    found: dict[tuple[str, int], Joined],
    shadow_job: str,
    row: int,
    label: str | None,
    value: float | None,
    feedback_time: float,
    answer: Answer,
) -> None:
    key = (shadow_job, row)
    if key not in found:
        found[key] = join(shadow_job, row, label, value, feedback_time, answer)
