"""fluent-logger's acking sender, kept whole: one subclass; send, ack and resend share its state.

It speaks the forward protocol's acks: nothing sent is forgotten unacked. Each
``emit_many`` call is one chunk: its events as plain Message-mode entries, the last one
carrying the option ``{"chunk": id}`` (``[tag, time, record, {"chunk": id}]``). The
receiver answers ``{"ack": id}`` once the chunk is safe (the sidecar: fsynced into its
spool). A receiver handles one connection's messages in order, so the ack of a chunk's
last entry covers the whole chunk; every entry but the last stays the plain, three-element
entry that receivers read fastest.

A chunk is kept until its ack comes. When the connection is lost (a write fails, the
receiver hangs up, or no ack comes within ``ack_timeout``), every chunk still waiting is
pending again, oldest first, and goes out before anything new on the next connection
(``resend``), or is taken by the caller (``take_pending``) to be kept elsewhere. A chunk
whose ack was lost with its connection is sent twice; the sidecar stores by job_id, so a
resend is harmless.
"""

from __future__ import annotations

import base64
import errno
import itertools
import os
import time
from collections.abc import Sequence
from typing import Any

import msgpack
from fluent.sender import FluentSender

MAX_ACK_BYTES = 1 << 20
"""Most bytes of acks buffered from the receiver (an ack is about 30 bytes)."""


class Chunk:
    """Packed events sent as one chunk, and how many records they hold."""

    __slots__ = ("data", "id", "last", "records", "sends", "sent_at")

    def __init__(self, chunk_id: str, data: bytes, last: int, records: int) -> None:
        self.id = chunk_id
        self.data = data
        """The entries as sent: the one at ``last`` (an offset) carries the chunk option."""
        self.last = last
        self.records = records
        self.sends = 0
        self.sent_at = 0.0

    def plain(self) -> bytes:
        """The entries without the chunk option: plain ``[tag, time, record]`` entries, as
        fluent-logger's own sender writes them and the api's spool files hold them."""
        if self.last >= len(self.data):
            return self.data
        tag, t, record, _ = msgpack.unpackb(self.data[self.last :], raw=False)
        plain: bytes = msgpack.packb((tag, t, record))
        return self.data[: self.last] + plain


