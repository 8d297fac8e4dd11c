"""Batched, idempotent writes into the log store: predictions, rollups, streams, dead letters.

One ``write`` is one transaction. Predictions go in with ``ON CONFLICT (job_id) DO NOTHING
RETURNING job_id``, so only the rows this transaction really inserted feed the rollups and
the stream counters: a record delivered twice is one row and is counted once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Insert, func, insert
from sqlalchemy.dialects import postgresql, sqlite

from sidecar.record import FEEDBACK_TAG, TAG, FeedbackRecord, PredictionRecord
from sidecar.store import pgcopy, sqlitebulk
from sidecar.store.feedback import FeedbackStore, unstorable_feedback
from sidecar.store.histograms import SUMMED, feature_increments, hourly
from sidecar.store.mapping import PREDICTION_COLUMNS, prediction_row, to_datetime, unstorable
from sidecar.store.partitions import PartitionKeeper, batch_days
from sidecar.store.references import ReferenceSource, Unresolved, to_rows
from sidecar.store.rollup import KEY_COLUMNS, SUM_COLUMNS, aggregate
from sidecar.store.sampling import PayloadSampler
from sidecar.store.schema import (
    dead_letters,
    feature_references,
    feature_rollups,
    feature_rollups_hourly,
    predictions,
    rollups,
    streams,
)

BulkMode = Literal["auto", "copy", "executemany"]
"""How predictions are inserted. "auto": on SQLite multi-row INSERTs on the raw cursor, on
PostgreSQL COPY through a staging table from ``copy_min_rows`` rows on. "copy": COPY for
every batch on PostgreSQL. "executemany": SQLAlchemy's insertmanyvalues on both."""


