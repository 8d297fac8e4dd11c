"""The record emitter: a bounded queue, one thread that owns a fluent-logger sender, a spool.

The request path only appends to a deque (no lock, no wake-up, no I/O). A background thread
wakes every few milliseconds, takes what is queued and sends it with a synchronous
``fluent.sender.FluentSender`` (Message mode, tag ``predlog.prediction``), several events per
socket write. fluent-logger's own async sender will not do: it blocks the caller when its
queue is full, and in circular mode drops the oldest event without a trace.

Every record ends in exactly one of three counted outcomes:

- ``sent``: the sender wrote it to the forward socket;
- ``spooled``: the queue was full, the send failed, or the emitter was closed, so its
  packed bytes went to a spool file (see ``api.spool``) that the sidecar ingests later;
- ``failed``: it could neither be packed nor spooled (logged with the reason).

After a failed send the sender keeps the packets in ``pendings`` (or hands them to
``buffer_overflow_handler`` when over ``bufmax``) and returns False; we move them from there
into the spool and clear ``pendings``, so a record is never both spooled and re-sent with the
next event. Without acks (fluent-logger has none), a send that fails half-way may have
delivered some events of the batch that are then spooled too: the sidecar drops such
duplicates by job_id. Records in the receiver's socket buffer when it crashes are lost; the
per-process ``seq`` shows the gap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal

import msgpack
from fluent.sender import FluentSender

from api.spool import SpoolWriter
from sidecar.record import TAG

log = logging.getLogger(__name__)

Outcome = Literal["sent", "spooled", "failed"]
TAG_PREFIX, _, LABEL = TAG.partition(".")
POLL_SECONDS = 0.02
"""How often the thread looks for queued records: the delivery delay it adds at most."""
MAX_BATCH = 512
"""Most records written to the socket at once."""


class BatchSender(FluentSender):  # type: ignore[misc]
    """fluent-logger's sender, plus writing several events in one socket write.

    The events are packed into the bytes of as many ``emit`` calls (``_make_packet``:
    ``msgpack.packb((tag, time, record))``), with one reused ``msgpack.Packer`` rather than a
    new one per event, and written by the sender's own send path (``_send``: reconnect,
    ``pendings``, ``last_error``, overflow handler), the way it concatenates pending events
    after a failure.
    """

    def __init__(self, tag: str, **kwargs: Any) -> None:
        super().__init__(tag, **kwargs)
        if self.nanosecond_precision:
            raise ValueError("BatchSender packs float times (nanosecond_precision=False)")
        self._packer = msgpack.Packer(autoreset=False, **self.msgpack_kwargs)

    def emit_many(self, label: str, events: Sequence[tuple[float, dict[str, Any]]]) -> bool:
        """Send ``(time, record)`` events; False (and packets in ``pendings``) on failure."""
        tag = f"{self.tag}.{label}" if self.tag else label
        packer = self._packer
        try:
            for t, record in events:
                packer.pack((tag, t, record))
            packed = packer.bytes()
        finally:
            packer.reset()  # a record that cannot be packed leaves nothing behind
        return bool(self._send(packed))


class RecordEmitter:
    """Sends record dicts to a forward-protocol receiver off the request path; spools the rest."""

    def __init__(
        self,
        forward: tuple[str, int],
        spool: SpoolWriter,
        queue_size: int = 10_000,
        timeout: float = 1.0,
        retry_interval: float = 1.0,
        on_outcome: Callable[[Outcome, int], None] | None = None,
        bufmax: int = 1 << 20,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.spool = spool
        self.queue_size = queue_size
        self.retry_interval = retry_interval
        self.counts: dict[Outcome, int] = {"sent": 0, "spooled": 0, "failed": 0}
        self._on_outcome = on_outcome
        self._on_tick = on_tick
        self._next_tick = 0.0
        self._sender = BatchSender(
            TAG_PREFIX,
            host=forward[0],
            port=forward[1],
            timeout=timeout,
            bufmax=bufmax,
            buffer_overflow_handler=self._spool_overflow,
            forward_packet_error=False,
        )
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        self._down_until = 0.0
        self._overflow: Outcome | None = None
        self._lock = threading.Lock()  # counts are updated by the request path and the thread
        self._thread = threading.Thread(target=self._run, name="predlog-emitter", daemon=True)

    def start(self) -> None:
        """Start the sending thread (called once, in the app's lifespan)."""
        self._thread.start()

    def emit(self, record: dict[str, Any]) -> None:
        """Queue one record; never blocks on the network and never raises (request path)."""
        if self._closing or len(self._queue) >= self.queue_size:
            self._spool_records((record,))
            return
        self._queue.append(record)

    @property
    def pending(self) -> int:
        """Records queued and not yet sent or spooled."""
        return len(self._queue)

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting, send or spool what is queued, complete the spool file (shutdown)."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("emitter thread did not drain in %.0fs; %d queued", timeout, self.pending)
        # Whatever the thread left (never started, or timed out) is spooled here.
        while self._queue:
            self._spool_records((self._queue.popleft(),))
        self._sender.close()
        self.spool.close()
        self._closed = True

    # -- the sending thread -------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while True:
            self._tick()
            if queue:
                batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
                try:
                    self._send(batch)
                except Exception:  # never let a bug kill the thread: count, say so, go on
                    log.exception("emitter failed on %d record(s)", len(batch))
                    self._count("failed", len(batch))
                if len(queue) >= MAX_BATCH:
                    continue  # a backlog: the next batch is full already
            elif self._closing:
                return
            # Batch by time, not by record: every wake-up and send costs syscalls and a GIL
            # hand-off with the event loop. close() sets the event: the queue drains at once.
            self._wake.wait(POLL_SECONDS)

    def _tick(self) -> None:
        """Periodic chores, at most every POLL_SECONDS: spool rotation, the ``on_tick`` hook."""
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + POLL_SECONDS
        self.spool.rotate_if_due()
        if self._on_tick is not None:
            try:
                self._on_tick()
            except Exception:
                log.exception("emitter on_tick hook failed")

    def _send(self, batch: list[dict[str, Any]]) -> None:
        if time.monotonic() < self._down_until:
            # The receiver just failed: spool without paying a connect attempt per batch.
            self._spool_records(batch)
            return
        try:
            ok = self._sender.emit_many(LABEL, [(r["event_time"], r) for r in batch])
        except Exception as exc:  # a record that cannot be packed: try them one by one
            log.error("a batch of %d record(s) cannot be packed: %s", len(batch), exc)
            for record in batch:
                self._send_one(record)
            return
        if ok:
            self._count("sent", len(batch))
        else:
            self._failed_send(len(batch))

    def _send_one(self, record: dict[str, Any]) -> None:
        try:
            ok = self._sender.emit_many(LABEL, [(record["event_time"], record)])
        except Exception as exc:
            log.error("record %s cannot be packed: %s", record.get("job_id"), exc)
            self._count("failed", 1)
            return
        if ok:
            self._count("sent", 1)
        else:
            self._failed_send(1)

    def _failed_send(self, n: int) -> None:
        self._down_until = time.monotonic() + self.retry_interval
        if self.counts["spooled"] == 0:
            log.warning("forward receiver unreachable (%s); spooling", self._sender.last_error)
        packet = self._sender.pendings
        self._sender.pendings = None
        overflow, self._overflow = self._overflow, None
        if overflow is not None:  # the sender already handed the packets to _spool_overflow
            self._count(overflow, n)
        elif packet:
            self._write_spool(packet, n)
        else:  # cannot happen with fluent-logger 0.11; never let it pass silently
            log.error("sender failed without pending data; %d record(s) lost", n)
            self._count("failed", n)

    def _spool_overflow(self, pendings: bytes) -> None:
        # Counted by the caller (_failed_send), which knows how many records the bytes hold.
        try:
            self.spool.write(pendings)
        except OSError as exc:
            log.error("cannot spool to %s: %s", self.spool.directory, exc)
            self._overflow = "failed"
            return
        self._overflow = "spooled"

    def _spool_records(self, records: Sequence[dict[str, Any]]) -> None:
        try:
            packed = b"".join(msgpack.packb((TAG, r["event_time"], r)) for r in records)
        except Exception as exc:
            log.error("%d record(s) cannot be packed for the spool: %s", len(records), exc)
            self._count("failed", len(records))
            return
        self._write_spool(packed, len(records))

    def _write_spool(self, packed: bytes, n: int) -> None:
        try:
            self.spool.write(packed)
        except OSError as exc:
            log.error("cannot spool %d record(s) to %s: %s", n, self.spool.directory, exc)
            self._count("failed", n)
            return
        self._count("spooled", n)

    def _count(self, outcome: Outcome, n: int) -> None:
        with self._lock:
            self.counts[outcome] += n
        if self._on_outcome is not None:
            self._on_outcome(outcome, n)
