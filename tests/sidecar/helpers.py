"""Helpers for the sidecar tests: an in-process sidecar, a forward client with acks, counts.

Records come from ``tests.records``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
from sqlalchemy import func, select

from sidecar.app import Sidecar
from sidecar.ingest.protocol import shared_key_digest
from sidecar.record import TAG
from sidecar.settings import SidecarSettings
from sidecar.store.engine import make_engine
from sidecar.store.schema import dead_letters, predictions


def settings(store_url: str, spool: Path, **overrides: Any) -> SidecarSettings:
    """Sidecar settings on free ports with short intervals, for tests."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "http_port": 0,
        "store_url": store_url,
        "spool_dir": spool,
        "migrate": True,
        "batch_interval": 0.05,
        "retry_max_delay": 0.5,
        "drain_timeout": 10.0,
        "api_spool_interval": 0.1,
        "gaps_interval": 0.2,
    }
    values.update(overrides)
    return SidecarSettings.model_validate(values)


class SidecarThread:
    """A Sidecar running on its own event loop in a thread."""

    def __init__(self, config: SidecarSettings) -> None:
        self.loop = asyncio.new_event_loop()
        self.sidecar = Sidecar(config)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.sidecar.start())

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def port(self) -> int:
        return self.sidecar.port

    def stop(self) -> None:
        try:
            self.call(self.sidecar.shutdown(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@contextlib.contextmanager
def running(config: SidecarSettings) -> Iterator[SidecarThread]:
    """A started in-process sidecar, shut down (drained) on exit."""
    runner = SidecarThread(config)
    try:
        yield runner
    finally:
        runner.stop()


def count_rows(store_url: str, table: Any = predictions) -> int:
    """Rows in ``table`` (0 when the store or the table is not there)."""
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    except Exception:
        return 0
    finally:
        engine.dispose()


def dead_letter_rows(store_url: str) -> list[Any]:
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(dead_letters)).all())
    finally:
        engine.dispose()


def metric(runner: SidecarThread, name: str, **labels: str) -> float:
    """A sample's value from the sidecar's registry (0 when absent)."""
    value = runner.sidecar.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


class ForwardClient:
    """A minimal forward-protocol client: the handshake, any mode, and chunk acks."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.unpacker = msgpack.Unpacker(raw=False)

    def send(self, message: Any) -> None:
        self.sock.sendall(msgpack.packb(message))

    def receive(self) -> Any:
        """The next msgpack object from the server; raises ConnectionError at EOF."""
        while True:
            for obj in self.unpacker:
                return obj
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.unpacker.feed(data)

    def handshake(self, key: str, hostname: str = "client-host") -> Any:
        """Answer the server's HELO with a PING; the PONG."""
        helo = self.receive()
        assert helo[0] == "HELO"
        nonce = helo[1]["nonce"]
        salt = b"0123456789abcdef"
        digest = shared_key_digest(salt, hostname, nonce, key)
        self.send(["PING", hostname, salt, digest, "", ""])
        pong = self.receive()
        self.nonce, self.salt = nonce, salt
        return pong

    def closed_by_server(self) -> bool:
        """Whether the server hung up (waits up to the socket timeout)."""
        try:
            data = self.sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
        return data == b""

    def close(self) -> None:
        self.sock.close()


def forward_message(records: list[dict[str, Any]], chunk: str | None = None) -> list[Any]:
    """A Forward-mode message of ``records``."""
    option = {"chunk": chunk} if chunk else {}
    return [TAG, [[time.time(), r] for r in records], option]
