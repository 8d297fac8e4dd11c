"""The forward-protocol listener: accepts connections (``connection.ForwardProtocol``, one
per peer), spools what they decode, pauses them while the spool is full, fsyncs for acks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sidecar.ingest.connection import ForwardProtocol
from sidecar.metrics import SidecarMetrics
from sidecar.spool.segments import Spool

log = logging.getLogger("predlog.sidecar")

_RESUME_RATIO = 0.9
"""Reading resumes once the spool is back under this fraction of its cap."""


class ForwardServer:
    """Accepts forward-protocol connections and appends their events to the spool."""

    def __init__(
        self,
        spool: Spool,
        metrics: SidecarMetrics,
        *,
        max_entry_bytes: int,
        shared_key: str | None = None,
        self_hostname: str = "predlog-sidecar",
        read_coalesce: float = 0.0,
    ) -> None:
        """``read_coalesce``: seconds a connection waits after a small read (see
        ``ForwardProtocol``); 0 reads whenever data arrives."""
        self.spool = spool
        self.read_coalesce = read_coalesce
        self.metrics = metrics
        self.max_entry_bytes = max_entry_bytes
        self.shared_key = shared_key
        self.self_hostname = self_hostname
        self.connections: set[ForwardProtocol] = set()
        self._received = metrics.received.labels("forward")
        self.paused = False
        self._server: asyncio.Server | None = None
        self._sync_task: asyncio.Future[int] | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self.idle = asyncio.Event()
        """Set while no connection is open."""
        self.idle.set()

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port; the port bound."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: ForwardProtocol(self), host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections go on."""
        if self._server is not None:
            self._server.close()

    async def close_connections(self, grace: float) -> None:
        """Give peers ``grace`` seconds to finish and hang up, then close what is left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), grace)
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()

    def spool_events(self, payload: bytes, events: int) -> int:
        """Append received messages (``events`` events) as one frame; its sync position.

        ``payload``: the messages as ``sidecar.spool.format.batch_payload`` wraps them."""
        position = self.spool.append(payload)
        self._received.inc(events)
        if not self.paused and self.spool.full:
            self.pause()
        return position

    def pause(self) -> None:
        """Spool full: stop reading from every socket (TCP backpressure)."""
        self.paused = True
        self.metrics.paused.set(1)
        log.warning("spool full (%d bytes): reading paused", self.spool.size)
        for conn in self.connections:
            conn.pause()

    def maybe_resume(self) -> None:
        """Resume reading once the store has caught up enough."""
        if self.paused and self.spool.fill_ratio < _RESUME_RATIO:
            self.paused = False
            self.metrics.paused.set(0)
            for conn in self.connections:
                conn.resume()

    def background(self, coro: Any) -> None:
        """Run ``coro`` as a task the server keeps a reference to."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish_acks(self) -> None:
        """Wait for pending acknowledgements (their connections may be gone already)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def durable(self, position: int) -> None:
        """Return once the spool is fsynced up to ``position`` (one fsync serves many)."""
        while self.spool.synced < position:
            task = self._sync_task
            if task is None or task.done():
                task = asyncio.ensure_future(asyncio.to_thread(self.spool.sync))
                self._sync_task = task
            await asyncio.shield(task)