class AckingSender(FluentSender):  # type: ignore[misc]
    """A ``fluent.sender.FluentSender`` whose every write is a chunk the receiver acknowledges.

    fluent-logger's connection handling is kept as it is (``_send_data``: connect when there
    is no socket, check the receiving side, write everything; ``_close``; the ``lock``,
    ``timeout``, ``last_error``, ``bufmax`` and ``buffer_overflow_handler``). What it keeps
    in ``pendings`` as bytes is kept here as chunks (``pending``), so that acks can be
    matched and records counted. With ``acks=False`` chunks carry no option and count as
    delivered once written (for receivers that do not answer ``chunk``).
    """

    _closed: bool  # fluent-logger's: set by close()

    def __init__(
        self,
        tag: str,
        *,
        acks: bool = True,
        ack_timeout: float = 10.0,
        max_in_flight: int = 8 << 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(tag, **kwargs)
        if self.nanosecond_precision:
            raise ValueError("AckingSender packs float times (nanosecond_precision=False)")
        self.acks = acks
        self.ack_timeout = ack_timeout
        """Seconds to wait for the oldest chunk's ack before taking the connection as lost."""
        self.max_in_flight = max_in_flight
        """Most bytes sent and not yet acknowledged; past it the connection counts as lost."""
        self._packer = msgpack.Packer(autoreset=False, **self.msgpack_kwargs)
        self._acks = self._new_ack_reader()
        self._in_flight: dict[str, Chunk] = {}  # sent, waiting for the ack; oldest first
        self._in_flight_bytes = 0
        self._pending: list[Chunk] = []  # to send (again) before anything new
        self._id_prefix = os.urandom(8)
        self._ids = itertools.count()
        self._delivered = 0
        self.lost_connections = 0
        """How many times a connection was given up with chunks unacknowledged or unsent."""

    # -- sending -------------------------------------------------------------------------

    def emit_many(self, label: str, events: Sequence[tuple[float, dict[str, Any]]]) -> bool:
        """Send ``(time, record)`` events as one chunk; True once written to the socket.

        False: the connection failed, and this chunk with every one still unacknowledged
        is pending (``take_pending``). Raises, leaving nothing behind, for a record that
        cannot be packed.
        """
        if not events:
            return True
        chunk = self._pack(label, events)
        with self.lock:
            self._pending.append(chunk)
            if self._closed:
                return False
            return self._send_pending()

    def emit_with_time(self, label: str, timestamp: float, data: dict[str, Any]) -> bool:
        """fluent-logger's one-event call, sent as a chunk of one."""
        return self.emit_many(label, [(timestamp, data)])

    def resend(self, max_sends: int = 2) -> bool:
        """Send what is pending (after a lost connection) on a new connection; whether it went.

        A chunk already written ``max_sends`` times is not tried again (False): a receiver
        that takes chunks and never answers would otherwise get them forever."""
        with self.lock:
            if not self._pending:
                return True
            if self._closed or any(chunk.sends >= max_sends for chunk in self._pending):
                return False
            return self._send_pending()

    def poll(self) -> bool:
        """Take the acks that arrived; False if the connection turned out lost (then what was
        in flight is pending again). Called periodically while chunks are in flight."""
        with self.lock:
            if self.socket is None or not self._in_flight:
                return True
            try:
                self._check_recv_side()
            except OSError as exc:
                self._lose_connection(exc)
                return False
            oldest = next(iter(self._in_flight.values()), None)
            if oldest is not None and time.monotonic() - oldest.sent_at > self.ack_timeout:
                self._lose_connection(TimeoutError(f"no ack in {self.ack_timeout:.0f}s"))
                return False
            return True

    def wait_for_acks(self, timeout: float, interval: float = 0.005) -> bool:
        """Poll until every chunk in flight is acknowledged or ``timeout`` passes; whether
        nothing is left in flight (shutdown)."""
        deadline = time.monotonic() + min(timeout, self.ack_timeout)
        while self.in_flight and time.monotonic() < deadline:
            if not self.poll():
                return False
            if self.in_flight:
                time.sleep(interval)
        return not self.in_flight

    # -- what became of the records ------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Records sent and not yet acknowledged."""
        return sum(chunk.records for chunk in self._in_flight.values())

    @property
    def pending(self) -> int:
        """Records waiting to be sent (again)."""
        return sum(chunk.records for chunk in self._pending)

    def take_delivered(self) -> int:
        """Records acknowledged (written, with ``acks=False``) since the last call."""
        with self.lock:
            delivered, self._delivered = self._delivered, 0
            return delivered

    def take_pending(self) -> tuple[bytes, int]:
        """The pending chunks' entries (plain, without the chunk option) and record count;
        the caller keeps them from now on."""
        with self.lock:
            chunks, self._pending = self._pending, []
        return b"".join(chunk.plain() for chunk in chunks), sum(c.records for c in chunks)

    def take_unacknowledged(self) -> tuple[bytes, int]:
        """Everything not acknowledged (in flight, then pending), taken as ``take_pending``
        does; the connection is closed, since acks for it would now match nothing."""
        with self.lock:
            if self._in_flight:
                self._lose_connection(None)
        return self.take_pending()

    def close(self) -> None:
        """Close the connection; what was never acknowledged goes to the buffer overflow
        handler, as fluent-logger does with pendings it cannot send at close."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            if self._in_flight:
                self._lose_connection(None)
            self._close()
            chunks, self._pending = self._pending, []
        if chunks:
            self._call_buffer_overflow_handler(b"".join(chunk.plain() for chunk in chunks))

    # -- internals -----------------------------------------------------------------------

    def _pack(self, label: str, events: Sequence[tuple[float, dict[str, Any]]]) -> Chunk:
        tag = f"{self.tag}.{label}" if self.tag else label
        packer = self._packer
        chunk_id = base64.b64encode(self._id_prefix + next(self._ids).to_bytes(8, "big")).decode()
        option = {"chunk": chunk_id} if self.acks else None
        try:
            for t, record in events[:-1]:
                packer.pack((tag, t, record))
            with packer.getbuffer() as head:
                last = len(head)
            t, record = events[-1]
            packer.pack((tag, t, record) if option is None else (tag, t, record, option))
            data = packer.bytes()
        finally:
            packer.reset()  # a record that cannot be packed leaves nothing behind
        return Chunk(chunk_id, data, last if option is not None else len(data), len(events))

    def _send_pending(self) -> bool:
        """Write every pending chunk (lock held); on failure they are all pending again."""
        chunks, self._pending = self._pending, []
        data = chunks[0].data if len(chunks) == 1 else b"".join(c.data for c in chunks)
        now = time.monotonic()
        for chunk in chunks:
            chunk.sends += 1
            chunk.sent_at = now
        if self.acks:
            # In flight before the write: the check that follows it may read the ack.
            for chunk in chunks:
                self._in_flight[chunk.id] = chunk
            self._in_flight_bytes += len(data)
        try:
            # fluent-logger's internal write path, so that connecting, the receiving side's
            # EOF check and partial writes are handled exactly as by FluentSender._send.
            self._send_data(data)
        except OSError as exc:
            if not self.acks:
                self._pending = chunks
            self._lose_connection(exc)
            self._check_bufmax()
            return False
        if not self.acks:
            self._delivered += sum(chunk.records for chunk in chunks)
        elif self._in_flight_bytes > self.max_in_flight:
            self._lose_connection(OSError(errno.ENOBUFS, "too much sent without an ack"))
            return False
        return True

    def _check_recv_side(self) -> None:
        # Overrides fluent-logger's internal check, which _send_data calls before and after
        # each write: the original reads what the receiver sent and throws it away, looking
        # only for EOF; here those bytes are acks to match. Read before EOF is raised, so an
        # ack that came just before the receiver hung up still counts.
        sock = self.socket
        sock.settimeout(0.0)
        try:
            while True:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    return
                if not data:
                    raise OSError(errno.EPIPE, "Broken pipe")
                try:
                    self._acks.feed(data)
                    for message in self._acks:
                        self._on_ack(message)
                except Exception as exc:  # msgpack raises several types for garbage
                    raise OSError(errno.EPROTO, f"bad reply from the receiver: {exc}") from exc
                if len(data) < 65536:
                    return
        finally:
            sock.settimeout(self.timeout)

    def _on_ack(self, message: Any) -> None:
        if not isinstance(message, dict):
            return  # nothing else is expected here; fluent-logger ignores it too
        chunk = self._in_flight.pop(str(message.get("ack")), None)
        if chunk is not None:
            self._in_flight_bytes -= len(chunk.data)
            self._delivered += chunk.records

    def _lose_connection(self, exc: Exception | None) -> None:
        """Close the socket; what was in flight is pending again, ahead of the rest (lock held)."""
        if exc is not None:
            self.last_error = exc
        if self._in_flight or self._pending:
            self.lost_connections += 1
        self._pending = [*self._in_flight.values(), *self._pending]
        self._in_flight = {}
        self._in_flight_bytes = 0
        self._acks = self._new_ack_reader()  # the next connection's acks start afresh
        self._close()

    def _check_bufmax(self) -> None:
        """fluent-logger's rule for its pendings: past ``bufmax``, hand them to the overflow
        handler and drop them."""
        if sum(len(chunk.data) for chunk in self._pending) > self.bufmax:
            chunks, self._pending = self._pending, []
            self._call_buffer_overflow_handler(b"".join(chunk.plain() for chunk in chunks))

    @staticmethod
    def _new_ack_reader() -> msgpack.Unpacker:
        return msgpack.Unpacker(raw=False, max_buffer_size=MAX_ACK_BYTES)
