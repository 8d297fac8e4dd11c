"""The load generator against the live api and sidecar: every answer is one row in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import ColumnElement, func, select

from client import LoadSettings, run_load
from sidecar.store.engine import make_engine
from sidecar.store.schema import Prediction
from tests.support import free_ports, port_open, wait_for

pytestmark = pytest.mark.slow

PREDLOG = [sys.executable, "-m", "predlog"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def live_api(tmp_path: Path, sqlite_url: str, models_dir: Path) -> Iterator[tuple[str, str]]:
    """``predlog sidecar`` and ``predlog api`` on free ports over an SQLite store."""
    forward, http, api = free_ports(3)
    spool = tmp_path / "spool"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sidecar = subprocess.Popen(
        [
            *PREDLOG, "sidecar", "--host", "127.0.0.1", "--port", str(forward),
            "--http-port", str(http), "--store", sqlite_url, "--spool", str(spool), "--migrate",
        ],
        env=env,
    )  # fmt: skip
    processes = [sidecar]
    try:
        wait_for(lambda: port_open(forward) and port_open(http), timeout=60)
        server = subprocess.Popen(
            [
                *PREDLOG, "api", "--host", "127.0.0.1", "--port", str(api), "--workers", "1",
                "--models", str(models_dir), "--forward", f"127.0.0.1:{forward}",
                "--spool", str(spool),
            ],
            env=env,
        )  # fmt: skip
        processes.insert(0, server)
        wait_for(lambda: port_open(api), timeout=60)
        yield f"http://127.0.0.1:{api}", sqlite_url
    finally:
        for process in processes:
            _stop(process)


def _stored(url: str, *where: ColumnElement[bool]) -> int:
    engine = make_engine(url, readonly=True)
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(Prediction).where(*where)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_every_answered_request_is_one_row_in_the_store(live_api: tuple[str, str]) -> None:
    url, store = live_api
    settings = LoadSettings(url=url, rate=100, count=300, outlier_fraction=0.2, version="2", seed=5)
    summary = run_load(settings, progress=None)
    assert summary.sent == summary.scheduled == 300
    assert summary.dropped == 0
    assert summary.errors == 0
    assert summary.by_status == {"200": 300}
    # The sidecar writes in batches: wait until the store has caught up, then compare exactly.
    wait_for(lambda: _stored(store, Prediction.endpoint == "/predict") >= summary.answered, 30)
    assert _stored(store, Prediction.endpoint == "/predict") == summary.answered
    assert _stored(store, Prediction.endpoint == "/predict", Prediction.status == 200) == 300
    assert _stored(store, Prediction.version == "2") == 300
    # Rows drawn far outside the training range are flagged by the api, and logged as such.
    assert summary.outliers_sent > 0
    assert summary.outliers_flagged >= summary.outliers_sent * 0.9
    assert _stored(store, Prediction.is_outlier.is_(True)) == summary.outliers_flagged


def test_normal_rows_are_flagged_at_about_the_detectors_contamination(
    live_api: tuple[str, str], models_dir: Path
) -> None:
    # `predlog load --outlier-fraction 0` sends only training-like rows: the detector should
    # flag about the share of real training rows it was fitted to flag, not most of them.
    url, _ = live_api
    manifests = sorted(models_dir.glob("iris/*/manifest.json"))
    contamination = max(
        orjson.loads(m.read_bytes())["detector"]["contamination"] for m in manifests
    )
    out = subprocess.run(
        [
            *PREDLOG, "load", "--url", url, "--rate", "200", "--count", "600",
            "--outlier-fraction", "0", "--seed", "11", "--no-progress", "--json",
        ],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    summary = orjson.loads(out.stdout)
    assert summary["answered"] == 600
    assert summary["outliers_sent"] == 0
    rate = summary["outliers_flagged"] / summary["answered"]
    assert rate <= 2 * contamination, f"{rate:.1%} of normal rows flagged"
