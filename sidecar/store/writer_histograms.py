"""The drift histograms' writes: the feature histograms' per-minute and per-hour increments
(``feature_rollups``, ``feature_rollups_hourly``), and the bins of the versions stored for
the first time (``feature_references``), in the batch's transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert

from sidecar.record import PredictionRecord
from sidecar.store.histograms import SUMMED, feature_increments, hourly
from sidecar.store.references import ReferenceSource, Unresolved, to_rows
from sidecar.store.schema import feature_references, feature_rollups, feature_rollups_hourly
from sidecar.store.writer_counters import dialect_insert


class HistogramWrites:
    """Counts the stored records in their versions' histograms, on bins from ``references``."""

    def __init__(
        self, dialect: str, references: ReferenceSource, now: Callable[[], datetime]
    ) -> None:
        """``now``: the time (UTC) a version's bins are stored at."""
        self.references = references
        self._now = now
        self._saving: set[tuple[str, str]] = set()
        """Versions whose bins the open transaction stores."""
        self._upsert_features = _feature_upsert(dialect, feature_rollups, "minute")
        self._upsert_hourly = _feature_upsert(dialect, feature_rollups_hourly, "hour")
        self._insert_references = dialect_insert(
            dialect, feature_references
        ).on_conflict_do_nothing()

    def cached(self, records: list[PredictionRecord]) -> list[dict[str, Any]] | None:
        """Histogram increments from the versions' bins known already (None: not all known)."""
        try:
            return feature_increments(records, self.references.cached)
        except Unresolved:
            return None

    def begin(self) -> None:
        """A batch's transactions start: no version's bins are being stored yet."""
        self._saving = set()

    def write(
        self, conn: Connection, records: list[PredictionRecord], prepared: list[Any] | None
    ) -> None:
        """The feature histograms' increments (``prepared``, else computed with the bins read
        in ``conn``), and the bins of versions seen for the first time, in the open
        transaction."""
        rows = prepared
        if rows is None:
            rows = feature_increments(records, self.references.resolver(conn))
        counted = {(row["model"], row["version"]) for row in rows}
        self._saving = self.references.unsaved & counted
        if self._saving:
            now = self._now()
            found = [self.references.cached(*key) for key in sorted(self._saving)]
            refs = [row for ref in found if ref is not None for row in to_rows(ref, now)]
            conn.execute(self._insert_references, refs)
        if rows:
            conn.execute(self._upsert_features, rows)
            conn.execute(self._upsert_hourly, hourly(rows))

    def committed(self) -> None:
        """The batch's transaction committed: the bins it stored are saved."""
        self.references.unsaved -= self._saving


def _feature_upsert(dialect: str, table: Any, time: str) -> Insert:
    stmt = dialect_insert(dialect, table)
    excluded = stmt.excluded
    updates: dict[str, Any] = {name: table.c[name] + excluded[name] for name in SUMMED}
    keys = ["model", "version", time, "feature"]
    upsert: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=updates)
    return upsert
