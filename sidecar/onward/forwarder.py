"""The onward forwarder: every record of the spool, in order, to an aggregator, at least once.

A second reader of the sidecar's spool with a cursor of its own (``checkpoint.forward``
beside the store writer's ``checkpoint``): it reads frames from its cursor, decodes and
validates them as the writer does (so what goes on is what the store keeps: prediction
and feedback records, not dead letters, the same payload sampling), sends them as
chunks (``client``), and moves its cursor past a frame only once every chunk of it was
delivered. The spool keeps a segment until both cursors have passed it, so while the
aggregator is down nothing is dropped: the spool grows (up to ``spool_max_bytes``, then
the sidecar stops reading, as when the store is down), and everything is sent once it
is back. A chunk whose ack was lost is sent again: at least once, never at most once.

It runs as a thread of the receiving process and never touches the store: the store
path goes on at its own pace whatever the aggregator does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge

from sidecar.onward.client import AggregatorClient, chunk_message, new_chunk_id
from sidecar.record import FEEDBACK_TAG, TAG, FeedbackRecord, PredictionRecord
from sidecar.spool.format import FORWARD_CHECKPOINT, read_checkpoint, write_checkpoint
from sidecar.spool.reader import SpoolReader
from sidecar.spool.segments import Spool
from sidecar.store.sampling import PayloadSampler
from sidecar.writer.decoding import decode_payload

log = logging.getLogger("predlog.sidecar")

_IDLE_WAIT = 0.2


def open_cursor(directory: Path) -> None:
    """Start the forwarder's cursor where the store's checkpoint is, if it has none yet
    (records stored before forwarding was turned on are not sent)."""
    if not (directory / FORWARD_CHECKPOINT).exists():
        directory.mkdir(parents=True, exist_ok=True)
        write_checkpoint(directory, read_checkpoint(directory), FORWARD_CHECKPOINT)


def close_cursor(directory: Path) -> None:
    """Forget the forwarder's cursor (forwarding turned off): segments stop waiting for it."""
    path = directory / FORWARD_CHECKPOINT
    if path.exists():
        log.info("forwarding is off: its spool cursor is removed")
        path.unlink()


class Forwarder:
    """Reads the spool from its own cursor and delivers every record to the aggregator."""

    def __init__(
        self,
        spool: Spool,
        client: AggregatorClient,
        registry: CollectorRegistry,
        *,
        chunk_records: int,
        sampler: PayloadSampler | None = None,
        retry_max_delay: float = 5.0,
    ) -> None:
        self.spool = spool
        self.client = client
        self.chunk_records = chunk_records
        self.sampler = sampler
        self.retry_max_delay = retry_max_delay
        self.up: bool | None = None
        """Whether the last delivery worked (None before the first)."""
        self.error: BaseException | None = None
        """What ended the forwarder, if it ended abnormally."""
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        p = "predlog_sidecar_forward_"
        self.forwarded = Counter(
            f"{p}records", "Records delivered to the aggregator.", registry=registry
        )
        self.failures = Counter(
            f"{p}failures", "Chunk deliveries that failed (retried).", registry=registry
        )
        self.up_gauge = Gauge(
            f"{p}up", "1 when the last delivery to the aggregator worked.", registry=registry
        )

    def start(self) -> None:
        """Forward in a thread of its own."""
        self._thread = threading.Thread(target=self.run, name="predlog-forward", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout: float) -> None:
        """Send what is spooled for at most ``drain_timeout`` seconds, then end (the rest
        waits in the spool for the next start)."""
        self._deadline = time.monotonic() + drain_timeout
        self._stop.set()
        self.spool.wake()
        if self._thread is not None:
            self._thread.join()

    @property
    def alive(self) -> bool:
        """Whether the forwarder's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """The loop itself: read from the cursor, deliver, move the cursor, trim."""
        directory = self.spool.directory
        reader = SpoolReader(
            self.spool, decode_payload, start=read_checkpoint(directory, FORWARD_CHECKPOINT)
        )
        try:
            while not self._past_deadline():
                stopping = self._stop.is_set()
                items = reader.read(self.chunk_records)
                if not items:
                    if stopping:
                        return  # drained
                    self.spool.wait(_IDLE_WAIT)
                    continue
                for tag, events in self._chunks(items):
                    if not self._deliver(tag, events):
                        return  # stopping with the aggregator down: the spool keeps them
                write_checkpoint(directory, reader.position, FORWARD_CHECKPOINT)
                self.spool.trim()
        except BaseException as exc:  # visible on /healthz; the spool keeps the data
            self.error = exc
            log.exception("forwarder failed")
        finally:
            reader.close()

    def _past_deadline(self) -> bool:
        return self._stop.is_set() and time.monotonic() > self._deadline

    def _chunks(self, items: list[Any]) -> Iterator[tuple[str, list[tuple[float, Any]]]]:
        """Runs of one tag, in spool order, at most ``chunk_records`` events each."""
        tag: str | None = None
        events: list[tuple[float, Any]] = []
        for item in items:
            wire: PredictionRecord | FeedbackRecord
            if item.__class__ is PredictionRecord:
                kind, wire = TAG, self._as_stored(item)
            elif item.__class__ is FeedbackRecord:
                kind, wire = FEEDBACK_TAG, item
            else:
                continue  # a dead letter: the store keeps it, the aggregator gets records
            if events and (kind != tag or len(events) >= self.chunk_records):
                yield tag or kind, events
                events = []
            tag = kind
            events.append((float(item.event_time), wire))
        if events and tag is not None:
            yield tag, events

    def _as_stored(self, record: PredictionRecord) -> PredictionRecord:
        sampler = self.sampler
        if sampler is not None and record.inputs is not None and not sampler.keeps(record):
            return msgspec.structs.replace(record, inputs=None)  # as the store keeps it
        return record

    def _deliver(self, tag: str, events: list[tuple[float, Any]]) -> bool:
        """Send one chunk until it is delivered; False if stopping cut the retries short."""
        chunk_id = new_chunk_id()
        message = chunk_message(tag, events, chunk_id)
        delay = 0.05
        while True:
            try:
                self.client.send(message, chunk_id)
            except OSError as exc:
                if self.up is not False:
                    log.warning("aggregator %s:%d unreachable: %s", *self._address, exc)
                self.up = False
                self.up_gauge.set(0)
                self.failures.inc()
                if self._past_deadline() or time.monotonic() + delay > self._deadline:
                    return False
                if self._stop.is_set():
                    time.sleep(delay)  # draining: the wait would not wait
                else:
                    self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max_delay)
                continue
            if self.up is False:
                log.info("aggregator %s:%d is back", *self._address)
            self.up = True
            self.up_gauge.set(1)
            self.forwarded.inc(len(events))
            return True

    @property
    def _address(self) -> tuple[str, int]:
        return self.client.host, self.client.port
