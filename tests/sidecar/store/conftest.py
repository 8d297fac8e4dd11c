"""A migrated store, on SQLite and on the real PostgreSQL, for every store test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A writable engine on a freshly migrated store."""
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()
