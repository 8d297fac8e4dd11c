"""The drift histograms' tables: per-minute and per-hour feature histograms of each model
version (``feature_rollups``, ``feature_rollups_hourly``) and the bins they are counted on
(``feature_references``). On ``schema_base.Base``; import them from ``sidecar.store.schema``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.orm import Mapped, mapped_column

from sidecar.store.bins import BIN_COLUMNS
from sidecar.store.schema_base import Base, JSONType


class FeatureRollup(Base):
    """Per-minute histogram of one input feature (or the prediction) of one model version.

    ``feature`` is the input column's index, or -1 (``bins.PREDICTION_SLOT``) for the
    prediction: class counts of a classifier, a histogram of a regressor's values. ``rows``
    counts the values, ``outliers`` those of rows flagged as outliers; ``bNN`` count them
    per bin of the slot's edges in ``feature_references`` (see ``sidecar.store.bins``).
    Kept in the rows' transaction, with ``feature_rollups_hourly``.
    """

    __tablename__ = "feature_rollups"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    feature: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    rows: Mapped[int] = mapped_column(BigInteger)
    outliers: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        *(Column(name, BigInteger, nullable=False) for name in BIN_COLUMNS),
        Index(None, "minute"),
    )


class FeatureRollupHourly(Base):
    """``feature_rollups`` summed per hour (``hour``: its start), for windows of days."""

    __tablename__ = "feature_rollups_hourly"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    feature: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    rows: Mapped[int] = mapped_column(BigInteger)
    outliers: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        *(Column(name, BigInteger, nullable=False) for name in BIN_COLUMNS),
        Index(None, "hour"),
    )


class FeatureReference(Base):
    """The bins a version's histograms are counted on, and the training rows per bin.

    Written by the sidecar, from the version's bundle manifest (``feature_stats``), when it
    first stores a record of that version. ``edges`` are the interior bins' edges (null for
    a classifier's prediction slot, whose ``labels`` name its columns); ``reference`` the
    training rows per interior bin (null where the bundle has none: a prediction slot).
    """

    __tablename__ = "feature_references"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    feature: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    """numeric (bins on ``edges``) or classes (one column per class)."""
    edges: Mapped[Any | None] = mapped_column(JSONType)
    reference: Mapped[Any | None] = mapped_column(JSONType)
    labels: Mapped[Any | None] = mapped_column(JSONType)
    mean: Mapped[float | None] = mapped_column(Float)
    std: Mapped[float | None] = mapped_column(Float)
    """The training data's mean and std of the feature (the Wasserstein distance's scale)."""
    created_at: Mapped[datetime]


# Typed as Table (not FromClause) so that insert(), .c and friends type-check in callers.
feature_rollups = cast(Table, FeatureRollup.__table__)
feature_rollups_hourly = cast(Table, FeatureRollupHourly.__table__)
feature_references = cast(Table, FeatureReference.__table__)
