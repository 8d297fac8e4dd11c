"""Scenario 5: the api's spool disk full while the sidecar is down. The api keeps answering;
what it could not keep is counted: ``failed`` in its metrics, and a gap in its seqs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import System, under_load


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[None]:
    """A tmpfs of ``size`` mounted at ``path`` (root only)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def api_records(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("predlog_api_records_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = counts.get(outcome, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def run_spool_full(sqlite_store: str, tmp_path: Path, size: str, rate: float, down: float) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            raise RuntimeError("mounting a small disk needs root")
        pytest.skip("mounting a small disk needs root")
    system = System(sqlite_store, tmp_path)
    with small_disk(system.spool / "api", size):
        system.start()
        try:

            def outage() -> None:
                system.sidecar.stop(signal.SIGTERM)
                time.sleep(down)
                system.sidecar.start()

            # Load goes on well after the sidecar is back, so that the lost seqs are holes.
            answers = under_load(system.api.url, rate, down + 14, [(2, outage)])
            records = api_records(system.api.url)
            figures = system.ledger().figures(
                f"5. api spool disk full ({size}), sidecar down {down:.0f} s",
                "sqlite",
                answers,
                api_records=records,
            )
            assert figures.answered == figures.sent > 0
            assert set(answers.statuses) == {200}  # the api kept answering
            assert records.get("failed", 0) > 0  # the disk did fill up
            assert figures.duplicated == 0
            assert figures.lost == figures.counted == records["failed"], figures
        finally:
            system.stop()


def test_the_api_spool_disk_full_under_load(sqlite_store: str, tmp_path: Path) -> None:
    run_spool_full(sqlite_store, tmp_path, "128k", 100, 4)


@pytest.mark.faults_long
@pytest.mark.timeout(900)
def test_the_api_spool_disk_full_for_30s_under_load(sqlite_store: str, tmp_path: Path) -> None:
    run_spool_full(sqlite_store, tmp_path, "1m", 200, 30)
