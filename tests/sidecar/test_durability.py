"""Nothing lost: the store going away and coming back, a full spool, the api's spool files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgpack
import psycopg
import pytest
from fluent.sender import FluentSender
from sqlalchemy.engine import make_url

from sidecar.record import TAG
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.schema import dead_letters
from tests.conftest import require_postgres
from tests.records import wire_record
from tests.sidecar.helpers import (
    ForwardClient,
    count_rows,
    dead_letter_rows,
    metric,
    running,
    settings,
)
from tests.support import PG_ADMIN_URL, temporary_database, wait_for


def migrate(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine)
    engine.dispose()


def send(port: int, seqs: range, host: str = "test-host") -> None:
    sender = FluentSender("predlog", host="127.0.0.1", port=port)
    for seq in seqs:
        assert sender.emit("prediction", wire_record(seq, host=host)), sender.last_error
    sender.close()


def set_connections(database: str, allowed: bool) -> None:
    """Open or shut a PostgreSQL database to every client: a real outage, data kept."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


@pytest.mark.postgres
def test_postgres_down_then_back_loses_nothing(tmp_path: Path) -> None:
    require_postgres()
    with temporary_database() as url:
        database = make_url(url).database
        assert database
        with running(settings(url, tmp_path)) as sc:
            send(sc.port, range(1, 101))
            wait_for(lambda: count_rows(url) == 100)
            set_connections(database, allowed=False)
            try:
                send(sc.port, range(101, 301))  # accepted while the store is down
                wait_for(
                    lambda: (
                        metric(sc, "predlog_sidecar_store_errors_total", kind="OperationalError")
                        >= 2
                    )
                )
                assert metric(sc, "predlog_sidecar_records_received_total", source="forward") == 300
                assert sc.sidecar.spool.pending > 0
            finally:
                set_connections(database, allowed=True)
            wait_for(lambda: count_rows(url) == 300, timeout=20)
            wait_for(lambda: sc.sidecar.spool.pending == 0)
            assert metric(sc, "predlog_sidecar_records_duplicate_total") == 0


def test_sqlite_store_without_schema_is_retried_until_migrated(
    sqlite_url: str, tmp_path: Path
) -> None:
    with running(settings(sqlite_url, tmp_path, migrate=False)) as sc:
        send(sc.port, range(1, 51))
        wait_for(
            lambda: metric(sc, "predlog_sidecar_store_errors_total", kind="OperationalError") >= 1
        )
        assert sc.sidecar.health()[1]["store_up"] is False
        migrate(sqlite_url)
        wait_for(lambda: count_rows(sqlite_url) == 50, timeout=20)


def test_full_spool_pushes_back_then_drains(sqlite_url: str, tmp_path: Path) -> None:
    config = settings(
        sqlite_url, tmp_path, migrate=False, spool_max_bytes=1 << 16, segment_bytes=1 << 12
    )
    with running(config) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port, timeout=30)
        for seq in range(1, 401):  # about 2.5 x the cap; the rest waits in socket buffers
            assert sender.emit("prediction", wire_record(seq)), sender.last_error
        wait_for(lambda: metric(sc, "predlog_sidecar_reading_paused") == 1)
        assert metric(sc, "predlog_sidecar_spool_fill_ratio") >= 1.0
        received = metric(sc, "predlog_sidecar_records_received_total", source="forward")
        assert received < 400
        late = ForwardClient(sc.port, timeout=5)
        assert late.closed_by_server()  # refused, and counted
        assert metric(sc, "predlog_sidecar_bad_connections_total", reason="spool_full") == 1
        migrate(sqlite_url)  # the store comes up: the spool drains, reading resumes
        wait_for(lambda: count_rows(sqlite_url) == 400, timeout=30)
        sender.close()
        wait_for(lambda: metric(sc, "predlog_sidecar_reading_paused") == 0)


def write_entries(path: Path, seqs: range, tail: bytes = b"") -> None:
    data = b"".join(msgpack.packb([TAG, time.time(), wire_record(s, host="api")]) for s in seqs)
    path.write_bytes(data + tail)


