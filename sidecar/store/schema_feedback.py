"""The feedback and quality tables: ground truth by job_id (``feedback``) and its per-minute
and per-hour comparison with the answers (``quality_rollups``, ``quality_rollups_hourly``).
On ``schema_base.Base``; import them from ``sidecar.store.schema``.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sidecar.store.schema_base import Base


class Feedback(Base):
    """Ground truth for one row of one request, by job_id; joined to its prediction later.

    The first feedback stored for a (job_id, row) wins; later ones are duplicates. When the
    prediction is stored too (before or after), the writer fills ``model`` to ``outcome``
    and counts it in ``quality_rollups``; ``prediction_time`` null means unmatched so far.
    """

    __tablename__ = "feedback"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    schema_version: Mapped[int] = mapped_column(SmallInteger)
    label: Mapped[str | None] = mapped_column(String(128))
    value: Mapped[float | None] = mapped_column(Float)
    event_time: Mapped[datetime]
    """When the api received the feedback."""
    stored_at: Mapped[datetime]
    feedback_job_id: Mapped[str | None] = mapped_column(String(64))
    """The job_id of the POST /feedback request that carried it."""
    model: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(128))
    predicted_label: Mapped[str | None] = mapped_column(String(128))
    predicted_value: Mapped[float | None] = mapped_column(Float)
    prediction_time: Mapped[datetime | None]
    """The prediction's event time once joined; null while no prediction matches."""
    outcome: Mapped[str | None] = mapped_column(String(64))
    """"ok" when counted in quality_rollups, else why not (e.g. "label for a regressor")."""

    __table_args__ = (
        # The unmatched rows only (few): the writer's probe and the "unmatched" count.
        Index(
            "ix_feedback_unmatched",
            "event_time",
            postgresql_where=text("prediction_time IS NULL"),
            sqlite_where=text("prediction_time IS NULL"),
        ),
    )


DELAY_BOUNDS_S: tuple[float, ...] = (60.0, 600.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
"""Upper bounds of the feedback-delay buckets (seconds); one more bucket holds the rest."""
DELAY_COLUMNS = tuple(f"delay_h{i:02d}" for i in range(len(DELAY_BOUNDS_S) + 1))


class QualityRollup(Base):
    """Per-minute (of the prediction) counts of joined feedback by version, truth and answer.

    A classifier's rows have ``truth`` and ``predicted`` labels (the confusion matrix's
    cells); a regressor's have both '' and the error sums. ``matched`` counts feedback
    compared with its prediction; ``unusable`` feedback joined but not comparable
    (``feedback.outcome``), kept under '' and ''. ``delay_hNN`` count the feedback per
    delay bucket (feedback time minus prediction time, ``DELAY_BOUNDS_S``).
    """

    __tablename__ = "quality_rollups"

    minute: Mapped[datetime] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    truth: Mapped[str] = mapped_column(String(128), primary_key=True)
    predicted: Mapped[str] = mapped_column(String(128), primary_key=True)
    matched: Mapped[int] = mapped_column(BigInteger)
    unusable: Mapped[int] = mapped_column(BigInteger)
    error_sum: Mapped[float] = mapped_column(Float)
    abs_error_sum: Mapped[float] = mapped_column(Float)
    squared_error_sum: Mapped[float] = mapped_column(Float)
    delay_sum_s: Mapped[float] = mapped_column(Float)
    delay_max_s: Mapped[float] = mapped_column(Float)

    __table_args__ = tuple(Column(name, BigInteger, nullable=False) for name in DELAY_COLUMNS)


class QualityRollupHourly(Base):
    """``quality_rollups`` summed per hour of the prediction (``hour``: its start), kept in
    the same transaction: what windows of days read."""

    __tablename__ = "quality_rollups_hourly"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    truth: Mapped[str] = mapped_column(String(128), primary_key=True)
    predicted: Mapped[str] = mapped_column(String(128), primary_key=True)
    matched: Mapped[int] = mapped_column(BigInteger)
    unusable: Mapped[int] = mapped_column(BigInteger)
    error_sum: Mapped[float] = mapped_column(Float)
    abs_error_sum: Mapped[float] = mapped_column(Float)
    squared_error_sum: Mapped[float] = mapped_column(Float)
    delay_sum_s: Mapped[float] = mapped_column(Float)
    delay_max_s: Mapped[float] = mapped_column(Float)

    __table_args__ = tuple(Column(name, BigInteger, nullable=False) for name in DELAY_COLUMNS)


# Typed as Table (not FromClause) so that insert(), .c and friends type-check in callers.
feedback = cast(Table, Feedback.__table__)
quality_rollups = cast(Table, QualityRollup.__table__)
quality_rollups_hourly = cast(Table, QualityRollupHourly.__table__)
