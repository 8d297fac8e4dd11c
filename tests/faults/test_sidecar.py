"""Scenarios 1 and 3: the sidecar stopped (SIGTERM) or killed (SIGKILL) under load.

With acks (``api.acksender``), what the sidecar had read but not made safe when it died is
sent again or spooled by the api: nothing answered is lost, nothing is stored twice. What
cannot be saved, the records an api worker still held when it was SIGKILLed too, is
counted exactly (its run mark, ``api.runmark``, gives the run's last seq).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.harness import System, under_load
from tests.faults.test_api import check_counted, kill_a_worker


def restart(system: System, sig: signal.Signals, down: float) -> None:
    system.sidecar.stop(sig)
    time.sleep(down)
    system.sidecar.start()


def check(system: System, scenario: str, store: str, answers: object) -> None:
    from tests.faults.harness import Answers

    assert isinstance(answers, Answers)
    figures = system.ledger().figures(scenario, store, answers)
    assert figures.answered == figures.sent > 0
    assert set(answers.statuses) == {200}
    assert figures.lost == 0, figures
    assert figures.duplicated == 0
    assert figures.counted == 0


def test_sidecar_sigterm_then_sigkill_under_load(sqlite_store: str, tmp_path: Path) -> None:
    """The short run of scenarios 1 and 3 in one: a SIGTERM and a restart, then a SIGKILL."""
    system = System(sqlite_store, tmp_path).start()
    try:
        faults = [
            (2.5, lambda: restart(system, signal.SIGTERM, 0.5)),
            (6, lambda: restart(system, signal.SIGKILL, 0.5)),
        ]
        answers = under_load(system.api.url, 150, 10, faults)
        assert system.sidecar.starts == 3
        check(system, "3. sidecar SIGTERM, restarted; then SIGKILL, restarted", "sqlite", answers)
    finally:
        system.stop()


@pytest.mark.faults_long
@pytest.mark.timeout(600)
def test_sidecar_down_30s_under_load(sqlite_store: str, tmp_path: Path) -> None:
    system = System(sqlite_store, tmp_path).start()
    try:
        answers = under_load(
            system.api.url, 200, 60, [(10, lambda: restart(system, signal.SIGTERM, 30.0))]
        )
        check(system, "1. sidecar down 30 s (api spools)", "sqlite", answers)
    finally:
        system.stop()


@pytest.mark.faults_long
@pytest.mark.timeout(600)
@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_sidecar_sigkill_five_times_under_load(
    store: str, sqlite_store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = sqlite_store if store == "sqlite" else request.getfixturevalue("pg_store")
    system = System(url, tmp_path).start()
    try:
        kill = lambda: restart(system, signal.SIGKILL, 1.0)  # noqa: E731
        answers = under_load(system.api.url, 300, 60, [(at, kill) for at in (8, 18, 28, 38, 48)])
        check(system, "3. sidecar SIGKILL 5 times in 60 s", store, answers)
    finally:
        system.stop()


@pytest.mark.faults_long
@pytest.mark.timeout(600)
def test_sidecar_and_then_an_api_worker_sigkilled_under_load(
    sqlite_store: str, tmp_path: Path
) -> None:
    """The sidecar SIGKILLed; while it is down (the api spooling) an api worker SIGKILLed too.
    What the worker had spooled is kept (its .part file, ingested once stale); what it still
    held in memory is lost, and counted exactly."""
    system = System(sqlite_store, tmp_path, sidecar_env={"PREDLOG_SIDECAR_STALE_PART_SECONDS": "5"})
    system.start()
    try:

        def both() -> None:
            system.sidecar.stop(signal.SIGKILL)
            time.sleep(2)
            kill_a_worker(system)
            time.sleep(3)
            system.sidecar.start()

        answers = under_load(system.api.url, 200, 30, [(8, both)])
        figures = system.ledger().figures(
            "3. sidecar SIGKILLed, then an api worker SIGKILLed while it was down",
            "sqlite",
            answers,
        )
        assert set(answers.statuses) == {200}
        assert figures.duplicated == 0
        assert figures.stored + figures.lost == figures.answered
        check_counted(figures)
    finally:
        system.stop()
