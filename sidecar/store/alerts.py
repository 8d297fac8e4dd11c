"""What the alert metrics say, per model version over a recent window, read from the rollups.

The sidecar reads this every ``alert_interval`` seconds off the ingest path (one query per
rollup table over the window's minutes, never per record) and exports it on /metrics:
the outlier rate, each feature's PSI against the training reference (and the worst), and
the accuracy (a classifier) or the mean absolute error (a regressor) of the predictions
that got feedback. Every sidecar over one store reads the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, column, func, select, table
from sqlalchemy.exc import SQLAlchemyError

from sidecar.store.bins import BIN_COLUMNS
from sidecar.store.drift import padded, psi
from sidecar.store.references import VersionReference, from_rows
from sidecar.store.schema import feature_references, feature_rollups, rollups

Key = tuple[str, str]

# The feedback's per-minute comparison (``quality_rollups``), named here rather than
# imported: a store migrated before feedback existed has no such table, and then the
# accuracy is simply not exported.
_quality = table(
    "quality_rollups",
    column("minute"),
    column("model"),
    column("version"),
    column("truth"),
    column("predicted"),
    column("matched"),
    column("abs_error_sum"),
)


@dataclass
class VersionAlerts:
    """One version's alert figures over the window."""

    rows: int = 0
    outlier_rows: int = 0
    psi: dict[str, float] = field(default_factory=dict)
    """Feature name -> PSI of the window's values against the training reference."""
    feedback: int = 0
    correct: int | None = None
    """Feedback rows whose label matched the prediction (classifiers)."""
    abs_error_sum: float | None = None
    """Sum of |truth - prediction| (regressors)."""

    @property
    def outlier_rate(self) -> float | None:
        """Rows flagged / rows scored."""
        return self.outlier_rows / self.rows if self.rows else None

    @property
    def worst_psi(self) -> float | None:
        """The largest feature PSI."""
        return max(self.psi.values()) if self.psi else None

    @property
    def accuracy(self) -> float | None:
        """Share of feedback that matched (None: no classifier feedback)."""
        return self.correct / self.feedback if self.feedback and self.correct is not None else None

    @property
    def mae(self) -> float | None:
        """Mean absolute error of the feedback (None: no regressor feedback)."""
        if not self.feedback or self.abs_error_sum is None:
            return None
        return self.abs_error_sum / self.feedback


def read_alerts(
    engine: Engine, window_seconds: float, now: datetime | None = None
) -> dict[Key, VersionAlerts]:
    """Every version with traffic in the last ``window_seconds`` (whole minutes), and its
    figures."""
    end = now or datetime.now(UTC)
    start = end.replace(second=0, microsecond=0) - timedelta(seconds=window_seconds)
    found: dict[Key, VersionAlerts] = {}
    with engine.connect() as conn:
        counts = conn.execute(
            select(
                rollups.c.model,
                rollups.c.version,
                func.sum(rollups.c.rows),
                func.sum(rollups.c.outlier_rows),
            )
            .where(rollups.c.minute >= start, rollups.c.model != "")
            .group_by(rollups.c.model, rollups.c.version)
        )
        for model, version, rows, outlier_rows in counts:
            found[(model, version)] = VersionAlerts(int(rows or 0), int(outlier_rows or 0))
        refs = _references(conn.execute(select(feature_references)).mappings())
        t = feature_rollups
        histograms = conn.execute(
            select(t.c.model, t.c.version, t.c.feature, *(func.sum(t.c[c]) for c in BIN_COLUMNS))
            .where(t.c.minute >= start, t.c.feature >= 0)
            .group_by(t.c.model, t.c.version, t.c.feature)
        )
        for model, version, feature, *bins in histograms:
            ref = refs.get((model, version))
            slots = {s.feature: s for s in ref.features} if ref else {}
            slot = slots.get(feature)
            if slot is None or slot.reference is None:
                continue
            live = np.asarray([float(b or 0) for b in bins[: slot.columns]])
            entry = found.setdefault((model, version), VersionAlerts())
            entry.psi[slot.name] = psi(padded(slot.reference, slot.columns), live)
    _feedback(engine, start, found)
    return found


def _references(rows: Any) -> dict[Key, VersionReference]:
    grouped: dict[Key, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["model"], row["version"]), []).append(row)
    return {
        key: from_rows(*key, group)
        for key, group in grouped.items()
        if any(r["feature"] < 0 for r in group)
    }


def _feedback(engine: Engine, start: datetime, found: dict[Key, VersionAlerts]) -> None:
    """Accuracy or MAE from the feedback rollups, where the store has them."""
    q = _quality
    matched = func.sum(q.c.matched)
    query = (
        select(
            q.c.model,
            q.c.version,
            matched,
            func.sum(func.coalesce(q.c.abs_error_sum, 0.0)),
            # a classifier's rows name the labels; a regressor's have '' for both
            func.sum(q.c.matched).filter(q.c.truth != "", q.c.truth == q.c.predicted),
            func.sum(q.c.matched).filter(q.c.truth != ""),
        )
        .where(q.c.minute >= start)
        .group_by(q.c.model, q.c.version)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError:  # no feedback table in this store
        return
    for model, version, total, abs_errors, correct, labelled in rows:
        entry = found.setdefault((model, version), VersionAlerts())
        if labelled:
            entry.feedback, entry.correct = int(labelled), int(correct or 0)
        elif total:
            entry.feedback, entry.abs_error_sum = int(total), float(abs_errors or 0.0)
