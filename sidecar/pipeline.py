"""The writer loop: spool -> validation -> store, trimming the spool only after commit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgpack
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from sidecar.metrics import SidecarMetrics
from sidecar.record import TAG, PredictionRecord
from sidecar.spool import Spool
from sidecar.store.writer import DeadLetterIn, StoreWriter, WriteResult

log = logging.getLogger("predlog.sidecar")

_MAX_REASON = 2000


def validate(entries: list[Any]) -> tuple[list[PredictionRecord], list[DeadLetterIn]]:
    """Spooled entries split into valid records and dead letters (with their reasons)."""
    records: list[PredictionRecord] = []
    letters: list[DeadLetterIn] = []
    now = datetime.now(UTC)
    for entry in entries:
        tag, _time, record = entry[0], entry[1], entry[2]
        if len(entry) > 3:  # known to be bad when spooled (api spool remnants)
            letters.append(DeadLetterIn(str(tag), bytes(record), str(entry[3]), now))
        elif tag != TAG:
            letters.append(_letter(tag, record, f"unexpected tag {tag!r}", now))
        else:
            try:
                records.append(PredictionRecord.model_validate(record))
            except ValidationError as exc:
                letters.append(_letter(tag, record, _reason(exc), now))
    return records, letters


def _letter(tag: Any, record: Any, reason: str, now: datetime) -> DeadLetterIn:
    payload: bytes = msgpack.packb(record, default=repr)
    return DeadLetterIn(str(tag)[:256], payload, reason[:_MAX_REASON], now)


def _reason(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()]
    return "invalid record: " + "; ".join(parts)


def _transient(exc: SQLAlchemyError) -> bool:
    # Data the store refuses stays refused; anything else (unreachable, missing schema,
    # locked) may heal, so it is retried rather than dead-lettered.
    return not isinstance(exc, DataError | IntegrityError)


class WriterLoop:
    """Reads the spool in batches, writes them to the store, commits the spool position."""

    def __init__(
        self,
        spool: Spool,
        writer_factory: Callable[[], StoreWriter],
        metrics: SidecarMetrics,
        *,
        batch_records: int,
        batch_interval: float,
        retry_max_delay: float,
    ) -> None:
        self._spool = spool
        self._factory = writer_factory
        self._writer: StoreWriter | None = None
        self._metrics = metrics
        self._batch_records = batch_records
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
        self._thread = threading.Thread(target=self._run, name="predlog-writer", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout: float) -> None:
        """Drain what the spool holds (for at most ``drain_timeout`` seconds), then end."""
        self._deadline = time.monotonic() + drain_timeout
        self._stop.set()
        self._spool.wake()
        if self._thread is not None:
            self._thread.join()

    @property
    def alive(self) -> bool:
        """Whether the loop's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        reader = self._spool.reader()
        corrupt_seen = 0
        try:
            while not (self._stop.is_set() and time.monotonic() > self._deadline):
                entries = self._collect(reader)
                if not entries:
                    if self._stop.is_set():
                        return
                    continue
                records, letters = validate(entries)
                if not self._store(records, letters):
                    return  # stopping with the store still down: the spool keeps the rest
                self._spool.commit(reader.position)
                self._metrics.spool_corrupt.inc(reader.corrupt_segments - corrupt_seen)
                corrupt_seen = reader.corrupt_segments
        except BaseException as exc:  # visible on /healthz; the spool keeps the data
            self.error = exc
            log.exception("writer loop failed")
        finally:
            reader.close()

    def _collect(self, reader: Any) -> list[Any]:
        """A batch: ``batch_records`` entries, or what came within ``batch_interval``."""
        entries: list[Any] = []
        first: float | None = None
        while len(entries) < self._batch_records:
            got = reader.read(self._batch_records - len(entries))
            now = time.monotonic()
            if got:
                entries += got
                first = first if first is not None else now
                continue
            if self._stop.is_set():
                break
            waited = now - first if first is not None else 0.0
            if first is not None and waited >= self._batch_interval:
                break
            self._spool.wait(self._batch_interval - waited)
            if first is None and not self._stop.is_set():
                break  # nothing yet: let the caller loop (and see stop requests)
        return entries

    def _store(self, records: list[PredictionRecord], letters: list[DeadLetterIn]) -> bool:
        """Write one batch, retrying while the store is unreachable; False if we gave up."""
        delay = 0.05
        while True:
            try:
                result = self._attempt(records, letters)
            except SQLAlchemyError as exc:
                self._metrics.store_up.set(0)
                self.store_up = False
                self._metrics.store_errors.labels(type(exc).__name__).inc()
                log.warning("store write failed, retrying in %.2fs: %s", delay, exc)
                if not self._stop.is_set():
                    self._stop.wait(delay)
                elif time.monotonic() + delay > self._deadline:
                    return False
                else:
                    time.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self._account(result, records)
            return True

    def _attempt(self, records: list[PredictionRecord], letters: list[DeadLetterIn]) -> WriteResult:
        try:
            return self._write(records, letters)
        except SQLAlchemyError as exc:
            if _transient(exc):
                raise
        return self._write_one_by_one(records, letters)

    def _write(self, records: list[PredictionRecord], letters: list[DeadLetterIn]) -> WriteResult:
        if self._writer is None:
            self._writer = self._factory()
        started = time.perf_counter()
        result = self._writer.write(records, letters)
        self._metrics.write_seconds.observe(time.perf_counter() - started)
        self._metrics.store_up.set(1)
        self.store_up = True
        return result

    def _write_one_by_one(
        self, records: list[PredictionRecord], letters: list[DeadLetterIn]
    ) -> WriteResult:
        """Isolate the records the store refuses; they become dead letters."""
        inserted = duplicates = 0
        refused = list(letters)
        now = datetime.now(UTC)
        for record in records:
            try:
                result = self._write([record], [])
            except (DataError, IntegrityError) as exc:
                reason = f"store refused: {type(exc).__name__}: {exc.orig}"
                refused.append(_letter(TAG, record.to_wire(), reason, now))
                continue
            inserted += result.inserted
            duplicates += result.duplicates
        if refused:
            self._write([], refused)
        return WriteResult(inserted, duplicates, len(refused))

    def _account(self, result: WriteResult, records: list[PredictionRecord]) -> None:
        m = self._metrics
        m.stored.inc(result.inserted)
        m.duplicates.inc(result.duplicates)
        m.rejected.inc(result.dead_letters)
        m.batch_records.observe(len(records) + result.dead_letters)
        now = time.time()
        m.lag.observe_many([now - record.event_time for record in records])
