"""RunMark: each seq handed out is published in a locked file that outlives the process."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.records import RecordBuilder, RequestLog
from api.runmark import SEQ_OFFSET, RunMark, runs_directory
from sidecar.ingest.runends import RunEnd, ended_runs, parse_mark

KILLED = """
import os, signal, sys
from pathlib import Path
from api.runmark import RunMark
mark = RunMark(Path(sys.argv[1]), "api-0", 4242, "killed-run")
for _ in range(int(sys.argv[2])):
    next(mark)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_every_seq_handed_out_is_published(tmp_path: Path) -> None:
    mark = RunMark(tmp_path, "api-0", 7, "run-a")
    assert mark.published == 0
    assert [next(mark) for _ in range(3)] == [1, 2, 3]
    assert mark.published == 3
    data = mark.path.read_bytes()
    assert parse_mark(data) == ("api-0", 7, "run-a", 3)
    assert int.from_bytes(data[SEQ_OFFSET : SEQ_OFFSET + 8], "little") == 3
    assert mark.path.parent == runs_directory(tmp_path)
    assert [p.name for p in mark.path.parent.iterdir()] == ["run-a.run"]  # no .tmp left


def test_the_file_is_locked_while_its_run_lives(tmp_path: Path) -> None:
    mark = RunMark(tmp_path, "api-0", 7, "run-b")
    next(mark)
    fd = os.open(mark.path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert ended_runs(tmp_path) == []  # a live run is left alone


def test_a_sigkilled_process_leaves_its_last_seq(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(tmp_path), "1234"], check=False, cwd=root, timeout=60
    )
    assert done.returncode == -9
    (end,) = ended_runs(tmp_path)
    assert end == RunEnd(
        "api-0", 4242, "killed-run", 1234, runs_directory(tmp_path) / "killed-run.run"
    )


def test_the_record_builder_numbers_records_through_the_mark(tmp_path: Path) -> None:
    builder = RecordBuilder(host="api-0", pid=7, run_id="run-c")
    mark = RunMark(tmp_path, builder.host, builder.pid, builder.run_id)
    builder.count_with(mark)
    seqs = [
        builder.build(RequestLog(f"j{n}", "POST", "/predict"), 200, 1.0)["seq"] for n in range(4)
    ]
    assert seqs == [1, 2, 3, 4]
    assert mark.published == 4


def test_two_runs_cannot_share_a_mark(tmp_path: Path) -> None:
    RunMark(tmp_path, "api-0", 7, "run-d")
    with pytest.raises(FileExistsError):
        RunMark(tmp_path, "api-0", 7, "run-d")  # the same run_id twice: refused, not shared


def test_a_closed_mark_is_an_ended_run(tmp_path: Path) -> None:
    mark = RunMark(tmp_path, "api-0", 7, "run-e")
    assert [next(mark) for _ in range(3)] == [1, 2, 3]
    mark.close()
    assert next(mark) == 4  # still numbered (a record after the stop), no longer published
    assert mark.published == 3
    (end,) = ended_runs(tmp_path)
    assert (end.run_id, end.last_seq) == ("run-e", 3)
    mark.close()  # twice is harmless


def test_a_seq_reserved_before_the_answer_is_published_before_its_record(tmp_path: Path) -> None:
    """The request path reserves the seq as the answer goes out: a kill between the answer
    and the record leaves the seq published, so the lost record is counted."""
    builder = RecordBuilder(host="api-0", pid=7, run_id="run-f")
    mark = RunMark(tmp_path, builder.host, builder.pid, builder.run_id)
    builder.count_with(mark)
    log = RequestLog("j1", "POST", "/predict")
    builder.reserve(log)
    assert mark.published == 1  # before any record is built
    other = builder.build(RequestLog("j2", "POST", "/predict"), 200, 1.0)
    assert (builder.build(log, 200, 1.0)["seq"], other["seq"]) == (1, 2)
