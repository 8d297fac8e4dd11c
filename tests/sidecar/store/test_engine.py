"""make_engine: SQLite in WAL mode, and read-only engines that refuse every write."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.queries import get_job
from sidecar.store.schema import dead_letters
from sidecar.store.writer import StoreWriter
from tests.records import make_record


def test_readonly_engine_reads_but_refuses_writes(store_url: str) -> None:
    writer = make_engine(store_url)
    upgrade(writer)
    StoreWriter(writer).write([make_record(1)])
    reader = make_engine(store_url, readonly=True)
    try:
        assert get_job(reader, make_record(1).job_id) is not None
        with pytest.raises(DBAPIError), reader.begin() as conn:
            conn.execute(insert(dead_letters).values(tag="t", reason="r", payload=b"x"))
        with pytest.raises(DBAPIError):
            StoreWriter(reader).write([make_record(2)])
        with pytest.raises(DBAPIError):  # PostgreSQL's COPY path too
            StoreWriter(reader, copy_min_rows=1).write([make_record(2)])
        with pytest.raises(DBAPIError), reader.begin() as conn:
            conn.execute(text("CREATE TABLE sneaky (x INTEGER)"))
        assert get_job(writer, make_record(2).job_id) is None
    finally:
        reader.dispose()
        writer.dispose()


def test_readonly_sqlite_never_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "store.db"
    reader = make_engine(f"sqlite:///{path}", readonly=True)
    with pytest.raises(DBAPIError), reader.connect() as conn:
        conn.execute(select(1))
    reader.dispose()
    assert not path.exists()
    assert not path.parent.exists()


def test_writable_sqlite_creates_its_directory_and_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "var" / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()
    assert path.exists()


def test_readonly_sqlite_reads_while_a_writer_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer = make_engine(url)
    upgrade(writer)
    reader = make_engine(url, readonly=True)
    with reader.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 1
        # WAL: the reader's open snapshot does not block the writer.
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("SELECT count(*) FROM predictions").scalar()
        StoreWriter(writer).write([make_record(1)])
        conn.exec_driver_sql("COMMIT")
    assert get_job(reader, make_record(1).job_id) is not None
    reader.dispose()
    writer.dispose()


@pytest.mark.postgres
def test_readonly_postgresql_keeps_the_callers_options(postgres_url: str) -> None:
    connect_args = {"options": "-c statement_timeout=1234"}
    reader = make_engine(postgres_url, readonly=True, connect_args=connect_args)
    with reader.connect() as conn:
        assert conn.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1234ms"
    reader.dispose()
    assert connect_args == {"options": "-c statement_timeout=1234"}  # not mutated
