"""``predlog query`` and ``predlog db``: through click's runner and as a real process."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from predlog.cli import main
from sidecar.record import PredictionRecord, validate_record
from sidecar.store.engine import make_engine
from sidecar.store.migrate import current_revision, head_revision
from sidecar.store.writer import StoreWriter
from tests.records import error_record, make_record


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def records(engine: Engine) -> list[PredictionRecord]:
    stored = [make_record(n) for n in range(1, 21) if n not in {3, 4}]
    stored += [error_record(21), error_record(22, status=500)]
    StoreWriter(engine).write(stored)
    return stored


def test_db_upgrade_then_current(store_url: str) -> None:
    result = run("db", "upgrade", "--store", store_url)
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output
    engine = make_engine(store_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()
    current = run("db", "current", env={"PREDLOG_STORE_URL": store_url})
    assert current.exit_code == 0
    assert f"current: {head_revision()}" in current.output


def test_db_current_on_an_empty_store_exits_1(store_url: str) -> None:
    engine = make_engine(store_url)  # creates the SQLite file, with no tables
    with engine.connect():
        pass
    engine.dispose()
    result = run("db", "current", "--store", store_url)
    assert result.exit_code == 1
    assert "(empty store)" in result.output


def test_query_job_id_table_and_json(
    engine: Engine, store_url: str, records: list[PredictionRecord]
) -> None:
    record = records[4]
    table = run("query", "--store", store_url, "--job-id", record.job_id)
    assert table.exit_code == 0, table.output
    assert record.job_id in table.output
    assert "outlier_score" in table.output  # the per-row table
    assert len([line for line in table.output.splitlines() if "[" in line]) == len(
        record.results or ()
    )
    as_json = run("query", "--store", store_url, "--job-id", record.job_id, "--format", "json")
    data = json.loads(as_json.output)
    assert data.pop("stored_at").endswith("Z")
    assert data.pop("event_time_utc").endswith("Z")
    assert data.pop("feedback") == []  # the truth beside the prediction: none came yet
    assert validate_record(data) == record


def test_query_unknown_job_fails(engine: Engine, store_url: str) -> None:
    result = run("query", "--store", store_url, "--job-id", "nope")
    assert result.exit_code == 1
    assert "no prediction with job id 'nope'" in result.output


def test_query_filters_as_table_json_and_csv(
    engine: Engine, store_url: str, records: list[PredictionRecord]
) -> None:
    env = {"PREDLOG_STORE_URL": store_url}
    table = run("query", "--model", "iris", "--version", "2", "--limit", "3", env=env)
    lines = table.output.splitlines()
    assert lines[0].split()[:4] == ["event_time", "job_id", "model", "version"]
    assert set(lines[1]) <= {"-", " "}
    assert [line.split()[1] for line in lines[2:]] == [
        "job-00000020",
        "job-00000018",
        "job-00000016",
    ]
    # Columns are aligned: every row has its job id where the header has "job_id".
    column = lines[0].index("job_id")
    assert all(line[column : column + 4] == "job-" for line in lines[2:])

    as_json = json.loads(run("query", "--status", "5xx", "--format", "json", env=env).output)
    assert [item["job_id"] for item in as_json] == ["job-00000022"]

    as_csv = run("query", "--status", "4xx", "--format", "csv", env=env).output
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert [(r["job_id"], r["status"], r["model"]) for r in rows] == [("job-00000021", "422", "")]

    outliers = json.loads(run("query", "--outliers", "--format", "json", env=env).output)
    assert {o["job_id"] for o in outliers} == {r.job_id for r in records if r.is_outlier}
    since = run("query", "--since", "2025-11-23T12:13:25.1", "--format", "json", env=env)
    assert [o["job_id"] for o in json.loads(since.output)] == ["job-00000022", "job-00000021"]
    assert run("query", "--since", "10m", env=env).output.strip() == "no matching predictions"


def test_query_gaps(engine: Engine, store_url: str, records: list[PredictionRecord]) -> None:
    table = run("query", "--store", store_url, "--gaps")
    assert table.exit_code == 0
    (row,) = [line for line in table.output.splitlines() if line.startswith("api-0")]
    assert row.split()[:6] == ["api-0", "7", "-", "22", "20", "2"]  # no run_id: "-"
    assert row.endswith("3-4")
    data = json.loads(run("query", "--store", store_url, "--gaps", "--format", "json").output)
    assert data[0]["missing_ranges"] == [[3, 4]]
    assert data[0]["run_id"] == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "4x"], "status must be a class"),
        (["--since", "yesterday"], "expected a duration"),
        (["--gaps", "--job-id", "x"], "exclude each other"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_query_refuses_bad_flags(args: list[str], message: str, sqlite_url: str) -> None:
    result = CliRunner().invoke(main, ["query", "--store", sqlite_url, *args])
    assert result.exit_code == 2
    assert message in result.output


def test_query_a_missing_store_is_one_clear_line(tmp_path: Path) -> None:
    result = run("query", "--store", f"sqlite:///{tmp_path}/absent.db")
    assert result.exit_code == 1
    assert "cannot read the store" in result.output


def test_query_as_a_real_process(
    engine: Engine, store_url: str, records: list[PredictionRecord]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "predlog", "query", "--gaps", "--format", "json"],
        env={"PREDLOG_STORE_URL": store_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout)[0]["missing"] == 2
