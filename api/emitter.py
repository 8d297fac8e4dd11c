"""The record emitter: a bounded queue, one thread that owns a fluent-logger sender, a spool.

The request path only appends to a deque (no lock, no wake-up, no I/O). A background thread
wakes every few milliseconds, takes what is queued and sends it with ``AckingSender``
(``api.acksender``: fluent-logger's synchronous ``FluentSender``, Message mode, tag
``predlog.prediction``, several events per socket write, each write a chunk the receiver
acknowledges). Records of another tag (feedback: ``emit_tagged``) take the same road, in
chunks of their own. fluent-logger's own async sender will not do: it blocks the caller when its
queue is full, and in circular mode drops the oldest event without a trace.

Every record ends in exactly one of three counted outcomes:

- ``sent``: the receiver acknowledged it (with ``acks=False``: it was written to the socket);
- ``spooled``: the queue was full, the send failed, the connection was lost before its ack
  came, or the emitter was closed, so its packed bytes went to a spool file (see
  ``api.spool``) that the sidecar ingests later;
- ``failed``: it could neither be packed nor spooled (logged with the reason).

A chunk in flight when the connection is lost (the sidecar killed, say) is sent again on a
new connection at once, or spooled if there is none; either way it may reach the store
twice, and the sidecar keeps one row per job_id. What no ack can save is a record still in
this process's memory when the process itself dies; its seq is counted missing all the
same, since the run's last seq outlives the process (``api.runmark``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal

import msgpack

from api.acksender import AckingSender
from api.spool import SpoolWriter
from sidecar.record import TAG

log = logging.getLogger(__name__)

Outcome = Literal["sent", "spooled", "failed"]
TAG_PREFIX, _, LABEL = TAG.partition(".")
POLL_SECONDS = 0.02
"""How often the thread looks for queued records and acks: the delivery delay it adds."""
MAX_BATCH = 512
"""Most records written to the socket at once (one chunk)."""
ACK_TIMEOUT = 10.0
"""Seconds without the oldest chunk's ack before the connection counts as lost."""
MAX_IN_FLIGHT = 8 << 20
"""Most bytes sent and unacknowledged before the connection counts as lost."""


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
        on_tick: Callable[[], None] | None = None,
        *,
        acks: bool = True,
        ack_timeout: float = ACK_TIMEOUT,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.spool = spool
        self.queue_size = queue_size
        self.retry_interval = retry_interval
        self.counts: dict[Outcome, int] = {"sent": 0, "spooled": 0, "failed": 0}
        self._on_outcome = on_outcome
        self._on_tick = on_tick
        self._next_tick = 0.0
        self._sender = AckingSender(
            TAG_PREFIX,
            host=forward[0],
            port=forward[1],
            timeout=timeout,
            acks=acks,
            ack_timeout=ack_timeout,
            max_in_flight=max_in_flight,
            # What the sender cannot deliver is taken (take_pending) and spooled after
            # every failure, so its own buffer never reaches bufmax.
            bufmax=1 << 62,
            forward_packet_error=False,
        )
        self._queue: deque[dict[str, Any]] = deque()
        self._tagged: deque[tuple[str, dict[str, Any]]] = deque()
        """Records of other tags (feedback), with their label: rare, so kept apart."""
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        self._down_until = 0.0
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

    def emit_tagged(self, label: str, record: dict[str, Any]) -> None:
        """``emit`` for a record of another tag, ``<prefix>.<label>`` (feedback's)."""
        if self._closing or len(self._queue) + len(self._tagged) >= self.queue_size:
            self._spool_records((record,), f"{TAG_PREFIX}.{label}")
            return
        self._tagged.append((label, record))

    @property
    def pending(self) -> int:
        """Records queued and not yet handed to the sender or spooled."""
        return len(self._queue) + len(self._tagged)

    @property
    def in_flight(self) -> int:
        """Records sent and not yet acknowledged."""
        return self._sender.in_flight

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting, send or spool what is queued, wait for the acks of what was sent,
        spool what is still unacknowledged, complete the spool file (shutdown)."""
        if self._closed:
            return
        deadline = time.monotonic() + timeout
        self._closing = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("emitter thread did not drain in %.0fs; %d queued", timeout, self.pending)
        # Whatever the thread left (never started, or timed out) is spooled here.
        while self._queue:
            self._spool_records((self._queue.popleft(),))
        while self._tagged:
            label, record = self._tagged.popleft()
            self._spool_records((record,), f"{TAG_PREFIX}.{label}")
        sender = self._sender
        if not self._thread.is_alive():  # else the thread still owns the sender
            if sender.pending and time.monotonic() >= self._down_until:
                sender.resend()
            sender.wait_for_acks(max(0.0, deadline - time.monotonic()))
            self._settle()
            packed, n = sender.take_unacknowledged()
            if n:
                self._write_spool(packed, n)
        sender.close()
        self.spool.close()
        self._closed = True

    # -- the sending thread -------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while True:
            self._tick()
            if self._tagged:
                self._send_tagged()
            if queue:
                batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
                try:
                    self._send(batch)
                except Exception:  # never let a bug kill the thread: count, say so, go on
                    log.exception("emitter failed on %d record(s)", len(batch))
                    self._count("failed", len(batch))
                if len(queue) >= MAX_BATCH:
                    continue  # a backlog: the next batch is full already
            elif self._closing and not self._tagged:
                return
            # Batch by time, not by record: every wake-up and send costs syscalls and a GIL
            # hand-off with the event loop. close() sets the event: the queue drains at once.
            self._wake.wait(POLL_SECONDS)

    def _tick(self) -> None:
        """Periodic chores, at most every POLL_SECONDS: acks, spool rotation, ``on_tick``."""
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + POLL_SECONDS
        try:
            if self._sender.in_flight and not self._sender.poll():
                self._connection_lost()
            self._settle()
        except Exception:
            log.exception("emitter failed reading acks")
        try:
            self.spool.rotate_if_due()
        except OSError as exc:  # a full disk: the records were counted when written
            log.error("cannot complete the spool file in %s: %s", self.spool.directory, exc)
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
        if not ok:  # a write failed: the receiver may be back already (as after a restart)
            self._connection_lost()
        self._settle()

    def _send_tagged(self) -> None:
        """Send the records of other tags, one chunk per run of one label."""
        tagged = self._tagged
        while tagged:
            label = tagged[0][0]
            run: list[dict[str, Any]] = []
            while tagged and tagged[0][0] == label and len(run) < MAX_BATCH:
                run.append(tagged.popleft()[1])
            if time.monotonic() < self._down_until:
                self._spool_records(run, f"{TAG_PREFIX}.{label}")
                continue
            try:
                ok = self._sender.emit_many(label, [(r["event_time"], r) for r in run])
            except Exception as exc:  # cannot be packed: nothing of it was sent
                log.error("%d %s record(s) cannot be packed: %s", len(run), label, exc)
                self._count("failed", len(run))
                continue
            if not ok:
                self._connection_lost()
            self._settle()

    def _send_one(self, record: dict[str, Any]) -> None:
        try:
            ok = self._sender.emit_many(LABEL, [(record["event_time"], record)])
        except Exception as exc:
            log.error("record %s cannot be packed: %s", record.get("job_id"), exc)
            self._count("failed", 1)
            return
        if not ok:  # a write failed: the receiver may be back already (as after a restart)
            self._connection_lost()
        self._settle()

    def _settle(self) -> None:
        """Count what the receiver acknowledged since the last call."""
        delivered = self._sender.take_delivered()
        if delivered:
            self._count("sent", delivered)

    def _connection_lost(self) -> None:
        """The connection broke with chunks unacknowledged: send them again on a new one at
        once (the receiver may be back already), else spool them."""
        log.warning("forward connection lost (%s); resending", self._sender.last_error)
        if time.monotonic() >= self._down_until and self._sender.resend():
            return
        self._failed_send()

    def _failed_send(self) -> None:
        """The receiver is unreachable: spool what the sender could not deliver."""
        self._down_until = time.monotonic() + self.retry_interval
        if self.counts["spooled"] == 0:
            log.warning("forward receiver unreachable (%s); spooling", self._sender.last_error)
        packed, n = self._sender.take_pending()
        if n:
            self._write_spool(packed, n)

    def _spool_records(self, records: Sequence[dict[str, Any]], tag: str = TAG) -> None:
        try:
            packed = b"".join(msgpack.packb((tag, r["event_time"], r)) for r in records)
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
