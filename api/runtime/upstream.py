"""A remote version's upstream servers: health probes, least-outstanding choice, HTTP calls.

``Upstreams`` holds one ``Endpoint`` per base URL. A daemon thread probes each one's health
path every ``probe_interval`` seconds (``http.client``, off the event loop): an endpoint
that fails ``fails_to_drop`` probes in a row is taken out, one that answers a probe again
is put back. A call goes to the endpoint in service with the fewest calls outstanding (ties
in turn); one whose connection is refused is taken out at once and the call tried on the
next, so an endpoint that goes down costs no request once the first call has seen it.

Two ways to call: ``call`` awaits the answer on the event loop (keep-alive connections
over asyncio streams, per endpoint and loop), and ``call_sync`` blocks a thread (the shadow
thread, the batch route's thread pool, the load check).
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from api.errors import UpstreamError, UpstreamTimeoutError

log = logging.getLogger(__name__)

_MAX_ANSWER = 64 << 20
"""Largest upstream answer read, in bytes."""


@dataclass(slots=True, eq=False)
class Endpoint:
    """One upstream server and what predlog knows of it (compared by identity)."""

    url: str
    host: str
    port: int
    prefix: str
    in_service: bool = True
    outstanding: int = 0
    failed_probes: int = 0
    calls: int = 0
    errors: int = 0
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    idle_loop: asyncio.AbstractEventLoop | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """An upstream's HTTP answer."""

    status: int
    body: bytes
    endpoint: str


