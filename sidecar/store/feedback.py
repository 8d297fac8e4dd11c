"""Feedback into the store: its rows, and the join with predictions that feeds quality_rollups.

A feedback record is stored by (job_id, row) with ``ON CONFLICT DO NOTHING``: the first
feedback stored for a row wins, and a resend or a later one is a counted duplicate. The
join happens in the writer's transaction, whichever side comes second:

- feedback newly stored looks its prediction up by job_id (its index);
- predictions newly stored look for unmatched feedback of their job_ids, when there is any
  (one probe of the small partial index ``ix_feedback_unmatched`` per batch);
- on PostgreSQL, where two sidecars may store the two sides at once and neither sees the
  other's uncommitted row, a sweep now and then joins recent unmatched feedback whose
  prediction is there.

A joined row gets the prediction's model, version, answer and time and an ``outcome``
(``"ok"``, or why it cannot be compared); its counts go to ``quality_rollups`` under the
prediction's minute; a shadow version's answers to the same request are counted too
(``sidecar.store.shadow_feedback``). Rows are locked (``FOR UPDATE``, skipping those
another writer holds) before they are joined, so a feedback is counted once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Insert, Select, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sidecar.record import MAX_EPOCH, FeedbackRecord, PredictionRecord
from sidecar.store.mapping import to_datetime
from sidecar.store.quality import QUALITY_KEY, QUALITY_SUMS, Answer, Joined, increments, join
from sidecar.store.schema import feedback, predictions
from sidecar.store.schema import quality_rollups as quality
from sidecar.store.schema import quality_rollups_hourly as quality_hourly
from sidecar.store.shadow_feedback import shadow_joins

SWEEP_SECONDS = 10.0
"""How often (at most) a PostgreSQL writer sweeps recent unmatched feedback."""
SWEEP_HORIZON = timedelta(hours=1)
"""How far back the sweep looks (older unmatched feedback waits for its prediction)."""
SWEEP_LIMIT = 1000
"""Most feedback rows one sweep joins."""
_IN_CHUNK = 2000
"""job_ids per IN list."""


def feedback_row(record: FeedbackRecord, stored_at: datetime) -> dict[str, Any]:
    """The ``feedback`` row of ``record``, unmatched."""
    return {
        "job_id": record.job_id,
        "row_index": record.row,
        "schema_version": record.schema_version,
        "label": record.label,
        "value": record.value,
        "event_time": to_datetime(record.event_time),
        "stored_at": stored_at,
        "feedback_job_id": record.feedback_job_id,
    }


def unstorable_feedback(record: FeedbackRecord, *, nul: bool = True) -> str | None:
    """Why the store cannot hold ``record`` (None when it can): see ``mapping.unstorable``."""
    if not 0.0 <= record.event_time < MAX_EPOCH:
        return f"event_time {record.event_time} is out of range"
    if record.value is not None and not math.isfinite(record.value):
        return "value is not finite"
    if nul:
        for name in ("job_id", "label", "feedback_job_id"):
            text = getattr(record, name)
            if text is not None and "\x00" in text:
                return f"{name} contains a NUL character"
    return None


def rollup_upsert(dialect: str, *, hourly: bool = False) -> Insert:
    """The upsert that adds ``increments`` into quality_rollups (or its hourly sums)."""
    table = quality_hourly if hourly else quality
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    excluded = stmt.excluded
    updates: dict[str, Any] = {name: table.c[name] + excluded[name] for name in QUALITY_SUMS}
    greatest = func.greatest if dialect == "postgresql" else func.max
    updates["delay_max_s"] = greatest(table.c.delay_max_s, excluded.delay_max_s)
    keys = ["hour" if hourly else "minute", *QUALITY_KEY[1:]]
    upsert: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=updates)
    return upsert


class FeedbackStore:
    """The feedback statements of one dialect, run inside the writer's transaction."""

    def __init__(self, dialect: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.dialect = dialect
        self._clock = clock
        self._next_sweep = 0.0
        module: Any = postgresql if dialect == "postgresql" else sqlite
        self._insert = (
            module.insert(feedback)
            .on_conflict_do_nothing(index_elements=["job_id", "row_index"])
            .returning(feedback.c.job_id, feedback.c.row_index)
        )
        self._upsert = rollup_upsert(dialect)
        self._upsert_hourly = rollup_upsert(dialect, hourly=True)
        self._mark = (
            update(feedback)
            .where(
                and_(
                    feedback.c.job_id == bindparam("b_job_id"),
                    feedback.c.row_index == bindparam("b_row"),
                )
            )
            .values(
                model=bindparam("b_model"),
                version=bindparam("b_version"),
                predicted_label=bindparam("b_label"),
                predicted_value=bindparam("b_value"),
                prediction_time=bindparam("b_time"),
                outcome=bindparam("b_outcome"),
            )
        )

    def write(
        self,
        conn: Connection,
        records: Sequence[FeedbackRecord],
        stored: Sequence[PredictionRecord],
        stored_at: datetime,
    ) -> int:
        """Store ``records`` (first wins), join what can be joined now; the rows inserted.

        ``stored``: the predictions this transaction inserted."""
        inserted = 0
        joined: list[Joined] = []
        new: list[FeedbackRecord] = []
        if records:
            rows = [feedback_row(record, stored_at) for record in records]
            fresh = {(job_id, row) for job_id, row in conn.execute(self._insert, rows)}
            inserted = len(fresh)
            new = [record for record in records if (record.job_id, record.row) in fresh]
            joined += self._join_new(conn, new)
        if stored and self._any_unmatched(conn):
            later = self._join_waiting(conn, stored)
            if self.dialect == "postgresql" and self._clock() >= self._next_sweep:
                self._next_sweep = self._clock() + SWEEP_SECONDS
                later += self._sweep(conn, stored_at)
            # Feedback and prediction in this one batch were joined above already.
            done = {(item.job_id, item.row) for item in joined}
            for item in later:
                if (item.job_id, item.row) not in done:
                    done.add((item.job_id, item.row))
                    joined.append(item)
        counted = list(joined)
        shadows = [record for record in stored if record.shadow_of is not None]
        if new or shadows:  # shadow versions' answers to the same requests: counts only
            counted += shadow_joins(conn, new, shadows)
        if joined:
            conn.execute(self._mark, [_marks(item) for item in joined])
        if counted:
            conn.execute(self._upsert, increments(counted))
            conn.execute(self._upsert_hourly, increments(counted, hourly=True))
        return inserted

    def _join_new(self, conn: Connection, new: list[FeedbackRecord]) -> list[Joined]:
        """Newly stored feedback whose prediction is stored (this transaction's included)."""
        answers: dict[str, Answer] = {}
        ids = sorted({record.job_id for record in new})
        for start in range(0, len(ids), _IN_CHUNK):
            query = _answers(predictions.c.job_id.in_(ids[start : start + _IN_CHUNK]))
            for row in conn.execute(query):
                answers[row.job_id] = _answer(row)
        return [
            join(r.job_id, r.row, r.label, r.value, r.event_time, answers[r.job_id])
            for r in new
            if r.job_id in answers
        ]

    def _any_unmatched(self, conn: Connection) -> bool:
        probe = select(feedback.c.event_time).where(feedback.c.prediction_time.is_(None)).limit(1)
        return conn.execute(probe).first() is not None

    def _join_waiting(self, conn: Connection, stored: Sequence[PredictionRecord]) -> list[Joined]:
        """Feedback stored before its prediction, for the predictions just stored."""
        by_id = {record.job_id: record for record in stored}
        ids = sorted(by_id)
        joined = []
        for start in range(0, len(ids), _IN_CHUNK):
            query = self._locked(
                select(feedback.c.job_id, feedback.c.row_index, feedback.c.label,
                       feedback.c.value, feedback.c.event_time)
                .where(feedback.c.prediction_time.is_(None))
                .where(feedback.c.job_id.in_(ids[start : start + _IN_CHUNK]))
            )  # fmt: skip
            for row in conn.execute(query):
                record = by_id[row.job_id]
                answer = Answer(
                    record.model,
                    record.version,
                    record.event_time,
                    record.status >= 400,
                    record.results,
                )
                joined.append(
                    join(row.job_id, row.row_index, row.label, row.value,
                         row.event_time.timestamp(), answer)
                )  # fmt: skip
        return joined

    def _sweep(self, conn: Connection, now: datetime) -> list[Joined]:
        """Recent unmatched feedback whose prediction is stored (committed by another
        writer at the same time as the feedback)."""
        query = self._locked(
            select(
                feedback.c.job_id,
                feedback.c.row_index,
                feedback.c.label,
                feedback.c.value,
                feedback.c.event_time.label("feedback_time"),
                *_answer_columns(),
            )
            .join(predictions, predictions.c.job_id == feedback.c.job_id)
            .where(feedback.c.prediction_time.is_(None))
            .where(feedback.c.event_time >= now - SWEEP_HORIZON)
            .limit(SWEEP_LIMIT)
        )
        return [
            join(row.job_id, row.row_index, row.label, row.value,
                 row.feedback_time.timestamp(), _answer(row))
            for row in conn.execute(query)
        ]  # fmt: skip

    def _locked(self, query: Select[Any]) -> Select[Any]:
        # Another writer joining the same row holds it: it counts it, this one skips it.
        if self.dialect == "postgresql":
            return query.with_for_update(of=feedback, skip_locked=True)
        return query  # SQLite: one writer at a time


def _answer_columns() -> list[Any]:
    return [
        predictions.c.model,
        predictions.c.version,
        predictions.c.event_time,
        predictions.c.status,
        predictions.c.results,
    ]


def _answers(condition: Any) -> Select[Any]:
    return select(predictions.c.job_id, *_answer_columns()).where(condition)


def _answer(row: Any) -> Answer:
    return Answer(
        row.model, row.version, row.event_time.timestamp(), row.status >= 400, row.results
    )


def _marks(item: Joined) -> dict[str, Any]:
    return {
        "b_job_id": item.job_id,
        "b_row": item.row,
        "b_model": item.model,
        "b_version": item.version,
        "b_label": item.predicted_label,
        "b_value": item.predicted_value,
        "b_time": to_datetime(item.prediction_time),
        "b_outcome": item.outcome,
    }
