"""Dashboard fixtures: a store filled with the known records through the real StoreWriter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sidecar.record import PredictionRecord
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.writer import StoreWriter
from tests.dashboard import records


@dataclass(frozen=True)
class FilledStore:
    """A store holding ``records`` (plus one dead letter), written at epoch ``now``."""

    url: str
    now: float
    records: list[PredictionRecord]
    models_dir: Path


def fill(url: str, now: float) -> list[PredictionRecord]:
    """Create the schema and write the known records and one dead letter."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        known = records.build(now)
        result = StoreWriter(engine).write(known, [records.dead_letter(now)])
        assert result.inserted == len(known)
    finally:
        engine.dispose()
    return known


@pytest.fixture
def filled_store(store_url: str, tmp_path: Path) -> FilledStore:
    """The known records in a fresh store, on SQLite and on PostgreSQL."""
    now = time.time()
    models_dir = tmp_path / "models"
    records.write_manifest(models_dir)
    return FilledStore(store_url, now, fill(store_url, now), models_dir)


@pytest.fixture
def read_engine(filled_store: FilledStore) -> Iterator[Engine]:
    """A read-only engine on the filled store."""
    engine = make_engine(filled_store.url, readonly=True)
    yield engine
    engine.dispose()