def parse_endpoint(url: str) -> Endpoint:
    """An ``Endpoint`` for ``http://host:port[/prefix]``."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise ValueError(f"endpoint {url!r} is not http://host:port[/prefix]")
    return Endpoint(url.rstrip("/"), parts.hostname, parts.port, parts.path.rstrip("/"))


class Upstreams:
    """The endpoints of one remote version, their probes and the calls to them."""

    def __init__(
        self,
        urls: list[str],
        health_path: str,
        *,
        timeout: float,
        probe_interval: float,
        fails_to_drop: int = 1,
    ) -> None:
        self.endpoints = [parse_endpoint(url) for url in urls]
        self.health_path = health_path
        self.timeout = timeout
        self.probe_interval = probe_interval
        self.fails_to_drop = fails_to_drop
        self._turn = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- health ------------------------------------------------------------------------

    def start(self) -> None:
        """Probe every endpoint once (now), then every ``probe_interval`` in a thread."""
        self.probe()
        self._thread = threading.Thread(target=self._follow, name="predlog-upstream", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop probing and close the idle connections (when the version is unloaded)."""
        self._stop.set()
        for endpoint in self.endpoints:
            idle, endpoint.idle = endpoint.idle, []
            for _, writer in idle:
                loop = endpoint.idle_loop
                if loop is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(writer.close)

    def _follow(self) -> None:
        while not self._stop.wait(self.probe_interval):
            try:
                self.probe()
            except Exception:  # never the prober's end: the next round tries again
                log.exception("probing the upstreams failed")

    def probe(self) -> None:
        """Ask every endpoint's health path once; take out or put back what changed."""
        for endpoint in self.endpoints:
            healthy = self._healthy(endpoint)
            if healthy:
                endpoint.failed_probes = 0
                if not endpoint.in_service:
                    log.info("upstream %s is back in service", endpoint.url)
                endpoint.in_service = True
            else:
                endpoint.failed_probes += 1
                if endpoint.in_service and endpoint.failed_probes >= self.fails_to_drop:
                    log.warning("upstream %s failed its health probe: out of service", endpoint.url)
                    endpoint.in_service = False

    def _healthy(self, endpoint: Endpoint) -> bool:
        try:
            answer = self._request_sync(endpoint, "GET", self.health_path, b"", None)
        except (UpstreamError, UpstreamTimeoutError, OSError):  # refused, reset, hung
            return False
        return answer.status == 200

    @property
    def in_service(self) -> list[str]:
        """The URLs calls may go to now."""
        return [e.url for e in self.endpoints if e.in_service]

    def choose(self, tried: tuple[Endpoint, ...] = ()) -> Endpoint:
        """The endpoint in service with the fewest calls outstanding (ties in turn)."""
        candidates = [e for e in self.endpoints if e.in_service and e not in tried]
        if not candidates:
            down = ", ".join(e.url for e in self.endpoints)
            raise UpstreamError(f"no upstream in service (all of {down} failed their probes)")
        self._turn += 1
        n = len(candidates)
        return min(
            (candidates[(self._turn + i) % n] for i in range(n)), key=lambda e: e.outstanding
        )

    # -- calls -------------------------------------------------------------------------

    async def call(self, path: str, body: bytes, content_type: str) -> Answer:
        """POST ``body`` to ``path`` on the chosen endpoint, awaiting the answer."""
        tried: tuple[Endpoint, ...] = ()
        while True:
            endpoint = self.choose(tried)
            endpoint.outstanding += 1
            endpoint.calls += 1
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._post(endpoint, path, body, content_type)
            except TimeoutError as exc:
                endpoint.errors += 1
                raise UpstreamTimeoutError(
                    f"upstream {endpoint.url} did not answer within {self.timeout:g} s"
                ) from exc
            except ConnectionRefusedError:
                self._refused(endpoint)
                tried = (*tried, endpoint)
            except OSError as exc:
                endpoint.errors += 1
                raise UpstreamError(f"upstream {endpoint.url} failed: {exc!r}"[:500]) from exc
            finally:
                endpoint.outstanding -= 1

    def call_sync(self, path: str, body: bytes, content_type: str) -> Answer:
        """``call``, blocking the calling thread (never the event loop's)."""
        tried: tuple[Endpoint, ...] = ()
        while True:
            endpoint = self.choose(tried)
            endpoint.outstanding += 1
            endpoint.calls += 1
            try:
                return self._request_sync(endpoint, "POST", path, body, content_type)
            except ConnectionRefusedError:
                self._refused(endpoint)
                tried = (*tried, endpoint)
            finally:
                endpoint.outstanding -= 1

    def _refused(self, endpoint: Endpoint) -> None:
        endpoint.errors += 1
        if endpoint.in_service:
            log.warning("upstream %s refused a connection: out of service", endpoint.url)
        endpoint.in_service = False  # the probe puts it back once it answers

    async def _post(self, endpoint: Endpoint, path: str, body: bytes, content_type: str) -> Answer:
        head = (
            f"POST {endpoint.prefix}{path} HTTP/1.1\r\nHost: {endpoint.host}:{endpoint.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        loop = asyncio.get_running_loop()
        if endpoint.idle_loop is not loop:  # connections belong to the loop that opened them
            endpoint.idle, endpoint.idle_loop = [], loop
        while endpoint.idle:  # a kept-alive connection, unless the server closed it meanwhile
            reader, writer = endpoint.idle.pop()
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            try:
                return await self._exchange(endpoint, reader, writer, head + body)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()  # closed under us: try a new connection
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
        try:
            return await self._exchange(endpoint, reader, writer, head + body)
        except asyncio.IncompleteReadError as exc:
            writer.close()
            raise UpstreamError(f"upstream {endpoint.url} closed the connection") from exc
        except BaseException:
            writer.close()
            raise

    async def _exchange(
        self,
        endpoint: Endpoint,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: bytes,
    ) -> Answer:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status, length, chunked, close = _head(endpoint, head)
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size > _MAX_ANSWER:
                    raise UpstreamError(f"upstream {endpoint.url} answered too much")
                parts.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(p[:-2] for p in parts)
        else:
            data = await reader.readexactly(length)
        if close:
            writer.close()
        else:
            endpoint.idle.append((reader, writer))
        return Answer(status, data, endpoint.url)

    def _request_sync(
        self, endpoint: Endpoint, method: str, path: str, body: bytes, content_type: str | None
    ) -> Answer:
        conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=self.timeout)
        headers = {} if content_type is None else {"Content-Type": content_type}
        started = time.monotonic()
        try:
            conn.request(method, endpoint.prefix + path, body or None, headers)
            answer = conn.getresponse()
            return Answer(answer.status, answer.read(_MAX_ANSWER), endpoint.url)
        except ConnectionRefusedError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeoutError(
                f"upstream {endpoint.url} did not answer within {self.timeout:g} s"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            waited = time.monotonic() - started
            raise UpstreamError(
                f"upstream {endpoint.url} failed after {waited:.3f} s: {exc!r}"[:500]
            ) from exc
        finally:
            conn.close()


def _head(endpoint: Endpoint, head: bytes) -> tuple[int, int, bool, bool]:
    """(status, content length, chunked, close) from a response's status line and headers."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise UpstreamError(f"upstream {endpoint.url} answered no HTTP: {lines[0][:80]!r}")
    length, chunked, close = 0, False, parts[0] == "HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length" and value.isdigit():
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            close = value == "close"
    if length > _MAX_ANSWER:
        raise UpstreamError(f"upstream {endpoint.url} answered {length} bytes, too many")
    return int(parts[1]), length, chunked, close
