"""The store's schema: Alembic creates it on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, inspect, text

from sidecar.store.engine import make_engine
from sidecar.store.histogram import latency_percentile, score_bucket
from sidecar.store.mapping import prediction_row
from sidecar.store.migrate import alembic_config, current_revision, head_revision, upgrade
from sidecar.store.partitions import compare_options
from sidecar.store.queries import gaps, get_job
from sidecar.store.schema import metadata
from sidecar.store.writer import StoreWriter
from tests.records import error_record, make_record


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
        options = compare_options(conn.dialect.name)  # the daily partitions aside
        diff = compare_metadata(MigrationContext.configure(conn, opts=options), metadata)
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


@pytest.mark.postgres
def test_migration_0002_keeps_the_rows_and_postgresql_uses_the_partial_indexes(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine, "0001")
    stored = [make_record(1), make_record(2, request_id="req-2"), error_record(3, status=404)]
    at_0001 = Table("predictions", MetaData(), autoload_with=engine)
    with engine.begin() as conn:  # the rows as that revision's columns hold them
        now = datetime.now(UTC)
        rows = [prediction_row(record, now) for record in stored]
        columns = [c.name for c in at_0001.c if c.name != "id"]
        conn.execute(insert(at_0001), [{c: r[c] for c in columns} for r in rows])
    upgrade(engine)
    for record in stored:
        found = get_job(engine, record.job_id)
        assert found is not None
        assert found.record == record
    with engine.connect() as conn:
        types = conn.exec_driver_sql(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'predictions' AND column_name IN ('inputs', 'results')"
        ).scalars()
        assert list(types) == ["json", "json"]
    # What the queries ask (sidecar.store.queries, dashboard.queries) is proven to imply
    # each partial index's condition: the index is usable (sequential scans off, so that
    # three rows do not make a scan cheaper).
    plans = {
        "ix_predictions_status_event_time": "status BETWEEN 400 AND 499",
        "ix_predictions_is_outlier_event_time": "is_outlier",
        "ix_predictions_request_id": "request_id = 'req-2'",
    }
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for index, condition in plans.items():
            sql = f"EXPLAIN SELECT job_id FROM predictions WHERE {condition} ORDER BY event_time"
            plan = "\n".join(conn.exec_driver_sql(sql).scalars())
            # Each daily partition's copy of the index is named after its columns.
            assert index.removeprefix("ix_predictions_") in plan, plan
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert current_revision(engine) == "0001"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_migration_0003_keeps_streams_and_counts_runs_apart(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0002")
    seen = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:  # a process's stream as 0002 kept it: 5 seen, 4 received
        conn.execute(
            text(
                "INSERT INTO streams (host, pid, first_seen, last_seen, max_seq, received) "
                "VALUES ('api-0', 7, :seen, :seen, 5, 4)"
            ),
            {"seen": seen},
        )
    upgrade(engine)
    StoreWriter(engine).write([make_record(n, run_id="new-run") for n in (1, 2, 4)])
    found = {g.run_id: (g.max_seq, g.received, g.missing) for g in gaps(engine)}
    assert found == {"": (5, 4, 1), "new-run": (4, 3, 1)}
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT max_seq, received FROM streams")).all() == [(5, 4)]
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
