"""Helpers shared by the tests: free ports (from bench.ports), waiting for servers, databases."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg

from bench.ports import free_port, free_ports

__all__ = [
    "PG_ADMIN_URL",
    "free_port",
    "free_ports",
    "port_open",
    "postgres_available",
    "temporary_database",
    "wait_for",
]

PG_ADMIN_URL = os.environ.get("PREDLOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
"""Server the PostgreSQL tests create their databases on (trust auth)."""


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def postgres_available() -> bool:
    """Whether the test PostgreSQL server answers."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def temporary_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; its SQLAlchemy URL."""
    name = f"predlog_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
