"""Scenario 4: an api worker SIGKILLed under load; a rolling restart of the api (a stand-in
for a pod roll: a new api process up, then the old one SIGTERMed while traffic still comes).

A graceful stop loses nothing: the emitter drains its queue, waits for the acks and spools
what is still unacknowledged. A SIGKILLed worker loses what was still in its memory: the
records queued for the emitter thread (at most POLL_SECONDS' worth); those are the highest
seqs of that process run, so the gap accounting, which sees holes below the highest seq
stored, cannot count them (the figures say how many there were).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Answers, Api, Load, System, under_load


def kill_a_worker(system: System) -> None:
    os.kill(system.api.worker_pids()[0], signal.SIGKILL)


def check_worker_kill(system: System, scenario: str, answers: Answers) -> None:
    figures = system.ledger().figures(scenario, "sqlite", answers)
    assert figures.duplicated == 0
    assert set(answers.statuses) == {200}  # the killed worker's requests got no answer at all
    assert figures.stored + figures.lost == figures.answered
    assert figures.lost <= figures.answered // 100 + 10, figures  # at most its queue


def rolling_restart(
    system: System,
    tmp_path: Path,
    rate: float,
    seconds: float,
    roll_at: float,
    faults: list[tuple[float, Any]] | None = None,
) -> tuple[Answers, Answers]:
    """Load on the old api; a new api up; load on the new one; the old one SIGTERMed."""
    old = system.api
    new = Api(system.sidecar.port, system.spool, tmp_path, workers=old.workers, name="api-new")
    second: list[Load] = []

    def roll() -> None:
        new.start()
        second.append(Load(new.url, rate, seconds - roll_at, seed=14).start())
        old.stop(signal.SIGTERM)

    try:
        first = under_load(old.url, rate, seconds, [*(faults or []), (roll_at, roll)])
        return first, second[0].join()
    finally:
        system.api = new  # stopped with the system


def test_a_worker_sigkilled_then_a_rolling_restart_under_load(
    sqlite_store: str, tmp_path: Path
) -> None:
    """The short run of scenario 4: one worker SIGKILLed, then the api rolled."""
    system = System(sqlite_store, tmp_path).start()
    try:
        kill = lambda: kill_a_worker(system)  # noqa: E731
        first, second = rolling_restart(system, tmp_path, 150, 10, 4, [(1.5, kill)])
        answers = merge(first, second)
        figures = system.ledger().figures(
            "4. one worker SIGKILLed, then a rolling restart", "sqlite", answers
        )
        assert set(answers.statuses) == {200}
        assert figures.duplicated == 0
        assert figures.stored + figures.lost == figures.answered
        assert figures.lost <= figures.answered // 100 + 10, figures  # the killed worker's queue
    finally:
        system.stop()


@pytest.mark.faults_long
@pytest.mark.timeout(900)
def test_a_rolling_restart_of_the_api_under_load(sqlite_store: str, tmp_path: Path) -> None:
    system = System(sqlite_store, tmp_path).start()
    try:
        answers = merge(*rolling_restart(system, tmp_path, 200, 40, 15))
        figures = system.ledger().figures("4. rolling restart of the api", "sqlite", answers)
        assert set(answers.statuses) == {200}
        assert figures.lost == 0, figures
        assert figures.duplicated == 0
        assert figures.counted == 0
    finally:
        system.stop()


def merge(first: Answers, second: Answers) -> Answers:
    """The answers of two loads as one."""
    return Answers(
        job_ids=first.job_ids + second.job_ids,
        statuses={s: first.statuses.get(s, 0) + second.statuses.get(s, 0)
                  for s in {*first.statuses, *second.statuses}},
        summary={"sent": first.summary["sent"] + second.summary["sent"]},
    )  # fmt: skip


@pytest.mark.faults_long
@pytest.mark.timeout(900)
def test_api_workers_sigkilled_three_times_under_load(sqlite_store: str, tmp_path: Path) -> None:
    system = System(sqlite_store, tmp_path, api_workers=3).start()
    try:
        kill = lambda: kill_a_worker(system)  # noqa: E731
        answers = under_load(system.api.url, 300, 60, [(10, kill), (25, kill), (40, kill)])
        check_worker_kill(system, "4. api workers SIGKILLed 3 times", answers)
    finally:
        system.stop()
