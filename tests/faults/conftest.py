"""Fixtures of the fault suite: a work directory, the store (SQLite, or a PostgreSQL cluster
of the suite's own), and the long scenarios left out unless asked for (``make faults``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.stores import PgCluster, find_pg_bindir


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long scenarios run only when the marker expression names them (``-m faults_long``)."""
    if "faults_long" in (config.getoption("markexpr") or ""):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (drop if item.get_closest_marker("faults_long") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster that the scenarios stop and start (never the machine's server)."""
    try:
        find_pg_bindir()
    except FileNotFoundError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("PostgreSQL's initdb is not installed")
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_store(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh, empty database in the suite's cluster; its SQLAlchemy URL."""
    name = f"faults_{os.urandom(4).hex()}"
    pg_cluster.start_if_stopped()
    pg_cluster.psql(f'CREATE DATABASE "{name}"')
    yield pg_cluster.url_for(name)
    pg_cluster.start_if_stopped()
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'predlog.db'}"
