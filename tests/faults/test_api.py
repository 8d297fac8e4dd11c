"""Scenario 4: an api worker SIGKILLed under load; a rolling restart of the api (a stand-in
for a pod roll: behind one Service address, a new api process up and ready, then the old
one SIGTERMed while traffic still comes).

A SIGKILLed worker loses what was still in its memory: the records queued for the emitter
thread (at most POLL_SECONDS' worth), the highest seqs of that run. Its run mark
(``api.runmark``) holds the last seq it handed out (reserved as each answer goes out); the
sidecar stores it when it sees the run has ended, so the gap accounting counts every lost
record of an answered request. The requests the worker was answering when killed get no
answer at all; a record whose seq was reserved just before such an answer is counted too.

The rolling restart loses nothing and fails no request: the old api drains on SIGTERM
(``api.drain``: /health 503, so the Service stops routing to it, and every answer closes its
connection, so clients move to the new api), then flushes its emitter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.faults.harness import Answers, Figures, System, under_load
from tests.faults.processes import Api, wait_until
from tests.faults.service import Service


def kill_a_worker(system: System) -> None:
    """SIGKILL the worker with the most client connections (the kernel may have given all
    of a keep-alive client's connections to one worker; killing an idle one tests nothing)."""
    os.kill(max(system.api.worker_pids(), key=client_connections), signal.SIGKILL)


def client_connections(pid: int) -> int:
    with contextlib.suppress(psutil.Error):
        return sum(
            1 for c in psutil.Process(pid).net_connections("tcp") if c.status == "ESTABLISHED"
        )
    return 0


def check_worker_kill(system: System, scenario: str, answers: Answers, **extra: Any) -> None:
    figures = system.ledger().figures(scenario, "sqlite", answers, **extra)
    assert set(answers.statuses) == {200}  # the killed worker's requests got no answer at all
    assert figures.duplicated == 0
    assert figures.stored + figures.lost == figures.answered
    check_counted(figures)


def check_counted(figures: Figures) -> None:
    """Every answered request's lost record is counted; beyond those, the count can hold
    only the records of requests the killed worker was answering (their seq reserved, the
    answer never out): lost <= counted <= lost + unanswered."""
    unanswered = figures.sent - figures.answered
    assert figures.lost <= figures.counted <= figures.lost + unanswered, figures


def start_with_a_new_api(system: System, tmp_path: Path) -> Api:
    """Start the system and, at the same time, the api that will replace its api (as a
    new pod comes up while the old one serves); both ready on return."""
    new = Api(system.sidecar.port, system.spool, tmp_path, workers=system.api.workers,
              name="api-new", drain=system.api_drain)  # fmt: skip
    system.sidecar.start()
    system.api.start(wait=False)
    new.start(wait=False)
    system.api.wait_ready()
    new.wait_ready()
    return new


def rolling_restart(
    system: System,
    new: Api,
    rate: float,
    seconds: float,
    roll_at: float,
    faults: list[tuple[float, Any]] | None = None,
) -> tuple[Answers, dict[str, Any]]:
    """Load through a Service on the old api; at ``roll_at`` the new api (started, not yet
    in the Service) joins it and, once its probe passes, the old one is SIGTERMed (it
    drains and stops); the load's answers and the roll's facts."""
    old = system.api
    service = Service(old.port).start()
    facts: dict[str, Any] = {}

    def roll() -> None:
        facts["roll_at"] = round(time.monotonic() - began, 3)
        service.add(new.port)
        wait_until(lambda: new.port in service.ready, 30, "the new api ready in the Service")
        facts["sigterm_at"] = round(time.monotonic() - began, 3)
        old.stop(signal.SIGTERM)
        facts["old_stopped_at"] = round(time.monotonic() - began, 3)
        facts["old_exit"] = old.proc.returncode if old.proc is not None else None
        service.remove(old.port)

    began = time.monotonic()
    try:
        answers = under_load(service.url, rate, seconds, [*(faults or []), (roll_at, roll)])
    finally:
        system.api = new  # stopped with the system
        service.stop()
    facts["connections"] = {
        ("old" if port == old.port else "new"): n for port, n in service.connections.items()
    }
    facts["refused"] = service.refused
    return answers, facts


def test_a_worker_sigkilled_then_a_rolling_restart_under_load(
    sqlite_store: str, tmp_path: Path
) -> None:
    """The short run of scenario 4: one worker SIGKILLed, then the api rolled."""
    system = System(sqlite_store, tmp_path, api_drain=3.0)
    new = start_with_a_new_api(system, tmp_path)
    try:
        kill = lambda: kill_a_worker(system)  # noqa: E731
        answers, roll = rolling_restart(system, new, 150, 10, 4, [(1.5, kill)])
        check_worker_kill(
            system, "4. one worker SIGKILLed, then a rolling restart", answers, roll=roll
        )
        # The requests that failed were the killed worker's, none during the roll.
        assert all(at < roll["roll_at"] for at in answers.failed_at), (answers.failed_at, roll)
        assert roll["refused"] == 0
        assert roll["old_exit"] == 0
        assert roll["connections"].get("new", 0) > 0
    finally:
        system.stop()
        new.stop()  # already stopped with the system, unless the roll never came


@pytest.mark.faults_long
@pytest.mark.timeout(900)
def test_a_rolling_restart_of_the_api_under_load(sqlite_store: str, tmp_path: Path) -> None:
    system = System(sqlite_store, tmp_path, api_drain=3.0)
    new = start_with_a_new_api(system, tmp_path)
    try:
        answers, roll = rolling_restart(system, new, 200, 40, 15)
        figures = system.ledger().figures(
            "4. rolling restart of the api", "sqlite", answers, roll=roll
        )
        assert answers.failed_at == []
        assert figures.answered == figures.sent > 0  # no failed request
        assert set(answers.statuses) == {200}
        assert figures.lost == 0, figures
        assert figures.duplicated == 0
        assert figures.counted == 0
        assert roll["refused"] == 0
        assert roll["old_exit"] == 0
        assert roll["connections"]["new"] > 0
    finally:
        system.stop()
        new.stop()  # already stopped with the system, unless the roll never came


@pytest.mark.faults_long
@pytest.mark.timeout(900)
def test_api_workers_sigkilled_three_times_under_load(sqlite_store: str, tmp_path: Path) -> None:
    system = System(sqlite_store, tmp_path, api_workers=3).start()
    try:

        def kill() -> None:
            # The supervisor has replaced the last one killed before the next.
            wait_until(lambda: len(system.api.worker_pids()) == 3, 60, "three workers")
            kill_a_worker(system)

        answers = under_load(system.api.url, 300, 60, [(10, kill), (25, kill), (40, kill)])
        check_worker_kill(system, "4. api workers SIGKILLed 3 times", answers)
    finally:
        system.stop()
