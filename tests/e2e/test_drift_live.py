"""Injected drift and outliers, end to end: `predlog load` into the real api and sidecar, then
the Drift and Outliers pages' queries over what the store holds.

Unshifted traffic flags no feature; `--shift petal_length=2` flags exactly that one; an
`--outlier-fraction` step shows as a step of the outlier rate. The time from the start of
the shift until the Drift page's query flags it is printed (a figure, not an assertion):
the page adds at most its cache's TTL to it.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from dashboard.queries.drift import drift
from dashboard.queries.outliers import outliers
from dashboard.window import Filters, Window, bucket_for
from sidecar.store.drift import Rule
from sidecar.store.engine import make_engine
from sidecar.store.schema import predictions
from tests.client.test_load_live_api import PREDLOG, _stop
from tests.support import free_ports, port_open, wait_for

pytestmark = pytest.mark.slow

RATE = 100
COUNT = 900
SHIFTED = "petal_length"


@pytest.fixture
def system(tmp_path: Path, store_url: str, models_dir: Path) -> Iterator[tuple[str, str, int]]:
    """``predlog sidecar`` (bins from the bundles) and ``predlog api`` over a fresh store."""
    forward, http, api = free_ports(3)
    spool = tmp_path / "spool"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sidecar = subprocess.Popen(
        [
            *PREDLOG, "sidecar", "--host", "127.0.0.1", "--port", str(forward),
            "--http-port", str(http), "--store", store_url, "--spool", str(spool),
            "--models", str(models_dir), "--migrate", "--alert-interval", "1",
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
        yield f"http://127.0.0.1:{api}", store_url, http
    finally:
        for process in processes:
            _stop(process)


def load(url: str, *flags: str) -> subprocess.Popen[bytes]:
    """`predlog load` pinned to iris/1, in the background."""
    return subprocess.Popen(
        [
            *PREDLOG, "load", "--url", url, "--rate", str(RATE), "--count", str(COUNT),
            "--version", "1", "--no-progress", "--json", *flags,
        ],
        stdout=subprocess.PIPE,
    )  # fmt: skip


def finish(process: subprocess.Popen[bytes]) -> dict[str, object]:
    out, _ = process.communicate(timeout=120)
    summary: dict[str, object] = orjson.loads(out)
    assert summary["answered"] == COUNT, summary
    return summary


def stored(store: str) -> int:
    """The iris/1 records stored: each ``predlog load`` also logs its ``GET /metadata``, a
    record of no version that the rollups of iris/1 leave out."""
    engine = make_engine(store, readonly=True)
    query = select(func.count()).where(predictions.c.model == "iris", predictions.c.version == "1")
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def worst_feature(port: int) -> str | None:
    """The feature with the largest ``predlog_model_drift_psi`` of iris/1 on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    psi = {
        match[1]: float(match[2])
        for match in re.finditer(
            r'predlog_model_drift_psi\{feature="([^"]+)",model="iris",version="1"\} (\S+)', text
        )
    }
    return max(psi, key=psi.__getitem__) if psi else None


def window(since: datetime) -> Window:
    """From ``since`` to the end of the current minute, in the dashboard's buckets."""
    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return Window(since, end, bucket_for(end - since))


def flagged(store: str, since: datetime) -> list[str]:
    engine = make_engine(store, readonly=True)
    try:
        report = drift(engine, window(since), Filters("iris", "1"), Rule())
    finally:
        engine.dispose()
    return report.versions[0].flagged if report.versions else []


def test_the_drift_page_flags_exactly_the_shifted_feature_and_outliers_step(
    system: tuple[str, str, int],
) -> None:
    url, store, metrics_port = system
    began = datetime.now(UTC).replace(second=0, microsecond=0)
    finish(load(url, "--seed", "1"))
    wait_for(lambda: stored(store) >= COUNT, timeout=60)
    assert flagged(store, began) == []
    engine = make_engine(store, readonly=True)
    try:
        calm = outliers(engine, window(began), Filters("iris", "1"))
    finally:
        engine.dispose()

    shift_started = time.monotonic()
    shifted = load(url, "--seed", "2", "--shift", f"{SHIFTED}=2")
    seen: float | None = None
    while shifted.poll() is None or seen is None:
        if flagged(store, began) == [SHIFTED]:
            seen = time.monotonic() - shift_started
            break
        if time.monotonic() - shift_started > 120:
            break
        time.sleep(0.5)
    finish(shifted)
    wait_for(lambda: stored(store) >= 2 * COUNT, timeout=60)
    assert flagged(store, began) == [SHIFTED]
    assert seen is not None
    print(f"\ndrift flagged {seen:.1f} s after the shift started (the page's cache adds <= 10 s)")
    # The sidecar's alert gauges say the same: petal_length is iris/1's worst feature.
    wait_for(lambda: worst_feature(metrics_port) == SHIFTED, timeout=30, interval=0.5)

    engine = make_engine(store, readonly=True)
    try:
        before = outliers(engine, window(began), Filters("iris", "1"))
        step = finish(load(url, "--seed", "3", "--outlier-fraction", "0.3"))
        wait_for(lambda: stored(store) >= 3 * COUNT, timeout=60)
        after = outliers(engine, window(began), Filters("iris", "1"))
    finally:
        engine.dispose()
    assert after.requests == before.requests + COUNT
    new_rate = (after.outlier_requests - before.outlier_requests) / COUNT
    calm_rate = calm.outlier_requests / calm.requests  # about the detector's contamination
    sent = int(str(step["outliers_sent"])) / COUNT
    assert 0.2 < sent < 0.4
    assert new_rate >= sent  # every row sent as an outlier is flagged, and some others
    assert new_rate > calm_rate + 0.15  # the step
    # and the page's own figure of the window moves with it
    assert after.outlier_rate is not None
    assert calm.outlier_rate is not None
    assert after.outlier_rate > calm.outlier_rate + 0.1
