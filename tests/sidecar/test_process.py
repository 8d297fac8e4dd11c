"""`predlog sidecar` as a real process: SIGTERM drains, kill -9 mid-load loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fluent.sender import FluentSender

from tests.records import wire_record
from tests.sidecar.helpers import ForwardClient, count_rows, forward_message
from tests.support import free_ports, port_open, wait_for

pytestmark = pytest.mark.slow


def start(store_url: str, spool: Path, port: int, http_port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "predlog", "sidecar",
            "--port", str(port), "--http-port", str(http_port),
            "--store", store_url, "--spool", str(spool), "--migrate",
            "--batch-interval", "0.05", "--drain-timeout", "20",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: port_open(port) or proc.poll() is not None, timeout=30)
    except AssertionError:
        proc.kill()
        raise
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    return proc


def test_sigterm_drains_sockets_and_spool_then_exits_0(sqlite_url: str, tmp_path: Path) -> None:
    port, http_port = free_ports(2)
    proc = start(sqlite_url, tmp_path, port, http_port)
    try:
        sender = FluentSender("predlog", host="127.0.0.1", port=port)
        for seq in range(1, 1001):
            assert sender.emit("prediction", wire_record(seq)), sender.last_error
        proc.send_signal(signal.SIGTERM)  # the sender's connection is still open
        assert proc.wait(timeout=30) == 0
        sender.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert count_rows(sqlite_url) == 1000


class AckingClient(threading.Thread):
    """At-least-once delivery like out_forward's require_ack_response: resend until acked."""

    def __init__(self, port: int, chunks: int, per_chunk: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.chunks = chunks
        self.per_chunk = per_chunk
        self.acked = 0
        self.resent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc

    def _run(self) -> None:
        client: ForwardClient | None = None
        deadline = time.monotonic() + 120
        for n in range(self.chunks):
            batch = [wire_record(n * self.per_chunk + i + 1) for i in range(self.per_chunk)]
            message = forward_message(batch, chunk=f"chunk-{n}")
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError("sidecar never came back")
                try:
                    if client is None:
                        client = ForwardClient(self.port, timeout=10)
                    client.send(message)
                    if client.receive() == {"ack": f"chunk-{n}"}:
                        break
                except OSError:
                    if client is not None:
                        client.close()
                    client = None
                    self.resent += 1
                    time.sleep(0.1)
            self.acked += 1
        if client is not None:
            client.close()


def test_kill_9_mid_load_then_restart_replays_without_loss_or_duplicates(
    store_url: str, tmp_path: Path
) -> None:
    port, http_port = free_ports(2)
    chunks, per_chunk = 60, 25
    proc = start(store_url, tmp_path, port, http_port)
    client = AckingClient(port, chunks, per_chunk)
    try:
        client.start()
        wait_for(lambda: client.acked >= chunks // 3, timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert client.acked < chunks  # it really was mid-load
        proc = start(store_url, tmp_path, port, http_port)
        client.join(timeout=120)
        assert client.error is None
        assert client.acked == chunks
        wait_for(lambda: count_rows(store_url) == chunks * per_chunk, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert count_rows(store_url) == chunks * per_chunk
