"""The writer loop: spool -> validation -> store, trimming the spool only after commit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from sidecar.record import FEEDBACK_TAG, TAG, FeedbackRecord, PredictionRecord
from sidecar.spool.format import Position
from sidecar.spool.reader import SpoolReader, SpoolSource
from sidecar.store.writer import DeadLetterIn, PreparedBatch, StoreWriter, WriteResult
from sidecar.writer.decoding import decode_payload, letter
from sidecar.writer.report import WriterReport

log = logging.getLogger("predlog.sidecar")


def _transient(exc: SQLAlchemyError) -> bool:
    # Data the store refuses stays refused; anything else (unreachable, missing schema,
    # locked) may heal, so it is retried rather than dead-lettered.
    return not isinstance(exc, DataError | IntegrityError)


@dataclass(frozen=True)
class _Batch:
    records: list[PredictionRecord]
    letters: list[DeadLetterIn]
    feedback: list[FeedbackRecord]
    prepared: PreparedBatch
    """The same, made ready for the store (``StoreWriter.prepare``)."""
    position: Position
    """Spool position just after the batch: committed once the batch is in the store."""
    corrupt_segments: int


class WriterLoop:
    """Reads the spool in batches, writes them to the store, commits the spool position."""

    def __init__(
        self,
        spool: SpoolSource,
        writer_factory: Callable[[], StoreWriter],
        report: WriterReport,
        *,
        batch_records: int,
        batch_interval: float,
        retry_max_delay: float,
        batch_max_records: int = 0,
    ) -> None:
        """``batch_max_records``: what one write may take when more is waiting (adaptive)."""
        self._spool = spool
        self._factory = writer_factory
        self._writer: StoreWriter | None = None
        self._report = report
        self._batch_records = batch_records
        self._batch_max = max(batch_records, batch_max_records)
        self._batch_interval = batch_interval
        self._retry_max = retry_max_delay
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self.store_up: bool | None = None
        """Whether the last store write worked (None before the first)."""
        self.error: BaseException | None = None
        """What ended the loop, if it ended abnormally."""

    def start(self) -> None:
        """Run the loop in a thread of its own."""
        self._thread = threading.Thread(target=self.run, name="predlog-writer", daemon=True)
        self._thread.start()

    def request_stop(self, drain_timeout: float) -> None:
        """Drain what the spool holds (for at most ``drain_timeout`` seconds), then end."""
        self._deadline = time.monotonic() + drain_timeout
        self._stop.set()
        self._spool.wake()

    def stop(self, drain_timeout: float) -> None:
        """``request_stop``, then wait for the loop's thread to end."""
        self.request_stop(drain_timeout)
        if self._thread is not None:
            self._thread.join()

    @property
    def alive(self) -> bool:
        """Whether the loop's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """The loop itself (``start`` runs it in a thread; a writer process calls it)."""
        reader = self._spool.reader(decode_payload)
        corrupt_seen = 0
        # While one batch is written, the next one is read, decoded and validated in a
        # second thread: the store's own work (SQLite's steps, PostgreSQL's server side)
        # runs without the GIL, so the two overlap. At most two batches are in memory.
        prefetch = ThreadPoolExecutor(1, thread_name_prefix="predlog-prefetch")
        try:
            if self._writer is None:
                self._writer = self._factory()  # no connection yet: that is the first write's
            upcoming = prefetch.submit(self._prepare, reader)
            while not (self._stop.is_set() and time.monotonic() > self._deadline):
                batch, stopping = upcoming.result()
                upcoming = prefetch.submit(self._prepare, reader)
                if batch is None:
                    if stopping:  # read after the stop request: the spool is drained
                        return
                    continue
                if not self._store(batch):
                    return  # stopping with the store still down: the spool keeps the rest
                self._spool.commit(batch.position)
                self._report.corrupt(batch.corrupt_segments - corrupt_seen)
                corrupt_seen = batch.corrupt_segments
        except BaseException as exc:  # visible on /healthz; the spool keeps the data
            self.error = exc
            log.exception("writer loop failed")
        finally:
            self._stop.set()  # a prefetch waiting for data gives up at once
            self._deadline = 0.0
            prefetch.shutdown(wait=True, cancel_futures=True)
            reader.close()

    def _prepare(self, reader: SpoolReader) -> tuple[_Batch | None, bool]:
        """The next batch, validated (None: nothing yet), and whether stop was requested
        before it was read."""
        stopping = self._stop.is_set()
        items = self._collect(reader)
        if not items:
            return None, stopping
        records = [item for item in items if item.__class__ is PredictionRecord]
        letters: list[DeadLetterIn] = []
        feedback: list[FeedbackRecord] = []
        if len(records) != len(items):
            letters = [item for item in items if item.__class__ is DeadLetterIn]
            feedback = [item for item in items if item.__class__ is FeedbackRecord]
        assert self._writer is not None  # made before the first prefetch
        # The writer's connection-free part (row values, increments) is done here too, so
        # that the thread that writes spends its time in the store.
        prepared = self._writer.prepare(records, letters, feedback)
        return _Batch(
            records, letters, feedback, prepared, reader.position, reader.corrupt_segments
        ), stopping

    def _collect(self, reader: SpoolReader) -> list[Any]:
        """A batch: ``batch_records`` entries, or what came within ``batch_interval``.

        What is already spooled is taken at once, up to ``batch_max_records``: under load
        the batches grow, and with them the records per commit.
        """
        entries: list[Any] = reader.read(self._batch_max)
        if len(entries) >= self._batch_records:
            return entries
        first: float | None = time.monotonic() if entries else None
        at_first = len(entries)  # already waiting when the batch began: says nothing of the rate
        while len(entries) < self._batch_records:
            got = reader.read(self._batch_records - len(entries))
            now = time.monotonic()
            if got:
                entries += got
                if first is None:
                    first, at_first = now, len(entries)
                continue
            if self._stop.is_set():
                break
            waited = now - first if first is not None else 0.0
            if first is not None and waited >= self._batch_interval:
                break
            self._spool.wait(
                self._batch_interval - waited, self._poll_for(entries, at_first, waited)
            )
            if first is None and not self._stop.is_set():
                break  # nothing yet: let the caller loop (and see stop requests)
        return entries

    def _poll_for(self, entries: list[Any], at_first: int, waited: float) -> float | None:
        """How long the next wait may be while a batch fills (None: the spool's own poll).

        Polling a follower every few milliseconds splits the same reads into many
        wake-ups (a directory scan, a stat, a read and a GIL hand-off each): at moderate
        rates that cost more per record than the reads themselves. So the wait lasts
        until the batch should be full at the rate seen since it began, at most an
        eighth of the interval; a batch is still cut at its interval.
        """
        arrived = len(entries) - at_first
        if not entries or arrived <= 0 or waited <= 0.0:
            return None  # no rate seen yet
        fill = (self._batch_records - len(entries)) * waited / arrived
        return min(self._batch_interval / 8, fill)

    def _store(self, batch: _Batch) -> bool:
        """Write one batch, retrying while the store is unreachable; False if we gave up."""
        delay = 0.05
        while True:
            try:
                result = self._attempt(batch)
            except SQLAlchemyError as exc:
                self.store_up = False
                self._report.store_error(type(exc).__name__)
                log.warning("store write failed, retrying in %.2fs: %s", delay, exc)
                if not self._stop.is_set():
                    self._stop.wait(delay)
                elif time.monotonic() + delay > self._deadline:
                    return False
                else:
                    time.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self._account(result, batch.records)
            return True

    def _attempt(self, batch: _Batch) -> WriteResult:
        try:
            return self._write(batch.prepared)
        except SQLAlchemyError as exc:
            if _transient(exc):
                raise
        return self._write_one_by_one(batch.records, batch.letters, batch.feedback)

    def _write(self, prepared: PreparedBatch) -> WriteResult:
        assert self._writer is not None
        started = time.perf_counter()
        result = self._writer.write_prepared(prepared)
        self._report.written(time.perf_counter() - started)
        self.store_up = True
        return result

    def _write_now(
        self,
        records: list[PredictionRecord],
        letters: list[DeadLetterIn],
        feedback: list[FeedbackRecord] | None = None,
    ) -> WriteResult:
        assert self._writer is not None
        return self._write(self._writer.prepare(records, letters, feedback or ()))

    def _write_one_by_one(
        self,
        records: list[PredictionRecord],
        letters: list[DeadLetterIn],
        feedback: list[FeedbackRecord] | None = None,
    ) -> WriteResult:
        """Isolate the records the store refuses; they become dead letters."""
        inserted = duplicates = 0
        refused = list(letters)
        now = datetime.now(UTC)
        for record in records:
            try:
                result = self._write_now([record], [])
            except (DataError, IntegrityError) as exc:
                reason = f"store refused: {type(exc).__name__}: {exc.orig}"
                refused.append(letter(TAG, record.to_wire(), reason, now))
                continue
            inserted += result.inserted
            duplicates += result.duplicates
        for truth in feedback or ():
            try:
                self._write_now([], [], [truth])
            except (DataError, IntegrityError) as exc:
                reason = f"store refused: {type(exc).__name__}: {exc.orig}"
                refused.append(letter(FEEDBACK_TAG, truth.to_wire(), reason, now))
        if refused:
            self._write_now([], refused)
        return WriteResult(inserted, duplicates, len(refused))

    def _account(self, result: WriteResult, records: list[PredictionRecord]) -> None:
        now = time.time()
        self._report.batch(
            result.inserted,
            result.duplicates,
            result.dead_letters,
            len(records) + result.dead_letters,
            [now - record.event_time for record in records],
        )
