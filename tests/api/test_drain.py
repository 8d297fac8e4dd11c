"""The drain on SIGTERM, under a real uvicorn with two workers: answers go on, each closing
its connection, /health answers 503, and the process then stops cleanly."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from api import drain
from api.runmark import runs_directory
from tests.api.fixtures import ForwardReceiver
from tests.support import free_port, wait_for

ROW = json.dumps({"data": [[6.7, 3.0, 5.2, 2.3]]})


def post(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    conn.request("POST", "/predict", ROW, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response


def health(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def test_without_uvicorn_nothing_is_installed() -> None:
    handler = signal.getsignal(signal.SIGTERM)
    assert drain.install(3.0) is False
    assert signal.getsignal(signal.SIGTERM) is handler


@pytest.mark.slow
def test_sigterm_drains_then_stops(
    models_dir: Path, tmp_path: Path, receiver: ForwardReceiver
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PREDLOG_API_SHUTDOWN_DRAIN"] = "4"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "predlog", "api", "--port", str(port), "--workers", "2",
            "--models", str(models_dir), "--forward", f"127.0.0.1:{receiver.port}",
            "--spool", str(tmp_path / "spool"), "--log-level", "warning",
        ],
        env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: health(port) == 200 or proc.poll() is not None, timeout=120, interval=0.2)
        wait_for(lambda: len(list(runs_directory(tmp_path / "spool").glob("*.run"))) == 2, 60)
        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        first = post(kept)
        assert first.status == 200
        assert first.getheader("connection") is None  # keep-alive as usual

        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: health(port) == 503, timeout=10, interval=0.05)
        # A connection opened before SIGTERM is still served, and told to close.
        last = post(kept)
        assert last.status == 200
        assert last.getheader("connection") == "close"
        assert proc.wait(timeout=60) == 0
        wait_for(lambda: len(receiver.records) == 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
