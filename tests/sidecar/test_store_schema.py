"""The store's schema: Alembic creates it on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from sidecar.store.engine import make_engine
from sidecar.store.histogram import latency_percentile, score_bucket
from sidecar.store.migrate import current_revision, head_revision, upgrade
from sidecar.store.schema import metadata


def test_upgrade_creates_every_table_and_matches_the_models(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= {
        "predictions",
        "rollups",
        "dead_letters",
        "streams",
    }
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    upgrade(engine)  # idempotent
    engine.dispose()


def test_sqlite_store_runs_in_wal_mode(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_latency_percentile_interpolates_within_a_bucket() -> None:
    counts = [0] * 22
    counts[2] = 10  # ten requests between 1 ms and 2 ms
    assert latency_percentile(counts, 0.5) == 1.5
    assert latency_percentile([0] * 22, 0.5) is None


def test_score_bucket_clamps() -> None:
    assert score_bucket(-1.0) == 0
    assert score_bucket(0.0) == 0
    assert score_bucket(1.0) == 19
    assert score_bucket(0.51) == 10
