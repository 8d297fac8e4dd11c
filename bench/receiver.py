"""A Fluentd forward-protocol receiver that only decodes: the benchmarks' baseline and the
tests' stand-in for the sidecar (the inverse of the sender, like fluent-logger-python's
tests/mockserver.py).

One asyncio protocol decodes every msgpack entry a peer sends and answers a ``chunk``
option with ``{"ack": chunk}``, as the sidecar does. ``serve`` runs it on the caller's
event loop (``bench.fluentload`` runs it in a process of its own, the reference rate);
``ForwardReceiver`` runs it on an event loop in a thread, counting what arrived and, if
asked, keeping it (``bench.api``, ``tests.api``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import msgpack

Entries = Callable[[list[Any]], None]
"""Called with the entries each read decoded (never empty)."""


class _Decode(asyncio.Protocol):
    def __init__(self, received: Entries, acks: bool, open_: set[asyncio.Transport]) -> None:
        self._received = received
        self._acks = acks
        self._open = open_
        self._unpacker = msgpack.Unpacker(raw=False)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._open.add(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._open.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        self._unpacker.feed(data)
        entries = list(self._unpacker)
        if not entries:
            return
        if self._acks and self._transport is not None:
            acks = [
                msgpack.packb({"ack": entry[3]["chunk"]})
                for entry in entries
                if len(entry) == 4 and isinstance(entry[3], dict) and "chunk" in entry[3]
            ]
            if acks:
                self._transport.write(b"".join(acks))
        self._received(entries)


async def serve(
    port: int, received: Entries, *, acks: bool = True, host: str = "127.0.0.1"
) -> tuple[asyncio.Server, set[asyncio.Transport]]:
    """Listen on host:port (0: a free one); the server and its open connections."""
    open_: set[asyncio.Transport] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Decode(received, acks, open_), host, port)
    return server, open_


class ForwardReceiver:
    """A decode-only receiver on 127.0.0.1, on an event loop in a thread of its own."""

    def __init__(self, port: int = 0, *, acks: bool = True, keep: bool = True) -> None:
        """``acks``: answer ``chunk`` options; ``keep``: keep every entry (else count only)."""
        self.keep = keep
        self.count = 0
        """Entries decoded so far."""
        self.last = 0.0
        """``time.monotonic()`` when the latest entry was decoded."""
        self.entries: list[list[Any]] = []
        """Every entry decoded so far, when ``keep``."""
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            serve(port, self._received, acks=acks), self._loop
        )
        self._server, self._open = started.result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]
        self._closed = False

    @property
    def records(self) -> list[dict[str, Any]]:
        """The record maps of the Message-mode entries kept so far."""
        with self._lock:
            return [entry[2] for entry in self.entries]

    def _received(self, entries: list[Any]) -> None:
        with self._lock:
            self.count += len(entries)
            self.last = time.monotonic()
            if self.keep:
                self.entries += entries

    def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            self._server.close()
            for transport in list(self._open):
                transport.abort()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ForwardReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
