"""The sidecar notes the api runs that ended: their last seq into the store, marks deleted."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sidecar.app import note_run_ends
from sidecar.ingest.runends import HEADER_OFFSET, MAGIC, SIZE, ended_runs, runs_directory
from sidecar.store import queries
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def write_mark(spool: Path, run_id: str, seq: int, host: str = "api-0", pid: int = 7) -> Path:
    """A run mark as a run that has ended leaves it (no process holds its lock)."""
    directory = runs_directory(spool)
    directory.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"host": host, "pid": pid, "run_id": run_id}).encode()
    data = bytearray(SIZE)
    data[: len(MAGIC)] = MAGIC
    struct.pack_into("<Q", data, 8, seq)
    data[HEADER_OFFSET : HEADER_OFFSET + len(header)] = header
    path = directory / f"{run_id}.run"
    path.write_bytes(bytes(data))
    return path


def test_an_ended_run_is_stored_and_its_mark_deleted(engine: Engine, tmp_path: Path) -> None:
    path = write_mark(tmp_path, "r1", 5)
    assert note_run_ends(tmp_path, engine) == 1
    assert not path.exists()
    (gap,) = queries.gaps(engine)
    assert (gap.host, gap.pid, gap.run_id, gap.missing) == ("api-0", 7, "r1", 5)
    assert note_run_ends(tmp_path, engine) == 0


def test_with_the_store_unreachable_the_mark_stays(tmp_path: Path) -> None:
    path = write_mark(tmp_path, "r2", 5)
    down = make_engine(f"sqlite:///{tmp_path / 'missing' / 'store.db'}")
    assert note_run_ends(tmp_path, down) == 0
    assert path.exists()
    assert [end.run_id for end in ended_runs(tmp_path)] == ["r2"]


def test_a_file_that_is_not_a_mark_is_deleted(tmp_path: Path) -> None:
    directory = runs_directory(tmp_path)
    directory.mkdir(parents=True)
    (directory / "junk.run").write_bytes(b"not a run mark")
    (directory / "cut.run").write_bytes(MAGIC + b"\x01" * 8 + b'{"host": ')
    assert ended_runs(tmp_path) == []
    assert list(directory.iterdir()) == []


def test_no_runs_directory_is_no_ended_run(tmp_path: Path) -> None:
    assert ended_runs(tmp_path) == []
