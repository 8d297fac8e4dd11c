"""Batched, idempotent writes into the log store: one ``write`` is one transaction.

Predictions go in with ``ON CONFLICT (job_id) DO NOTHING RETURNING job_id``, so only the
rows this transaction really inserted feed the rollups, the streams and the histograms: a
record delivered twice is one row and is counted once. This module prepares a batch and
orders its statements; what each writes is in its own module: ``writer_predictions`` (the
insert paths), ``writer_counters`` (rollups and streams), ``writer_histograms`` (drift
histograms and bins), ``feedback`` (feedback and its quality join), ``writer_dead_letters``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from sidecar.record import FeedbackRecord, PredictionRecord
from sidecar.store import pgcopy, sqlitebulk
from sidecar.store.feedback import FeedbackStore, unstorable_feedback
from sidecar.store.mapping import unstorable
from sidecar.store.partitions import PartitionKeeper, batch_days
from sidecar.store.references import ReferenceSource
from sidecar.store.rollup import aggregate
from sidecar.store.sampling import PayloadSampler
from sidecar.store.writer_counters import rollup_upsert, stream_increments, stream_upsert
from sidecar.store.writer_dead_letters import (
    DeadLetterIn,
    dead_letter_row,
    dead_letters_insert,
    rejected,
)
from sidecar.store.writer_histograms import HistogramWrites
from sidecar.store.writer_predictions import BulkMode, PredictionInsert

__all__ = ["BulkMode", "DeadLetterIn", "PreparedBatch", "StoreWriter", "WriteResult"]


@dataclass(frozen=True)
class PreparedBatch:
    """A batch made ready for ``StoreWriter.write_prepared`` (see ``StoreWriter.prepare``)."""

    records: list[PredictionRecord]
    """The storable records, one per job_id (in job_id order on PostgreSQL)."""
    values: list[tuple[Any, ...]] | None
    """Their values for the bulk insert path, but ``stored_at`` (None: another path)."""
    rollups: list[dict[str, Any]]
    """Rollup increments, for when every record is inserted."""
    streams: list[dict[str, Any]]
    """Stream increments, likewise."""
    letters: list[DeadLetterIn]
    """Dead letters to store: those passed in, then the records the store cannot hold."""
    received: int
    """Records passed in."""
    rejected: int
    """Of those, the ones the store cannot hold."""
    feedback: list[FeedbackRecord] = field(default_factory=list)
    """The storable feedback records, one per (job_id, row)."""
    feedback_received: int = 0
    """Feedback records passed in that the store can hold (the others are dead letters)."""
    histograms: list[dict[str, Any]] | None = None
    """Feature histogram increments, for when every record is inserted (None: none kept,
    or a version's bins are still to be read from the store, in the write)."""
    days: frozenset[int] = frozenset()
    """The UTC days (numbers since 1970) the records fall in: on a partitioned store
    (PostgreSQL), each needs its partition before the insert."""
    stripped: frozenset[str] = frozenset()
    """The job_ids whose inputs payload sampling leaves out of the row (``values`` has
    them as None already); everything else of the batch counts them whole."""


@dataclass(frozen=True)
class WriteResult:
    """What one ``StoreWriter.write`` did."""

    inserted: int
    """Predictions newly stored."""
    duplicates: int
    """Records skipped because their job_id was already stored (or repeated in the batch)."""
    dead_letters: int
    """Dead letters stored (those passed in, plus the rejected records)."""
    rejected: int = 0
    """Records the store cannot hold (see ``mapping.unstorable``), stored as dead letters."""
    feedback: int = 0
    """Feedback rows newly stored (the first for their job_id and row)."""
    feedback_duplicates: int = 0
    """Feedback skipped because feedback for its job_id and row was stored already."""


class StoreWriter:
    """Writes batches of records into the store, each batch in one transaction."""

    def __init__(
        self,
        engine: Engine,
        *,
        bulk: BulkMode = "auto",
        # bench/store.py: COPY wins from about 10 rows; below, one INSERT is fewer round trips.
        copy_min_rows: int = 10,
        clock: Callable[[], datetime] | None = None,
        references: ReferenceSource | None = None,
        sampler: PayloadSampler | None = None,
    ) -> None:
        """``bulk``/``copy_min_rows`` pick PostgreSQL's insert path; ``clock`` gives stored_at;
        ``references``: where versions' bins come from (None: no feature histograms)."""
        self.references = references
        self.sampler = sampler
        """Which records keep their inputs in the row (None: all)."""
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in {"sqlite", "postgresql"}:
            raise ValueError(f"unsupported store dialect {self.dialect!r} (sqlite or postgresql)")
        self.bulk = bulk
        self.copy_min_rows = copy_min_rows
        self.clock = clock or (lambda: datetime.now(UTC))
        self._predictions = PredictionInsert(self.dialect, bulk, copy_min_rows)
        self._upsert_rollups = rollup_upsert(self.dialect)
        self._feedback = FeedbackStore(self.dialect)
        self._upsert_streams = stream_upsert(self.dialect)
        self._partitions = PartitionKeeper(engine) if self.dialect == "postgresql" else None
        self._histograms = (
            None if references is None else HistogramWrites(self.dialect, references, self._now)
        )

    def write(
        self,
        records: Sequence[PredictionRecord],
        dead_letters: Sequence[DeadLetterIn] = (),
        feedback: Sequence[FeedbackRecord] = (),
    ) -> WriteResult:
        """One transaction: predictions inserted ON CONFLICT (job_id) DO NOTHING; rollups and
        streams updated for the newly inserted rows only; dead letters inserted. Idempotent.
        Raises sqlalchemy.exc.OperationalError/DBAPIError when the store is unreachable."""
        return self.write_prepared(self.prepare(records, dead_letters, feedback))

    def prepare(
        self,
        records: Sequence[PredictionRecord],
        dead_letters: Sequence[DeadLetterIn] = (),
        feedback: Sequence[FeedbackRecord] = (),
    ) -> PreparedBatch:
        """Everything of a write that needs no connection: storability, one record per
        job_id, the rows' values, the rollup and stream increments. The writer loop runs
        it for the next batch while the current one is written."""
        first: dict[str, PredictionRecord] = {}
        refused_records: list[DeadLetterIn] = []
        now = self._now()
        nul = self.dialect != "sqlite"  # SQLite's text holds NUL characters
        for record in records:
            # A record the store cannot hold would fail its whole batch on every retry.
            problem = unstorable(record, nul=nul)
            if problem is not None:
                refused_records.append(rejected(record, problem, now))
            else:
                first.setdefault(record.job_id, record)
        unique = list(first.values())
        truths: dict[tuple[str, int], FeedbackRecord] = {}
        refused: list[DeadLetterIn] = []
        for truth in feedback:
            problem = unstorable_feedback(truth, nul=nul)
            if problem is not None:
                refused.append(rejected(truth, problem, now))
            else:
                truths.setdefault((truth.job_id, truth.row), truth)
        if self.dialect == "postgresql":
            # One key order for every writer: two sidecars inserting the same job_ids
            # (a redelivery) then wait for each other instead of deadlocking.
            unique.sort(key=lambda record: record.job_id)
        stripped = frozenset() if self.sampler is None else self.sampler.dropped(unique)
        return PreparedBatch(
            records=unique,
            values=self._predictions.values(unique, stripped),
            rollups=aggregate(unique),
            streams=stream_increments(unique),
            letters=[*dead_letters, *refused_records, *refused],
            received=len(records),
            rejected=len(refused_records),
            feedback=[truths[key] for key in sorted(truths)],  # one lock order
            feedback_received=len(feedback) - len(refused),
            histograms=[] if self._histograms is None else self._histograms.cached(unique),
            days=batch_days([r.event_time for r in unique]) if self._partitions else frozenset(),
            stripped=stripped,
        )

    def write_prepared(self, batch: PreparedBatch) -> WriteResult:
        """``write`` for a batch that ``prepare`` made."""
        if not batch.records and not batch.letters and not batch.feedback:
            return WriteResult(inserted=0, duplicates=0, dead_letters=0)
        if self._partitions is not None:
            self._partitions.ensure(batch.days)
        stored_at = self._now()
        if self._histograms is not None:
            self._histograms.begin()
        with self.engine.connect() as conn:
            try:
                try:
                    with conn.begin():
                        inserted, truths = self._write(conn, batch, stored_at, fast=True)
                except sqlitebulk.Duplicates:  # rolled back; redone on the exact path
                    with conn.begin():
                        inserted, truths = self._write(conn, batch, stored_at, fast=False)
                if self._histograms is not None:
                    self._histograms.committed()
            except BaseException:
                pgcopy.forget_staging(conn)  # the rollback took its staging table with it
                raise
        return WriteResult(
            inserted=inserted,
            duplicates=batch.received - inserted - batch.rejected,
            dead_letters=len(batch.letters),
            rejected=batch.rejected,
            feedback=truths,
            feedback_duplicates=batch.feedback_received - truths,
        )

    def _write(
        self, conn: Connection, batch: PreparedBatch, stored_at: datetime, *, fast: bool
    ) -> tuple[int, int]:
        """The batch's statements in the open transaction; the predictions and the feedback
        inserted."""
        records = batch.records
        inserted_ids = (
            self._predictions.insert(
                conn, records, batch.values, batch.stripped, stored_at, fast=fast
            )
            if records
            else None
        )
        if inserted_ids is None:  # every one: the prepared increments hold
            stored, rollup_rows, stream_rows = records, batch.rollups, batch.streams
        else:
            stored = [record for record in records if record.job_id in inserted_ids]
            rollup_rows, stream_rows = aggregate(stored), stream_increments(stored)
        if rollup_rows:
            conn.execute(self._upsert_rollups, rollup_rows)
            conn.execute(self._upsert_streams, stream_rows)
        if self._histograms is not None:
            prepared = batch.histograms if inserted_ids is None else None
            self._histograms.write(conn, stored, prepared)
        # Feedback, and its join with the predictions stored so far (this batch's too).
        truths = self._feedback.write(conn, batch.feedback, stored, stored_at)
        if batch.letters:
            conn.execute(dead_letters_insert, [dead_letter_row(d) for d in batch.letters])
        return len(stored), truths

    def _now(self) -> datetime:
        # Naive means UTC here, as in schema.UTCDateTime; the bulk paths need it explicit.
        value = self.clock()
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
