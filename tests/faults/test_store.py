"""Scenario 2: the store down under load: PostgreSQL stopped and started; SQLite locked by
another writer. The sidecar keeps accepting into its spool and drains it when the store is
back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.faults.harness import Answers, System, under_load
from tests.faults.stores import PgCluster, sqlite_locked


def check(system: System, scenario: str, store: str, answers: Answers) -> None:
    figures = system.ledger().figures(scenario, store, answers)
    assert figures.answered == figures.sent > 0
    assert set(answers.statuses) == {200}
    assert figures.lost == 0, figures
    assert figures.duplicated == 0
    assert figures.counted == 0


def pg_outage(cluster: PgCluster, down: float) -> None:
    cluster.stop()
    time.sleep(down)
    cluster.start()


def lock_for(path: Path, seconds: float) -> None:
    with sqlite_locked(path):
        time.sleep(seconds)


def test_postgresql_stopped_and_started_under_load(
    pg_cluster: PgCluster, pg_store: str, tmp_path: Path
) -> None:
    system = System(pg_store, tmp_path).start()
    try:
        answers = under_load(system.api.url, 150, 10, [(2, lambda: pg_outage(pg_cluster, 5))])
        check(system, "2. PostgreSQL stopped 5 s", "postgresql", answers)
    finally:
        system.stop()


def test_sqlite_locked_by_another_writer_under_load(sqlite_store: str, tmp_path: Path) -> None:
    system = System(sqlite_store, tmp_path).start()
    path = Path(sqlite_store.removeprefix("sqlite:///"))
    try:
        answers = under_load(system.api.url, 150, 10, [(2, lambda: lock_for(path, 5))])
        check(system, "2. SQLite locked by another writer 5 s", "sqlite", answers)
    finally:
        system.stop()


@pytest.mark.faults_long
@pytest.mark.timeout(900)
def test_postgresql_down_60s_under_load(
    pg_cluster: PgCluster, pg_store: str, tmp_path: Path
) -> None:
    system = System(pg_store, tmp_path).start()
    try:
        answers = under_load(system.api.url, 200, 90, [(10, lambda: pg_outage(pg_cluster, 60))])
        check(system, "2. PostgreSQL down 60 s", "postgresql", answers)
    finally:
        system.stop()


@pytest.mark.faults_long
@pytest.mark.timeout(900)
def test_sqlite_locked_60s_under_load(sqlite_store: str, tmp_path: Path) -> None:
    system = System(sqlite_store, tmp_path).start()
    path = Path(sqlite_store.removeprefix("sqlite:///"))
    try:
        locker = threading.Thread(target=lock_for, args=(path, 60))
        answers = under_load(system.api.url, 200, 90, [(10, locker.start)])
        locker.join()
        check(system, "2. SQLite locked by another writer 60 s", "sqlite", answers)
    finally:
        system.stop()
