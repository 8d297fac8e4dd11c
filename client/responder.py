"""A minimal, fast HTTP/1.1 responder that answers like the api, to measure the generator itself.

``python -m client.responder --port 9000`` serves ``GET /metadata`` (iris-like feature
statistics) and ``POST /predict`` (a small JSON answer that flags rows outside the training
range as outliers) on a raw asyncio protocol with keep-alive: cheap enough that the load
generator, not the server, is what a benchmark against it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections.abc import Sequence
from typing import cast

import orjson
import uvloop

from client.rows import FeatureStat

IRIS_STATS = (
    FeatureStat("sepal length (cm)", 5.843, 0.825, 4.3, 7.9),
    FeatureStat("sepal width (cm)", 3.057, 0.434, 2.0, 4.4),
    FeatureStat("petal length (cm)", 3.758, 1.759, 1.0, 6.9),
    FeatureStat("petal width (cm)", 1.199, 0.760, 0.1, 2.5),
)
"""Training statistics of scikit-learn's iris data, served as ``feature_stats``."""

_METADATA = orjson.dumps(
    {
        "feature_stats": [
            {"name": s.name, "mean": s.mean, "std": s.std, "min": s.min, "max": s.max}
            for s in IRIS_STATS
        ]
    }
)
_REASONS = {200: b"OK", 404: b"Not Found", 422: b"Unprocessable Entity", 503: b"Unavailable"}


def _response(status: int, body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: keep-alive\r\n\r\n"
    ) % (status, _REASONS.get(status, b"Status"), len(body))
    return head + body


class Responder(asyncio.Protocol):
    """One connection: parse pipelined requests by Content-Length, answer each one."""

    def __init__(self, server: ResponderState) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self._answer(head.split(b" ", 2), body)

    def _answer(self, request_line: list[bytes], body: bytes) -> None:
        method, path = request_line[0], request_line[1].split(b"?", 1)[0]
        if method == b"GET" and path == b"/metadata":
            self._write(_response(200, _METADATA))
            return
        if method != b"POST":
            self._write(_response(404, b'{"detail": "not found"}'))
            return
        reply = self.server.reply(body)
        if self.server.delay > 0:
            # Answer later without holding up other requests, like a slow server would.
            asyncio.get_running_loop().call_later(self.server.delay, self._write, reply)
        else:
            self._write(reply)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class ResponderState:
    """What every connection shares: the answer policy and the request counter."""

    def __init__(self, delay: float = 0.0, error_every: int = 0) -> None:
        self.delay = delay
        self.error_every = error_every
        self.requests = 0
        self._ids = itertools.count(1)
        self._low = [s.min - s.std for s in IRIS_STATS]
        self._high = [s.max + s.std for s in IRIS_STATS]

    def reply(self, body: bytes) -> bytes:
        """The answer to one POST: 503 every ``error_every``-th request, else 200 or 422."""
        self.requests += 1
        if self.error_every and self.requests % self.error_every == 0:
            return _response(503, b'{"detail": "unavailable"}')
        try:
            rows = orjson.loads(body)["data"]
            flags = [
                any(not lo <= v <= hi for v, lo, hi in zip(row, self._low, self._high, strict=True))
                for row in rows
            ]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return _response(422, b'{"detail": "bad input"}')
        answer = {"job_id": f"job-{next(self._ids)}", "is_outlier": flags[0] if flags else False}
        return _response(200, orjson.dumps(answer))


async def serve(host: str, port: int, delay: float = 0.0, error_every: int = 0) -> None:
    """Serve until cancelled."""
    state = ResponderState(delay, error_every)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Responder(state), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the responder (``python -m client.responder``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--error-every", type=int, default=0, help="answer 503 every Nth POST")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port, args.delay, args.error_every))


if __name__ == "__main__":
    main()
