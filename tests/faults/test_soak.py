"""Scenario 7 (``make faults`` only): a 10-minute soak at a steady rate on PostgreSQL, the
store restarted twice: every process's RSS flat, lag bounded, nothing lost."""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from sidecar.store.schema import predictions
from tests.faults.harness import System, under_load
from tests.faults.processes import Proc
from tests.faults.stores import PgCluster

SECONDS = int(os.environ.get("PREDLOG_FAULTS_SOAK_SECONDS", "600"))
"""How long the soak runs (10 minutes; shorter only to try the test itself)."""
RATE = 100


def rss_by_process(procs: list[Proc]) -> dict[str, int]:
    """RSS of each process of ``procs`` and of their children, by name and pid."""
    out: dict[str, int] = {}
    for proc in procs:
        if not proc.alive():
            continue
        root = psutil.Process(proc.pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                out[f"{proc.name}:{p.pid}:{p.name()}"] = p.memory_info().rss
    return out


class RssSampler(threading.Thread):
    """Samples every process's RSS every ``interval`` seconds until stopped."""

    def __init__(self, procs: list[Proc], interval: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.procs = procs
        self.interval = interval
        self.samples: list[dict[str, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.samples.append(rss_by_process(self.procs))

    def flatness(self) -> dict[str, tuple[int, int]]:
        """Per process: the highest RSS (MiB) in the first third and in the last third."""
        third = max(1, len(self.samples) // 3)
        first, last = self.samples[:third], self.samples[-third:]
        out = {}
        for name in first[0]:
            a = [s[name] for s in first if name in s]
            b = [s[name] for s in last if name in s]
            if a and b:
                out[name] = (max(a) >> 20, max(b) >> 20)
        return out


def lag_seconds(system: System) -> tuple[float, float, float]:
    """Event to commit, from the store: p50, p99 and max, in seconds."""
    query = select(predictions.c.event_time, predictions.c.stored_at)
    with system.ledger().engine.connect() as conn:
        lags = sorted((s - e).total_seconds() for e, s in conn.execute(query))
    q = statistics.quantiles(lags, n=100)
    return q[49], q[98], lags[-1]


@pytest.mark.faults_long
@pytest.mark.timeout(SECONDS + 600)
def test_soak_with_the_store_restarted_twice(
    pg_cluster: PgCluster, pg_store: str, tmp_path: Path
) -> None:
    system = System(pg_store, tmp_path).start()
    sampler = RssSampler([system.api, system.sidecar])
    sampler.start()

    def restart_store() -> None:
        pg_cluster.stop()
        time.sleep(10)
        pg_cluster.start()

    try:
        faults = [(SECONDS / 3, restart_store), (2 * SECONDS / 3, restart_store)]
        answers = under_load(system.api.url, RATE, SECONDS, faults)
        sampler.done.set()
        sampler.join()
        flat = sampler.flatness()
        p50, p99, worst = lag_seconds(system)
        figures = system.ledger().figures(
            f"7. soak {SECONDS // 60} min at {RATE}/s, PostgreSQL restarted twice",
            "postgresql",
            answers,
            rss_mib_first_last_third=flat,
            lag_s={"p50": round(p50, 3), "p99": round(p99, 3), "max": round(worst, 1)},
        )
        assert figures.answered == figures.sent > 0
        assert set(answers.statuses) == {200}
        assert figures.lost == 0, figures
        assert figures.duplicated == 0
        assert figures.counted == 0
        for name, (first, last) in flat.items():
            assert last <= first * 1.25 + 32, f"{name}: RSS {first} -> {last} MiB"
    finally:
        sampler.done.set()
        system.stop()
