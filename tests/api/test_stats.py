"""``GET /stats`` and ``GET /health/all``: per version, per worker, summed over workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, ForwardReceiver, fixed_version
from tests.support import free_ports, port_open, wait_for

ROW = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'


def test_health_all_and_stats_in_one_process(
    settings: ApiSettings, receiver: ForwardReceiver
) -> None:
    registry = Registry([fixed_version("iris", "1"), fixed_version("iris", "2")])
    with AppClient(create_app(settings, registry=registry)) as client:
        assert client.get("/health/all").json() == {
            "iris/1": {"health": "ok"},
            "iris/2": {"health": "ok"},
        }
        for version in ("1", "1", "2"):
            headers = {"content-type": "application/json"}
            client.post(f"/predict?version={version}", content=ROW, headers=headers)
        bad = client.post(
            "/predict?version=2", content=b"{", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        client.get("/label")  # no version answers it
        stats = client.get("/stats").json()
    assert stats["requests"] == {"iris/1": 2, "iris/2": 2}  # errors of a version count too
    assert stats["requests_total"] == 4
    (worker,) = stats["workers"]
    assert worker["pid"] == os.getpid()
    assert worker["requests"] == stats["requests"]
    assert stats["uptime_seconds"] >= worker["uptime_seconds"] >= 0
    # probes and scrapes are not logged
    wait_for(lambda: len(receiver.records) == 5)
    assert {r["endpoint"] for r in receiver.records} == {"/predict", "/label"}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _predict(url: str) -> str:
    request = urllib.request.Request(url, data=ROW, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["version"])


@pytest.mark.slow
def test_stats_sum_every_worker(tmp_path: Path, models_dir: Path) -> None:
    api, forward = free_ports(2)  # nothing listens on forward: the records are spooled
    process = subprocess.Popen(
        [
            sys.executable, "-m", "predlog", "api", "--host", "127.0.0.1", "--port", str(api),
            "--workers", "2", "--models", str(models_dir), "--forward", f"127.0.0.1:{forward}",
            "--spool", str(tmp_path / "spool"),
        ]
    )  # fmt: skip
    try:
        wait_for(lambda: port_open(api), timeout=90)
        base = f"http://127.0.0.1:{api}"
        # the port opens with the first worker; wait until both have started
        wait_for(lambda: len(_get(f"{base}/stats")["workers"]) == 2, timeout=90)
        answered = [_predict(f"{base}/predict?version={v}") for v in ("1", "2") * 30]
        assert answered.count("1") == answered.count("2") == 30

        def summed() -> bool:
            return bool(_get(f"{base}/stats")["requests_total"] == 60)

        wait_for(summed, timeout=20)
        stats = _get(f"{base}/stats")
        assert stats["requests"] == {"iris/1": 30, "iris/2": 30}
        assert len(stats["workers"]) == 2
        per_worker: dict[str, int] = {}
        for worker in stats["workers"]:
            assert worker["uptime_seconds"] > 0
            for key, n in worker["requests"].items():
                per_worker[key] = per_worker.get(key, 0) + n
        assert per_worker == stats["requests"]
        assert sorted(_get(f"{base}/health/all")) == ["iris/1", "iris/2"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