@dataclass(frozen=True)
class DeadLetterIn:
    """A received payload that failed validation, to be kept with its reason."""

    tag: str
    payload: bytes
    reason: str
    received_at: datetime


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
        self._saving: set[tuple[str, str]] = set()
        """Versions whose bins the open transaction stores."""
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in {"sqlite", "postgresql"}:
            raise ValueError(f"unsupported store dialect {self.dialect!r} (sqlite or postgresql)")
        self.bulk = bulk
        self.copy_min_rows = copy_min_rows
        self.clock = clock or (lambda: datetime.now(UTC))
        self._insert_predictions = (
            self._insert(predictions)
            # No target: the unique key is (job_id, event_time) on a partitioned table.
            .on_conflict_do_nothing()
            .returning(predictions.c.job_id)
        )
        self._upsert_rollups = self._rollup_upsert()
        self._feedback = FeedbackStore(self.dialect)
        self._upsert_streams = self._stream_upsert()
        self._partitions = PartitionKeeper(engine) if self.dialect == "postgresql" else None
        self._upsert_features = self._feature_upsert(feature_rollups, "minute")
        self._upsert_hourly = self._feature_upsert(feature_rollups_hourly, "hour")
        self._insert_references = self._insert(feature_references).on_conflict_do_nothing()

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
        rejected: list[DeadLetterIn] = []
        now = _utc(self.clock())
        nul = self.dialect != "sqlite"  # SQLite's text holds NUL characters
        for record in records:
            # A record the store cannot hold would fail its whole batch on every retry.
            problem = unstorable(record, nul=nul)
            if problem is not None:
                rejected.append(_rejected(record, problem, now))
            else:
                first.setdefault(record.job_id, record)
        unique = list(first.values())
        truths: dict[tuple[str, int], FeedbackRecord] = {}
        refused: list[DeadLetterIn] = []
        for truth in feedback:
            problem = unstorable_feedback(truth, nul=nul)
            if problem is not None:
                refused.append(_rejected(truth, problem, now))
            else:
                truths.setdefault((truth.job_id, truth.row), truth)
        if self.dialect == "postgresql":
            # One key order for every writer: two sidecars inserting the same job_ids
            # (a redelivery) then wait for each other instead of deadlocking.
            unique.sort(key=lambda record: record.job_id)
        values: list[tuple[Any, ...]] | None = None
        if self.bulk != "executemany" and unique:
            if self.dialect == "sqlite":
                values = sqlitebulk.values(unique)
            elif self.bulk == "copy" or len(unique) >= self.copy_min_rows:
                values = pgcopy.values(unique)
        stripped = frozenset() if self.sampler is None else self.sampler.dropped(unique)
        if stripped and values is not None:
            values = _without_inputs(values, unique, stripped)
        return PreparedBatch(
            records=unique,
            values=values,
            rollups=aggregate(unique),
            streams=_stream_increments(unique),
            letters=[*dead_letters, *rejected, *refused],
            received=len(records),
            rejected=len(rejected),
            feedback=[truths[key] for key in sorted(truths)],  # one lock order
            feedback_received=len(feedback) - len(refused),
            histograms=self._cached_histograms(unique),
            days=batch_days([r.event_time for r in unique]) if self._partitions else frozenset(),
            stripped=stripped,
        )

    def _cached_histograms(self, records: list[PredictionRecord]) -> list[dict[str, Any]] | None:
        """Histogram increments from the versions' bins known already (None: not all known)."""
        if self.references is None:
            return []
        try:
            return feature_increments(records, self.references.cached)
        except Unresolved:
            return None

    def write_prepared(self, batch: PreparedBatch) -> WriteResult:
        """``write`` for a batch that ``prepare`` made."""
        if not batch.records and not batch.letters and not batch.feedback:
            return WriteResult(inserted=0, duplicates=0, dead_letters=0)
        if self._partitions is not None:
            self._partitions.ensure(batch.days)
        stored_at = _utc(self.clock())
        self._saving = set()
        with self.engine.connect() as conn:
            try:
                try:
                    with conn.begin():
                        inserted, truths = self._write(conn, batch, stored_at, fast=True)
                except sqlitebulk.Duplicates:  # rolled back; redone on the exact path
                    with conn.begin():
                        inserted, truths = self._write(conn, batch, stored_at, fast=False)
                if self.references is not None:
                    self.references.unsaved -= self._saving  # committed
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
        inserted_ids = self._insert_rows(conn, batch, stored_at, fast) if records else None
        if inserted_ids is None:  # every one: the prepared increments hold
            rollup_rows, stream_rows, inserted = batch.rollups, batch.streams, len(records)
        else:
            fresh = [record for record in records if record.job_id in inserted_ids]
            rollup_rows, stream_rows = aggregate(fresh), _stream_increments(fresh)
            inserted = len(fresh)
        if rollup_rows:
            conn.execute(self._upsert_rollups, rollup_rows)
            conn.execute(self._upsert_streams, stream_rows)
        if self.references is not None:
            fed = records if inserted_ids is None else fresh
            self._write_histograms(conn, fed, batch.histograms if inserted_ids is None else None)
        # Feedback, and its join with the predictions stored so far (this batch's too).
        stored = records if inserted_ids is None else fresh
        truths = self._feedback.write(conn, batch.feedback, stored, stored_at)
        if batch.letters:
            conn.execute(dead_letters_insert, [_dead_letter_row(d) for d in batch.letters])
        return inserted, truths

    def _write_histograms(
        self, conn: Connection, records: list[PredictionRecord], prepared: list[Any] | None
    ) -> None:
        """The feature histograms' increments, and the bins of versions seen for the first
        time, in the open transaction."""
        assert self.references is not None
        rows = prepared
        if rows is None:
            rows = feature_increments(records, self.references.resolver(conn))
        counted = {(row["model"], row["version"]) for row in rows}
        self._saving = self.references.unsaved & counted
        if self._saving:
            now = _utc(self.clock())
            found = [self.references.cached(*key) for key in sorted(self._saving)]
            refs = [row for ref in found if ref is not None for row in to_rows(ref, now)]
            conn.execute(self._insert_references, refs)
        if rows:
            conn.execute(self._upsert_features, rows)
            conn.execute(self._upsert_hourly, hourly(rows))

    def _insert_rows(
        self, conn: Connection, batch: PreparedBatch, stored_at: datetime, fast: bool
    ) -> set[str] | None:
        """Insert the batch's predictions; the job_ids inserted (None: every one)."""
        if batch.values is not None:
            if self.dialect == "sqlite":
                if fast:  # executemany; raises Duplicates when some were stored already
                    sqlitebulk.insert_predictions(conn, batch.values, stored_at)
                    return None
                return sqlitebulk.insert_predictions_returning(conn, batch.values, stored_at)
            return pgcopy.insert_predictions(conn, batch.values, stored_at)
        rows = [prediction_row(record, stored_at) for record in batch.records]
        for row in rows:
            if row["job_id"] in batch.stripped:
                row["inputs"] = None
        inserted = set(conn.execute(self._insert_predictions, rows).scalars())
        return None if len(inserted) == len(rows) else inserted

    def _insert(self, table: Any) -> Any:
        # The dialects' own insert() is what offers ON CONFLICT.
        module: Any = postgresql if self.dialect == "postgresql" else sqlite
        return module.insert(table)

    def _greatest(self, *args: Any) -> Any:
        return func.greatest(*args) if self.dialect == "postgresql" else func.max(*args)

    def _least(self, *args: Any) -> Any:
        return func.least(*args) if self.dialect == "postgresql" else func.min(*args)

    def _rollup_upsert(self) -> Insert:
        stmt = self._insert(rollups)
        excluded = stmt.excluded
        updates: dict[str, Any] = {name: rollups.c[name] + excluded[name] for name in SUM_COLUMNS}
        updates["latency_max_ms"] = self._greatest(
            rollups.c.latency_max_ms, excluded.latency_max_ms
        )
        upsert: Insert = stmt.on_conflict_do_update(index_elements=list(KEY_COLUMNS), set_=updates)
        return upsert

    def _feature_upsert(self, table: Any, time: str) -> Insert:
        stmt = self._insert(table)
        excluded = stmt.excluded
        updates: dict[str, Any] = {name: table.c[name] + excluded[name] for name in SUMMED}
        keys = ["model", "version", time, "feature"]
        upsert: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=updates)
        return upsert

    def _stream_upsert(self) -> Insert:
        stmt = self._insert(streams)
        excluded = stmt.excluded
        upsert: Insert = stmt.on_conflict_do_update(
            index_elements=["host", "pid", "run_id"],
            set_={
                "max_seq": self._greatest(streams.c.max_seq, excluded.max_seq),
                "received": streams.c.received + excluded.received,
                "first_seen": self._least(streams.c.first_seen, excluded.first_seen),
                "last_seen": self._greatest(streams.c.last_seen, excluded.last_seen),
            },
        )
        return upsert


