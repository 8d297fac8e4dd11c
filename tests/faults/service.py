"""A stand-in for a Kubernetes Service in front of api processes, for the rolling restart.

One address (127.0.0.1, a free port). Each new client connection goes to one of the
backends that are ready, in turn, and stays on it for its life, as kube-proxy does;
readiness is each backend's ``GET /health`` every ``PROBE_SECONDS`` (200: ready). The
bytes are piped both ways; when either side closes, the other is closed after what was
read is written. A connection that finds no ready backend, or whose backend refuses it, is
closed at once and counted (``refused``): the client sees what it would see in a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import Future

from tests.support import free_ports

PROBE_SECONDS = 0.2


class Service:
    """A TCP load balancer over api ports with readiness probes, on a thread of its own."""

    def __init__(self, *backends: int) -> None:
        (self.port,) = free_ports(1)
        self.backends: list[int] = list(backends)
        self.ready: set[int] = set()
        self.connections: dict[int, int] = {}
        """Connections routed to each backend port so far."""
        self.refused = 0
        self._turn = 0
        self._loop = asyncio.new_event_loop()
        self._started: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name="faults-service", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Service:
        """Listen; return once every backend given has passed its probe."""
        self._thread.start()
        self._started.result(timeout)
        deadline = time.monotonic() + timeout
        while not set(self.backends) <= self.ready:
            if time.monotonic() > deadline:
                raise AssertionError(f"backends {self.backends} not ready in {timeout:.0f}s")
            time.sleep(PROBE_SECONDS / 4)
        return self

    def add(self, port: int) -> None:
        """A new endpoint; it gets traffic once its probe passes."""
        self._loop.call_soon_threadsafe(self.backends.append, port)

    def remove(self, port: int) -> None:
        def drop() -> None:
            self.backends.remove(port)
            self.ready.discard(port)

        self._loop.call_soon_threadsafe(drop)

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=1024)
        prober = asyncio.create_task(self._probe_forever())
        self._started.set_result(None)
        async with server:
            await self._stop.wait()
            prober.cancel()
            server.close()
            # Every connection's pipes end here, not when the loop is gone.
            for task in self._handlers:
                task.cancel()
            await asyncio.gather(prober, *self._handlers, return_exceptions=True)

    async def _probe_forever(self) -> None:
        while True:
            ports = list(self.backends)
            results = await asyncio.gather(*(self._probe(port) for port in ports))
            for port, ok in zip(ports, results, strict=True):
                if ok and port in self.backends:
                    self.ready.add(port)
                else:
                    self.ready.discard(port)
            await asyncio.sleep(PROBE_SECONDS)

    @staticmethod
    async def _probe(port: int) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), PROBE_SECONDS * 5
            )
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"GET /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            line = await asyncio.wait_for(reader.readline(), PROBE_SECONDS * 5)
            return line.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    def _pick(self) -> int | None:
        ready = [port for port in self.backends if port in self.ready]
        if not ready:
            return None
        self._turn += 1
        return ready[self._turn % len(ready)]

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._route(client_r, client_w)
        finally:
            self._handlers.discard(task)
            client_w.close()

    async def _route(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        port = self._pick()
        try:
            if port is None:
                raise ConnectionRefusedError("no ready backend")
            backend_r, backend_w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            self.refused += 1
            return
        self.connections[port] = self.connections.get(port, 0) + 1
        try:
            await asyncio.gather(self._pipe(client_r, backend_w), self._pipe(backend_r, client_w))
        finally:
            backend_w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()
