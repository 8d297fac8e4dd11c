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

Counted = Callable[[int], None]
"""Called with how many entries a read decoded (never 0)."""
Kept = Callable[[list[Any]], None]
"""Called with the entries a read decoded, when they are kept (never empty)."""


class _Decode(asyncio.Protocol):
    def __init__(
        self, counted: Counted, keep: Kept | None, acks: bool, open_: set[asyncio.Transport]
    ) -> None:
        self._counted = counted
        self._keep = keep
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
        unpacker = self._unpacker
        unpacker.feed(data)
        acks: list[bytes] = []
        n = 0
        if self._keep is not None:
            entries = list(unpacker)
            n = len(entries)
            if self._acks:
                acks = [_ack(entry) for entry in entries if _asks_ack(entry)]
            if entries:
                self._keep(entries)
        elif self._acks:
            for n, entry in enumerate(unpacker, 1):  # noqa: B007 (n: the count, after the loop)
                if _asks_ack(entry):
                    acks.append(_ack(entry))
        else:  # the baseline: decode, count, let go
            n = sum(1 for _ in unpacker)
        if n:
            self._counted(n)
        # Acknowledged only once kept and counted: whoever sees the ack sees the entry.
        if acks and self._transport is not None:
            self._transport.write(b"".join(acks))


def _asks_ack(entry: Any) -> bool:
    return len(entry) == 4 and isinstance(entry[3], dict) and "chunk" in entry[3]


def _ack(entry: Any) -> bytes:
    packed: bytes = msgpack.packb({"ack": entry[3]["chunk"]})
    return packed


async def serve(
    port: int,
    counted: Counted,
    *,
    keep: Kept | None = None,
    acks: bool = True,
    host: str = "127.0.0.1",
) -> tuple[asyncio.Server, set[asyncio.Transport]]:
    """Listen on host:port (0: a free one); the server and its open connections.

    ``counted`` hears how many entries each read decoded; ``keep``, if given, gets them;
    ``acks`` answers ``chunk`` options."""
    open_: set[asyncio.Transport] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Decode(counted, keep, acks, open_), host, port)
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
        kept = self._kept if keep else None
        started = asyncio.run_coroutine_threadsafe(
            serve(port, self._counted, keep=kept, acks=acks), self._loop
        )
        self._server, self._open = started.result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]
        self._closed = False

    @property
    def records(self) -> list[dict[str, Any]]:
        """The record maps of the Message-mode entries kept so far."""
        with self._lock:
            return [entry[2] for entry in self.entries]

    def _counted(self, n: int) -> None:
        with self._lock:
            self.count += n
            self.last = time.monotonic()

    def _kept(self, entries: list[Any]) -> None:
        with self._lock:
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
