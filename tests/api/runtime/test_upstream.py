"""``api.runtime.upstream`` against small real HTTP servers (asyncio, loopback): kept-alive
connections, chunked and closing answers, a connection the server dropped, garbage, the
least-outstanding choice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from api.errors import UpstreamError
from api.runtime.upstream import Answer, Upstreams

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


async def _calls(handler: Handler, n: int) -> tuple[list[Answer], int]:
    """``n`` calls, one after another, to a server answering with ``handler``: the answers
    and how many connections the server saw."""
    connections = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Upstreams([f"http://127.0.0.1:{port}"], "/health", timeout=2.0, probe_interval=60)
    try:
        answers = [await pool.call("/infer", b'{"x": 1}', "application/json") for _ in range(n)]
    finally:
        pool.stop()
        server.close()
        await server.wait_closed()
    return answers, connections


async def _keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        body = await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()


def test_calls_keep_one_connection_alive() -> None:
    answers, connections = asyncio.run(_calls(_keep_alive, 3))
    assert [(a.status, a.body) for a in answers] == [(200, b'{"x": 1}')] * 3
    assert connections == 1


async def _chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await _read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'4\r\n{"a"\r\n3;ext=1\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
        )
        await writer.drain()


def test_a_chunked_answer_is_put_together() -> None:
    answers, connections = asyncio.run(_calls(_chunked, 2))
    assert [a.body for a in answers] == [b'{"a": 1}'] * 2
    assert connections == 1


async def _one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno")
    await writer.drain()  # then closed without a word: the next call finds it gone


def test_a_connection_the_server_dropped_is_replaced() -> None:
    answers, connections = asyncio.run(_calls(_one_then_close, 3))
    assert [(a.status, a.body) for a in answers] == [(503, b"no")] * 3
    assert connections == 3


async def _closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()


def test_connection_close_is_honoured() -> None:
    answers, connections = asyncio.run(_calls(_closing, 2))
    assert [a.body for a in answers] == [b"ok", b"ok"]
    assert connections == 2


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
    await writer.drain()


def test_an_answer_that_is_not_http_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="answered no HTTP"):
        asyncio.run(_calls(_garbage, 1))


def test_the_endpoint_with_fewest_calls_outstanding_is_chosen_ties_in_turn() -> None:
    pool = Upstreams(
        ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"],
        "/health",
        timeout=1.0,
        probe_interval=60,
    )
    a, b, c = pool.endpoints
    a.outstanding, b.outstanding, c.outstanding = 2, 0, 1
    assert pool.choose() is b
    b.outstanding = 5
    assert pool.choose() is c
    c.outstanding = a.outstanding = b.outstanding = 0
    assert {pool.choose().url for _ in range(3)} == {a.url, b.url, c.url}
    b.in_service = False
    assert b not in {pool.choose() for _ in range(6)}
    a.in_service = c.in_service = False
    with pytest.raises(UpstreamError, match="no upstream in service"):
        pool.choose()
