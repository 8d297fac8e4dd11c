"""One forward-protocol connection: the handshake, then msgpack messages decoded and spooled."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import msgpack

from sidecar.ingest.protocol import (
    MessageReader,
    ProtocolError,
    check_message,
    check_ping,
    ext_hook,
    helo,
    message_prefix,
    pong,
)
from sidecar.spool.format import batch_header

if TYPE_CHECKING:
    from sidecar.ingest.server import ForwardServer

log = logging.getLogger("predlog.sidecar")

COALESCE_BELOW = 64 << 10
"""A read smaller than this many bytes makes the connection wait before its next read."""


@dataclass
class Received:
    """What one read decoded: byte spans of messages, their event count, chunk ids."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    chunks: list[Any] = field(default_factory=list)
    messages: int = 0
    events: int = 0
    consumed: int = 0


class ForwardProtocol(asyncio.Protocol):
    """One client connection: handshake (if keyed), then a stream of msgpack messages.

    A client such as fluent-logger writes one small message per event. Read as it
    arrives, each message costs a wake-up, a read and a spool append of its own; so
    after a read smaller than ``COALESCE_BELOW`` the connection stops reading for the
    server's ``read_coalesce`` seconds while the kernel's socket buffer gathers more,
    and the next read takes it all at once (a few milliseconds of latency for several
    times less CPU per record under load).
    """

    def __init__(self, server: ForwardServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.reader = MessageReader(server.max_entry_bytes)
        self.raw = bytearray()
        """Received bytes from the start of the message being decoded."""
        self.raw_base = 0
        """Stream offset of ``raw[0]`` (the unpacker's ``tell()`` counts from the start)."""
        self.nonce = secrets.token_bytes(16)
        self.authenticated = server.shared_key is None
        self.closed = False
        self._paused = False
        """Paused by the server (spool full)."""
        self._resting = False
        """Paused for ``read_coalesce`` after a small read."""
        self.prefix: bytes | None = None
        """Leading bytes of this peer's plain Message-mode entries (see ``message_prefix``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self.server.paused:
            self.server.metrics.bad_connections.labels("spool_full").inc()
            self.transport.abort()
            self.closed = True
            return
        self.server.connections.add(self)
        self.server.idle.clear()
        self.server.metrics.connections.inc()
        if not self.authenticated:
            self.transport.write(helo(self.nonce))

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.server.connections:
            self.server.connections.discard(self)
            self.server.metrics.connections.dec()
            if not self.server.connections:
                self.server.idle.set()
        self.closed = True

    def pause(self) -> None:
        if self.transport is not None and not self._paused and not self.closed:
            self._paused = True
            if not self._resting:
                self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and self._paused and not self.closed:
            self._paused = False
            if not self._resting:
                self.transport.resume_reading()

    def _rest(self, delay: float) -> None:
        if self.transport is not None and not self._paused and not self._resting:
            self._resting = True
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(delay, self._wake)

    def _wake(self) -> None:
        self._resting = False
        if self.transport is not None and not self._paused and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def _fail(self, reason: str) -> None:
        self.server.metrics.bad_connections.labels(reason).inc()
        log.info("closing forward connection: %s", reason)
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.raw += data
        got = Received()
        try:
            self.reader.feed(data)
            failure = self._decode(got)
        except ProtocolError as exc:
            failure = exc.reason
        except msgpack.BufferFull:
            failure = "entry_too_large"
        except Exception:  # msgpack raises several unrelated types for garbage bytes
            failure = "malformed"
        # What decoded before a failure is kept: the peer sent it, and it is not acked.
        if got.spans:
            raw = self.raw
            payload = b"".join([batch_header(got.messages), *(raw[a:b] for a, b in got.spans)])
            position = self.server.spool_events(payload, got.events)
            if got.chunks and failure is None:
                self.server.background(self._ack(position, got.chunks))
        del self.raw[: got.consumed]
        self.raw_base += got.consumed
        if failure is not None:
            self._fail(failure)
        elif len(data) < COALESCE_BELOW and self.server.read_coalesce > 0:
            self._rest(self.server.read_coalesce)

    def _decode(self, got: Received) -> str | None:
        """Read every complete message; note where each one's bytes are in ``raw``."""
        reader = self.reader
        unpacker = reader.unpacker
        raw = self.raw
        while True:
            prefix = self.prefix
            if prefix is not None and reader.idle:
                # The fast path, a C call or two per message: a peer that sends plain
                # Message-mode entries (fluent-logger does) sends the same leading bytes
                # every time. A run of them is one span.
                if self._plain_run(got, prefix):
                    return None
                start = got.consumed
                try:
                    unpacker.skip()
                except msgpack.OutOfData:
                    return None
                end = unpacker.tell() - self.raw_base
                got.consumed = end
                items = msgpack.unpackb(
                    raw[start:end], raw=False, ext_hook=ext_hook, strict_map_key=False
                )
                if items is not None:  # else a heartbeat
                    events, chunk = check_message(items, self.server.max_entry_bytes)
                    self._span(got, start, end, events, chunk)
                continue
            try:
                items = reader.read(skip_records=self.authenticated)
            except msgpack.OutOfData:
                return None
            start, end = got.consumed, reader.tell() - self.raw_base
            got.consumed = end
            if items is None:
                continue  # a heartbeat without events
            if not self.authenticated:
                failure = self._handshake(items)
                if failure:
                    return failure
                continue
            events, chunk = check_message(items, self.server.max_entry_bytes)
            self._span(got, start, end, events, chunk)
            if chunk is None and prefix is None:
                self.prefix = message_prefix(raw[start:end], items)

    def _plain_run(self, got: Received, prefix: bytes) -> bool:
        """Take the plain Message-mode entries that come next, as one span; whether the
        received bytes ran out (else a message of another shape is next, unread)."""
        unpacker = self.reader.unpacker
        skip, tell, starts = unpacker.skip, unpacker.tell, self.raw.startswith
        base = self.raw_base
        first = start = got.consumed
        count = 0
        out_of_data = False
        while starts(prefix, start):
            try:
                skip()
            except msgpack.OutOfData:
                out_of_data = True
                break
            start = tell() - base
            count += 1
        if count:
            got.consumed = start
            self._span(got, first, start, count, messages=count)
        return out_of_data or start >= len(self.raw)

    @staticmethod
    def _span(
        got: Received, start: int, end: int, events: int, chunk: Any = None, messages: int = 1
    ) -> None:
        got.messages += messages
        got.events += events
        if got.spans and got.spans[-1][1] == start:
            got.spans[-1] = (got.spans[-1][0], end)
        else:
            got.spans.append((start, end))
        if chunk is not None:
            got.chunks.append(chunk)

    def _handshake(self, obj: Any) -> str | None:
        key = self.server.shared_key
        assert key is not None
        assert self.transport is not None
        salt, reason = check_ping(obj, self.nonce, key)
        self.transport.write(pong(salt, self.nonce, key, self.server.self_hostname, reason))
        if reason is not None:
            return "auth_failed"
        self.authenticated = True
        return None

    async def _ack(self, position: int, chunks: list[Any]) -> None:
        await self.server.durable(position)
        if self.transport is not None and not self.closed:
            self.transport.write(b"".join(msgpack.packb({"ack": c}) for c in chunks))
            self.server.metrics.acks.inc(len(chunks))
