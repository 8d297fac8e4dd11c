"""Retention on both stores: prune removes exactly what is older, rollups by their own
cutoff, whole partitions on PostgreSQL, ingest going on meanwhile; ``predlog db``."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fluent.sender import FluentSender
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func, select

from predlog.cli import main
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.partitions import day_start, partition_name, partitions
from sidecar.store.retention import prune, table_stats, whole_days
from sidecar.store.retention_job import Upkeep
from sidecar.store.schema import dead_letters, predictions, rollups, streams
from sidecar.store.writer import DeadLetterIn, StoreWriter
from tests.records import make_record
from tests.sidecar.helpers import count_rows, running, settings
from tests.support import wait_for

NOW = datetime.now(UTC).replace(microsecond=0)
AGES_DAYS = (45.0, 40.5, 31.0, 30.01, 29.99, 10.0, 1.0, 0.0)
"""Ages of the stored requests: 30 days is the cutoff the tests prune to."""


def _at(days_ago: float, n: int) -> float:
    return (NOW - timedelta(days=days_ago)).timestamp() + n * 0.001


def fill(engine: Engine, per_age: int = 5) -> list[tuple[float, str]]:
    """``per_age`` requests at each age, and a dead letter at each; (event time, job_id)."""
    writer = StoreWriter(engine)
    stored = []
    for i, age in enumerate(AGES_DAYS):
        batch = [
            make_record(i * 1000 + n, event_time=_at(age, n), seq=i * 1000 + n)
            for n in range(1, per_age + 1)
        ]
        letter = DeadLetterIn("bad", b"x", "test", NOW - timedelta(days=age))
        writer.write(batch, [letter])
        stored += [(r.event_time, r.job_id) for r in batch]
    return stored


def _times(engine: Engine, column: object, table: object) -> list[datetime]:
    with engine.connect() as conn:
        return list(conn.execute(select(column).select_from(table)).scalars())  # type: ignore[call-overload]


def test_prune_removes_exactly_what_is_older_and_keeps_rollups(engine: Engine) -> None:
    stored = fill(engine)
    cutoff = NOW - timedelta(days=30)
    rollups_before = _times(engine, rollups.c.minute, rollups)
    done = prune(engine, log_before=cutoff, batch_rows=3)
    kept = {job for t, job in stored if t >= cutoff.timestamp()}
    with engine.connect() as conn:
        left = set(conn.execute(select(predictions.c.job_id)).scalars())
    assert left == kept
    letters = _times(engine, dead_letters.c.received_at, dead_letters)
    assert len(letters) == 4
    assert all(t >= cutoff for t in letters)
    assert sorted(_times(engine, rollups.c.minute, rollups)) == sorted(rollups_before)
    pruned = next(p for p in done if p.table == "predictions")
    # On PostgreSQL the days wholly before the cutoff went as partitions, the rest row by row.
    whole = {
        datetime.fromtimestamp(t, UTC).date()
        for t, _ in stored
        if day_start(datetime.fromtimestamp(t, UTC).date() + timedelta(days=1)) <= cutoff
    }
    in_whole = sum(1 for t, _ in stored if datetime.fromtimestamp(t, UTC).date() in whole)
    if engine.dialect.name == "postgresql":
        assert set(pruned.partitions) == {partition_name(d) for d in whole}
        assert pruned.rows == len(stored) - len(kept) - in_whole
    else:
        assert pruned.partitions == ()
        assert pruned.rows == len(stored) - len(kept)
    # The rollups go by their own, longer retention.
    rollup_cutoff = NOW - timedelta(days=35)
    prune(engine, log_before=None, rollups_before=rollup_cutoff, batch_rows=2)
    minutes = _times(engine, rollups.c.minute, rollups)
    assert minutes == [m for m in minutes if m >= rollup_cutoff]
    assert sorted(minutes) == sorted(m for m in rollups_before if m >= rollup_cutoff)
    with engine.connect() as conn:  # predictions untouched by the rollups' pruning
        assert set(conn.execute(select(predictions.c.job_id)).scalars()) == kept


@pytest.mark.postgres
def test_postgresql_drops_whole_partitions(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    fill(engine, per_age=2)
    with engine.connect() as conn:
        before = partitions(conn)
    old_day = (NOW - timedelta(days=45)).date()
    assert old_day in before  # made by the writer for its late rows
    cutoff = whole_days(NOW - timedelta(days=30))
    done = prune(engine, log_before=cutoff)
    with engine.connect() as conn:
        after = partitions(conn)
        sql = "SELECT tablename FROM pg_tables WHERE tablename LIKE 'predictions_p%%'"
        tables = set(conn.exec_driver_sql(sql).scalars())
    assert {d for d in before if day_start(d) < cutoff}.isdisjoint(after)
    assert set(after) == {d for d in before if day_start(d) >= cutoff}
    assert tables == {partition_name(d) for d in after}  # detached and dropped, not left over
    pruned = next(p for p in done if p.table == "predictions")
    assert pruned.rows == 0  # a whole-day cutoff: nothing deleted row by row
    assert len(pruned.partitions) == len(before) - len(after)
    engine.dispose()


def test_ingest_goes_on_while_pruning(engine: Engine) -> None:
    """A writer keeps committing while a prune of many small batches runs."""
    cutoff = NOW - timedelta(days=30)
    writer = StoreWriter(engine)
    old = []
    for start in range(0, 6000, 1000):
        # Seconds before the cutoff, in its own day: deleted row by row on both stores;
        # and a day of 60 days ago, a whole partition on PostgreSQL.
        batch = [
            make_record(n, event_time=cutoff.timestamp() - n * 0.001, seq=n)
            for n in range(start + 1, start + 1001)
        ]
        batch += [
            make_record(10_000 + n, event_time=_at(60, n), seq=10_000 + n) for n in range(1, 11)
        ]
        writer.write(batch)
        old += batch
    finished = threading.Event()
    commits: list[float] = []
    written: list[str] = []

    def ingest() -> None:
        own = StoreWriter(engine)
        n = 100_000
        while not finished.is_set():
            batch = [
                make_record(n + i, event_time=NOW.timestamp() + i, seq=n + i) for i in range(20)
            ]
            own.write(batch)
            commits.append(time.monotonic())
            written.extend(r.job_id for r in batch)
            n += 20

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        started = time.monotonic()
        done = prune(engine, log_before=cutoff, batch_rows=100)
        ended = time.monotonic()
    finally:
        finished.set()
        thread.join()
    assert any(started < t < ended for t in commits), "no write committed while pruning"
    with engine.connect() as conn:
        left = set(conn.execute(select(predictions.c.job_id)).scalars())
    assert left == set(written)
    pruned = next(p for p in done if p.table == "predictions")
    assert pruned.rows >= 6000  # at least the seconds before the cutoff, 100 at a time


def test_stats_count_rows_and_find_the_oldest(engine: Engine) -> None:
    fill(engine, per_age=3)
    found = {t.table: t for t in table_stats(engine)}
    assert found["predictions"].rows == 3 * len(AGES_DAYS)
    assert found["dead_letters"].rows == len(AGES_DAYS)
    oldest = found["predictions"].oldest
    assert oldest is not None
    assert abs((oldest - (NOW - timedelta(days=45))).total_seconds()) < 1
    assert found["predictions"].bytes is None or found["predictions"].bytes > 0
    with engine.connect() as conn:
        assert (
            found["rollups"].rows
            == conn.execute(select(func.count()).select_from(rollups)).scalar()
        )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert found["predictions"].partitions == len(partitions(conn))
    else:
        assert found["predictions"].partitions is None


def test_db_prune_and_stats_commands(engine: Engine, store_url: str) -> None:
    stored = fill(engine, per_age=2)
    runner = CliRunner()
    # The command prunes by the clock when it runs, not by NOW (taken when this module was
    # imported, maybe many minutes ago in a long session): count what the command keeps.
    cutoff = (datetime.now(UTC) - timedelta(days=30)).timestamp()
    result = runner.invoke(
        main, ["db", "prune", "--store", store_url, "--older-than", "30d"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "predictions:" in result.output
    with engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(predictions)).scalar()
    assert left == sum(1 for t, _ in stored if t >= cutoff)
    result = runner.invoke(main, ["db", "stats", "--store", store_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "predictions" in result.output
    assert "oldest" in result.output
    result = runner.invoke(main, ["db", "prune", "--store", store_url, "--older-than", "soon"])
    assert result.exit_code == 2
    assert "not a duration" in result.output


def test_the_sidecars_upkeep_prunes_whole_days_and_makes_partitions_ahead(
    engine: Engine,
) -> None:
    stored = fill(engine, per_age=2)
    upkeep = Upkeep(
        engine,
        CollectorRegistry(),
        retention=30 * 86400.0,
        rollup_retention=None,
        partitions_ahead=5,
        batch_rows=1,
        clock=lambda: NOW,
    )
    upkeep.run_once()
    cutoff = whole_days(NOW - timedelta(days=30))  # a day is kept at least its retention
    with engine.connect() as conn:
        left = set(conn.execute(select(predictions.c.job_id)).scalars())
        minutes = conn.execute(select(func.count()).select_from(rollups)).scalar()
    assert left == {job for t, job in stored if t >= cutoff.timestamp()}
    assert {job for t, job in stored if t >= (NOW - timedelta(days=30)).timestamp()} < left
    assert minutes == len(_times(engine, rollups.c.minute, rollups))  # rollups untouched
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            days = set(partitions(conn))
        assert {(NOW + timedelta(days=d)).date() for d in range(6)} <= days
        assert all(day_start(d) >= cutoff for d in days)


def test_a_sidecar_with_a_retention_prunes_on_its_own(store_url: str, tmp_path: Path) -> None:
    engine = make_engine(store_url)
    upgrade(engine)
    stored = fill(engine, per_age=2)
    engine.dispose()
    cutoff = whole_days(datetime.now(UTC) - timedelta(days=30)).timestamp()
    kept = sum(1 for t, _ in stored if t >= cutoff)
    assert kept < len(stored)
    config = settings(store_url, tmp_path, writer_process=False, retention="30d")
    with running(config):
        wait_for(lambda: count_rows(store_url) == kept)


def test_a_table_without_a_time_index_is_pruned_slice_by_slice(engine: Engine) -> None:
    """streams has no index on last_seen: pruned by rowid / page ranges, exactly."""
    old = [make_record(n, pid=n, event_time=_at(40, n)) for n in range(1, 41)]
    new = [make_record(n, pid=n, event_time=_at(1, n)) for n in range(41, 81)]
    StoreWriter(engine).write([r for pair in zip(old, new, strict=True) for r in pair])
    prune(engine, log_before=None, rollups_before=NOW - timedelta(days=30), batch_rows=3)
    with engine.connect() as conn:
        pids = set(conn.execute(select(streams.c.pid)).scalars())
    assert pids == {r.pid for r in new}


def test_the_sidecars_writer_process_stores_while_a_prune_runs(
    store_url: str, tmp_path: Path
) -> None:
    """A running sidecar (its writer in a process of its own) keeps storing what a real
    fluent-logger client sends while ``predlog db prune`` works through old rows."""
    engine = make_engine(store_url)
    upgrade(engine)
    cutoff = NOW - timedelta(days=30)
    writer = StoreWriter(engine)
    for start in range(0, 8000, 1000):  # seconds before the cutoff: deleted row by row
        writer.write(
            [
                make_record(n, event_time=cutoff.timestamp() - n * 0.001, seq=n)
                for n in range(start + 1, start + 1001)
            ]
        )
    fresh = predictions.c.event_time >= cutoff

    def stored_fresh() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(fresh)).scalar_one())

    sending = threading.Event()
    sent: list[str] = []
    with running(settings(store_url, tmp_path, batch_records=20)) as runner:

        def send() -> None:
            sender = FluentSender("predlog", host="127.0.0.1", port=runner.port)
            n = 100_000
            while sending.is_set():
                record = make_record(n, event_time=NOW.timestamp() + n * 0.001, seq=n)
                sender.emit_with_time("prediction", record.event_time, record.to_wire())
                sent.append(record.job_id)
                n += 1
                time.sleep(0.002)
            sender.close()

        sending.set()
        thread = threading.Thread(target=send)
        thread.start()
        try:
            wait_for(lambda: stored_fresh() > 0)
            before = stored_fresh()
            done = prune(engine, log_before=cutoff, batch_rows=50)
            during = stored_fresh() - before
        finally:
            sending.clear()
            thread.join()
        wait_for(lambda: stored_fresh() == len(sent))
    assert next(p for p in done if p.table == "predictions").rows == 8000
    assert during > 0, "the sidecar stored nothing while the prune ran"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(predictions)).scalar() == len(sent)
    engine.dispose()