dead_letters_insert = insert(dead_letters)
_INPUTS = PREDICTION_COLUMNS.index("inputs")


def _without_inputs(
    values: list[tuple[Any, ...]], records: list[PredictionRecord], stripped: frozenset[str]
) -> list[tuple[Any, ...]]:
    """The rows' values with the inputs of the ``stripped`` job_ids left out (n_rows kept)."""
    return [
        (*row[:_INPUTS], None, *row[_INPUTS + 1 :]) if record.job_id in stripped else row
        for row, record in zip(values, records, strict=True)
    ]


def _utc(value: datetime) -> datetime:
    # Naive means UTC here, as in schema.UTCDateTime; the bulk paths need it explicit.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rejected(
    record: PredictionRecord | FeedbackRecord, problem: str, now: datetime
) -> DeadLetterIn:
    # The stdlib, not orjson: it writes any int, and NaN, without raising.
    payload = json.dumps(record.to_wire(), separators=(",", ":")).encode(errors="backslashreplace")
    tag = FEEDBACK_TAG if isinstance(record, FeedbackRecord) else TAG
    return DeadLetterIn(tag, payload, f"cannot be stored: {problem}", now)


def _dead_letter_row(letter: DeadLetterIn) -> dict[str, Any]:
    return {
        "tag": letter.tag,
        "payload": bytes(letter.payload),
        "reason": letter.reason,
        "received_at": letter.received_at,
    }


def _stream_increments(records: Sequence[PredictionRecord]) -> list[dict[str, Any]]:
    """Per (host, pid, run_id): the highest seq, how many records, the event time span."""
    acc: dict[tuple[str, int, str], list[Any]] = {}
    for record in records:
        key = (record.host, record.pid, record.run_id or "")
        entry = acc.get(key)
        if entry is None:
            acc[key] = [record.seq, 1, record.event_time, record.event_time]
        else:
            entry[0] = max(entry[0], record.seq)
            entry[1] += 1
            entry[2] = min(entry[2], record.event_time)
            entry[3] = max(entry[3], record.event_time)
    return [
        {
            "host": host,
            "pid": pid,
            "run_id": run_id,
            "max_seq": max_seq,
            "received": received,
            "first_seen": to_datetime(first),
            "last_seen": to_datetime(last),
        }
        for (host, pid, run_id), (max_seq, received, first, last) in sorted(acc.items())
    ]
