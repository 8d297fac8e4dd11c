"""``predlog run``: the whole system on one machine, driven like a user drives it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_ports, port_open, wait_for

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Stack:
    api: str
    dashboard: str
    sidecar_metrics: str
    store: str
    process: subprocess.Popen[bytes]


def http(url: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status), dict(response.headers), response.read()


def query(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "predlog", "query", "--store", store, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def stack(tmp_path: Path, models_dir: Path) -> Iterator[Stack]:
    """``predlog run`` on free ports over a fresh SQLite store."""
    names = ("api", "sidecar", "sidecar_http", "dashboard")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    store = f"sqlite:///{tmp_path / 'predlog.db'}"
    command = [
        sys.executable, "-m", "predlog", "run", "--api-port", str(ports["api"]),
        "--sidecar-port", str(ports["sidecar"]), "--sidecar-http-port",
        str(ports["sidecar_http"]), "--dashboard-port", str(ports["dashboard"]),
        "--models", str(models_dir), "--store", store, "--spool", str(tmp_path / "spool"),
    ]  # fmt: skip
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = "http://127.0.0.1"
    try:
        wait_for(lambda: port_open(ports["dashboard"]) or process.poll() is not None, timeout=120)
        assert process.poll() is None, (tmp_path / "run.log").read_text()
        yield Stack(
            f"{base}:{ports['api']}",
            f"{base}:{ports['dashboard']}",
            f"{base}:{ports['sidecar_http']}/metrics",
            store,
            process,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        print((tmp_path / "run.log").read_text())  # pytest shows it when the test failed


def test_a_prediction_is_answered_and_becomes_one_row_in_the_store(stack: Stack) -> None:
    status, headers, body = http(f"{stack.api}/predict", {"data": [[6.7, 3.0, 5.2, 2.3]]})
    answer = json.loads(body)
    assert status == 200
    assert answer["job_id"] == headers["x-job-id"]
    assert answer["model"] == "iris"
    assert len(answer["prediction"]) == 3
    assert 0.0 <= answer["outlier_score"] <= 1.0

    def stored() -> bool:
        return query(stack.store, "--job-id", answer["job_id"], "--format", "json").returncode == 0

    wait_for(stored, timeout=30, interval=0.2)
    found = json.loads(query(stack.store, "--job-id", answer["job_id"], "--format", "json").stdout)
    row = found[0] if isinstance(found, list) else found
    assert row["job_id"] == answer["job_id"]
    assert row["status"] == 200
    assert row["version"] == answer["version"]


def test_bad_input_is_a_4xx_that_is_logged_too(stack: Stack) -> None:
    request = urllib.request.Request(
        f"{stack.api}/predict", data=b'{"data": [[1, 2]]}',
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 422
    job_id = caught.value.headers["x-job-id"]
    wait_for(lambda: query(stack.store, "--job-id", job_id).returncode == 0, timeout=30)
    assert "422" in query(stack.store, "--job-id", job_id).stdout


def test_the_dashboard_and_the_sidecar_answer(stack: Stack) -> None:
    assert http(f"{stack.dashboard}/_stcore/health")[0] == 200
    status, _, metrics = http(stack.sidecar_metrics)
    assert status == 200
    assert b"predlog_sidecar" in metrics


def test_ctrl_c_stops_every_part_and_exits_zero(stack: Stack) -> None:
    http(f"{stack.api}/predict", {"data": [[5.1, 3.5, 1.4, 0.2]]})
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=60) == 0
    assert query(stack.store, "--since", "1h", "--format", "json").returncode == 0
