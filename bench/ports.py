"""Free ports on 127.0.0.1 for the servers a benchmark starts, and waiting for them."""

from __future__ import annotations

import contextlib
import socket
import time


def free_ports(n: int) -> list[int]:
    """``n`` different free ports (each socket stays bound until all are picked: the
    kernel would otherwise hand the same port out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port() -> int:
    """A port nothing listens on right now."""
    return free_ports(1)[0]


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Return once something accepts connections on ``port``; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")
