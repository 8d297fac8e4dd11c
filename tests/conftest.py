"""Fixtures shared by every test package: store URLs on SQLite and the real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres_available, temporary_database

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_postgres() -> None:
    """Skip when PostgreSQL is not running, except under CI, where that is a failure."""
    if postgres_available():
        return
    if IN_CI:
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (never skipped under CI)")
    pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server."""
    require_postgres()
    with temporary_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store, once on SQLite and once on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    require_postgres()
    with temporary_database() as url:
        yield url


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The demo bundles, trained by ``make models`` (or trained here once if missing)."""
    path = Path(os.environ.get("PREDLOG_MODELS_DIR", "var/models")).resolve()
    if not any(path.glob("*/*/manifest.json")):
        from training.demo import train_demo_bundles

        train_demo_bundles(path)
    return path