def test_api_spool_files_are_ingested_then_deleted(store_url: str, tmp_path: Path) -> None:
    api = tmp_path / "api"
    api.mkdir()
    write_entries(api / "1700000000000-api-1-1.msgpack", range(1, 4))
    truncated = msgpack.packb([TAG, time.time(), wire_record(6, host="api")])[:-7]
    stale = api / "1700000000001-api-1-2.part"
    write_entries(stale, range(4, 6), tail=truncated)
    os.utime(stale, (time.time() - 120, time.time() - 120))
    fresh = api / "1700000000002-api-2-1.part"  # still being written by a live api
    write_entries(fresh, range(1, 3))
    with running(settings(store_url, tmp_path)) as sc:
        wait_for(lambda: count_rows(store_url) == 5)
        wait_for(lambda: count_rows(store_url, dead_letters) == 1)
        [letter] = dead_letter_rows(store_url)
        assert "truncated" in letter.reason
        assert letter.payload == truncated
        assert sorted(p.name for p in api.iterdir()) == [fresh.name]
        assert metric(sc, "predlog_sidecar_api_spool_files_total") == 2


@pytest.mark.postgres
def test_a_record_the_store_refuses_is_dead_lettered_alone(
    postgres_url: str, tmp_path: Path
) -> None:
    with running(settings(postgres_url, tmp_path)) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        # Valid for the record definition, refused by PostgreSQL (no NUL in text).
        assert sender.emit("prediction", wire_record(1) | {"error": "bad\x00byte"})
        assert sender.emit("prediction", wire_record(2))
        sender.close()
        wait_for(lambda: count_rows(postgres_url, dead_letters) == 1)
        wait_for(lambda: count_rows(postgres_url) == 1)
        [letter] = dead_letter_rows(postgres_url)
        assert "NUL" in letter.reason
        assert b"bad" in letter.payload


def test_shutdown_with_the_store_down_keeps_the_spool_for_the_next_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    config = settings(sqlite_url, tmp_path, migrate=False, drain_timeout=0.5)
    with running(config) as sc:
        send(sc.port, range(1, 31))
        wait_for(
            lambda: metric(sc, "predlog_sidecar_records_received_total", source="forward") == 30
        )
    # Stopped within its drain timeout, nothing written: the records wait in the spool.
    assert count_rows(sqlite_url) == 0
    assert any((tmp_path / "sidecar").glob("*.seg"))
    with running(settings(sqlite_url, tmp_path)) as sc:
        wait_for(lambda: count_rows(sqlite_url) == 30)
        wait_for(lambda: sc.sidecar.spool.pending == 0)
    assert count_rows(sqlite_url) == 30


@pytest.mark.postgres
def test_records_the_store_rejects_are_isolated_from_their_batch(
    postgres_url: str, tmp_path: Path
) -> None:
    with running(settings(postgres_url, tmp_path, batch_interval=0.5)) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        # Valid for the record definition, too large for PostgreSQL's integer pid column.
        assert sender.emit("prediction", wire_record(1, pid=2**40))
        for seq in range(2, 6):
            assert sender.emit("prediction", wire_record(seq))
        sender.close()
        wait_for(lambda: count_rows(postgres_url, dead_letters) == 1)
        wait_for(lambda: count_rows(postgres_url) == 4)
        [letter] = dead_letter_rows(postgres_url)
        assert "pid" in letter.reason
        # The writer process reports after its commit: the metric follows.
        wait_for(lambda: metric(sc, "predlog_sidecar_records_rejected_total") == 1)


def test_a_store_constraint_failure_dead_letters_only_the_offending_record(
    sqlite_url: str, tmp_path: Path
) -> None:
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:  # a rule of this store's own that the record cannot know
        conn.exec_driver_sql(
            "CREATE TRIGGER no_poison BEFORE INSERT ON predictions "
            "WHEN NEW.endpoint = '/poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )
    engine.dispose()
    with running(settings(sqlite_url, tmp_path, migrate=False, batch_interval=0.5)) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        assert sender.emit("prediction", wire_record(1) | {"endpoint": "/poison"})
        for seq in range(2, 6):
            assert sender.emit("prediction", wire_record(seq))
        sender.close()
        wait_for(lambda: count_rows(sqlite_url, dead_letters) == 1)
        wait_for(lambda: count_rows(sqlite_url) == 4)
        [letter] = dead_letter_rows(sqlite_url)
        assert "poisoned" in letter.reason
        assert msgpack.unpackb(letter.payload)["endpoint"] == "/poison"
        # The writer process reports after its commit: the metric follows.
        wait_for(lambda: metric(sc, "predlog_sidecar_records_rejected_total") == 1)
