"""Reads of the stored feedback for ``predlog query``: a job's truth, and the unmatched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select

from sidecar.store.schema import feedback


@dataclass(frozen=True)
class StoredFeedback:
    """One stored feedback row: the truth, and what its prediction said once joined."""

    job_id: str
    row: int
    label: str | None
    value: float | None
    event_time: datetime
    """When the api received it."""
    stored_at: datetime
    model: str | None
    version: str | None
    predicted_label: str | None
    predicted_value: float | None
    prediction_time: datetime | None
    """None while no stored prediction has its job_id (unmatched)."""
    outcome: str | None
    """"ok" when compared with the prediction, else why not; None while unmatched."""

    @property
    def truth(self) -> str:
        """The label, or the value as text."""
        return self.label if self.label is not None else f"{self.value:g}"

    @property
    def predicted(self) -> str | None:
        """What the model answered for the row, as text (None while unmatched)."""
        if self.predicted_label is not None:
            return self.predicted_label
        return None if self.predicted_value is None else f"{self.predicted_value:g}"

    @property
    def delay_seconds(self) -> float | None:
        """Feedback time minus prediction time (None while unmatched)."""
        if self.prediction_time is None:
            return None
        return (self.event_time - self.prediction_time).total_seconds()


@dataclass(frozen=True)
class Unmatched:
    """Feedback whose job_id matches no stored prediction (yet)."""

    count: int
    oldest: datetime | None
    listed: list[StoredFeedback]
    """The oldest first, at most the limit asked for."""


def _stored(row: Any) -> StoredFeedback:
    m = row._mapping
    return StoredFeedback(
        job_id=m["job_id"],
        row=m["row_index"],
        label=m["label"],
        value=m["value"],
        event_time=m["event_time"],
        stored_at=m["stored_at"],
        model=m["model"],
        version=m["version"],
        predicted_label=m["predicted_label"],
        predicted_value=m["predicted_value"],
        prediction_time=m["prediction_time"],
        outcome=m["outcome"],
    )


def feedback_for(engine: Engine, job_id: str) -> list[StoredFeedback]:
    """The feedback stored for ``job_id``, by row (the primary key's prefix)."""
    query = select(feedback).where(feedback.c.job_id == job_id).order_by(feedback.c.row_index)
    with engine.connect() as conn:
        return [_stored(row) for row in conn.execute(query)]


def unmatched(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> Unmatched:
    """Feedback received in [since, until) that no stored prediction matches, oldest first
    (the partial index ``ix_feedback_unmatched`` holds exactly these rows)."""
    where: list[ColumnElement[bool]] = [feedback.c.prediction_time.is_(None)]
    if since is not None:
        where.append(feedback.c.event_time >= since)
    if until is not None:
        where.append(feedback.c.event_time < until)
    counted = select(func.count(), func.min(feedback.c.event_time)).where(*where)
    listed = select(feedback).where(*where).order_by(feedback.c.event_time).limit(limit)
    with engine.connect() as conn:
        count, oldest = conn.execute(counted).one()
        rows = [_stored(row) for row in conn.execute(listed)]
    return Unmatched(int(count), oldest, rows)
