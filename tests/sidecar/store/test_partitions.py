"""PostgreSQL's daily partitions: migration 0008 up and down with rows, exactly-once by
job_id across partitions, partitions made on demand and ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, Table, func, insert, select

from sidecar.store.engine import make_engine
from sidecar.store.mapping import prediction_row
from sidecar.store.migrate import alembic_config, current_revision, head_revision, upgrade
from sidecar.store.partitions import (
    days_around,
    ensure_partitions,
    is_partitioned,
    partition_name,
    partitions,
)
from sidecar.store.queries import get_job
from sidecar.store.schema import predictions
from sidecar.store.writer import StoreWriter
from tests.records import T0, make_record

pytestmark = pytest.mark.postgres


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(predictions)).scalar_one())


def test_migration_0008_partitions_the_rows_and_back(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine, "0007")
    two_days = [make_record(n, event_time=T0 + n * 3600.0) for n in range(1, 49)]  # 2 days
    plain = Table("predictions", MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        now = datetime.now(UTC)
        rows = [prediction_row(record, now) for record in two_days]
        columns = [c.name for c in plain.c if c.name != "id"]
        conn.execute(insert(plain), [{c: r[c] for c in columns} for r in rows])
    upgrade(engine, "0008")
    with engine.connect() as conn:
        assert is_partitioned(conn)
        days = partitions(conn)
    stored_days = {datetime.fromtimestamp(r.event_time, UTC).date() for r in two_days}
    assert stored_days <= set(days)
    assert set(days_around(datetime.now(UTC), 3)) <= set(days)  # and the days ahead
    with engine.connect() as conn:  # raw SQL: the models may have columns of later revisions
        count = conn.exec_driver_sql("SELECT count(*) FROM predictions").scalar_one()
    assert count == len(two_days)
    upgrade(engine)
    for record in two_days[::7]:
        found = get_job(engine, record.job_id)
        assert found is not None
        assert found.record == record
    # Exactly once by job_id: the same records again (a replay) insert nothing.
    result = StoreWriter(engine).write(two_days)
    assert (result.inserted, result.duplicates) == (0, len(two_days))
    result = StoreWriter(engine, bulk="executemany").write(two_days[:5])
    assert (result.inserted, result.duplicates) == (0, 5)
    assert _count(engine) == len(two_days)
    # New rows get ids after the copied ones (the sequence came along).
    StoreWriter(engine).write([make_record(100, event_time=T0 + 100)])
    with engine.connect() as conn:
        ids = list(conn.execute(select(predictions.c.id).order_by(predictions.c.id)).scalars())
    assert len(set(ids)) == len(ids) == len(two_days) + 1
    _downgrade(engine, "0007")
    assert current_revision(engine) == "0007"
    with engine.connect() as conn:
        assert not is_partitioned(conn)
        leftover = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'predictions_p%%'"
        ).scalar_one()
        unique = conn.exec_driver_sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'uq_predictions_job_id'"
        ).scalar_one()
    assert leftover == 0
    assert unique == "UNIQUE (job_id)"
    assert _count(engine) == len(two_days) + 1
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _count(engine) == len(two_days) + 1
    engine.dispose()


def test_writer_makes_a_missing_day_and_stores_each_job_once(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    late = datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)
    records = [
        make_record(1, event_time=late.timestamp()),
        make_record(2, event_time=late.timestamp() + 2),  # the next day
    ]
    for bulk in ("copy", "executemany"):
        writer = StoreWriter(engine, bulk=bulk)
        result = writer.write(records)
        assert result.inserted == (2 if bulk == "copy" else 0)
    with engine.connect() as conn:
        days = partitions(conn)
        placed: dict[str, str] = dict(
            conn.exec_driver_sql(
                "SELECT job_id, tableoid::regclass::text FROM predictions ORDER BY job_id"
            ).all()
        )
    assert {partition_name(late.date()), partition_name(late.date() + timedelta(days=1))} <= set(
        days.values()
    )
    assert placed == {
        "job-00000001": partition_name(late.date()),
        "job-00000002": partition_name(late.date() + timedelta(days=1)),
    }
    # Making partitions is idempotent, and concurrent writers do not race (an advisory lock).
    assert ensure_partitions(engine, [late.date()]) == []
    engine.dispose()
