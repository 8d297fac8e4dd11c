"""Sending one chunk to a Fluentd or Fluent Bit aggregator: the forward protocol's client side.

A chunk is one Forward-mode message, ``[tag, [[time, record], ...], {"chunk": id,
"size": n}]``, on a connection of its own (as Fluent Bit's ``out_forward`` sends without
keepalive): connect, write, then either wait for ``{"ack": id}`` (``require_ack``: what
``in_forward`` answers once the chunk is in its buffer) or half-close and wait for the
aggregator to close after reading everything. Anything else (refused, reset, a timeout,
a wrong ack) raises ``OSError``: the chunk was not delivered and is sent again.

This is not the api's acking sender (``api.acksender``, fluent-logger underneath): that
one keeps many chunks in flight on one long connection, for a request path that must
never wait. Here one chunk at a time is sent from a spool that keeps everything anyway,
so a blocking send that either succeeds or raises is all that is needed.
"""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import msgpack
import msgspec

from sidecar.ingest.protocol import EVENT_TIME_EXT, event_time_bytes

MAX_REPLY_BYTES = 1 << 16
"""Most bytes of reply read from the aggregator (an ack is about 30)."""


_encode = msgspec.msgpack.Encoder().encode


def chunk_message(tag: str, events: Sequence[tuple[float, Any]], chunk_id: str) -> bytes:
    """The Forward-mode message of one chunk: EventTime stamps, the chunk and size options.

    A record may be a msgspec Struct (encoded as the map of its fields, in C: what
    ``to_wire`` would give, without building the dict) or a plain map."""
    ext = msgspec.msgpack.Ext
    entries = [(ext(EVENT_TIME_EXT, event_time_bytes(t)), record) for t, record in events]
    return _encode((tag, entries, {"chunk": chunk_id, "size": len(entries)}))


def new_chunk_id() -> str:
    """A chunk id as Fluentd makes them: 16 random bytes, base64."""
    return base64.b64encode(os.urandom(16)).decode()


class AggregatorClient:
    """Delivers chunks to one aggregator, one connection each."""

    def __init__(self, host: str, port: int, *, require_ack: bool, timeout: float) -> None:
        self.host = host
        self.port = port
        self.require_ack = require_ack
        self.timeout = timeout

    def send(self, message: bytes, chunk_id: str) -> None:
        """Deliver one chunk (``chunk_message``); OSError when it may not have arrived."""
        deadline = time.monotonic() + self.timeout
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            sock.sendall(message)
            if self.require_ack:
                self._wait_for_ack(sock, chunk_id, deadline)
            else:
                sock.shutdown(socket.SHUT_WR)
                self._wait_for_close(sock, deadline)

    def _wait_for_ack(self, sock: socket.socket, chunk_id: str, deadline: float) -> None:
        replies = msgpack.Unpacker(raw=False, max_buffer_size=MAX_REPLY_BYTES)
        while True:
            data = self._recv(sock, deadline)
            if not data:
                raise ConnectionError("the aggregator closed the connection before its ack")
            try:
                replies.feed(data)
                for reply in replies:
                    if isinstance(reply, dict) and reply.get("ack") == chunk_id:
                        return
            except (ValueError, msgpack.UnpackException) as exc:
                raise ConnectionError(f"bad reply from the aggregator: {exc}") from exc

    def _wait_for_close(self, sock: socket.socket, deadline: float) -> None:
        received = 0
        while self._recv(sock, deadline):  # nothing is expected; read until its EOF
            received += 1
            if received > MAX_REPLY_BYTES:
                raise ConnectionError("the aggregator answers without end")

    @staticmethod
    def _recv(sock: socket.socket, deadline: float) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer from the aggregator in time")
        sock.settimeout(left)
        return sock.recv(4096)
