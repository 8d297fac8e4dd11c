"""``predlog query``: a job's truth beside its prediction, and the unmatched feedback."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result
from sqlalchemy import Engine

from predlog.cli import main
from sidecar.record import FeedbackRecord
from sidecar.store.writer import StoreWriter
from tests.records import T0, make_record


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_a_job_shows_its_truth_beside_the_prediction(engine: Engine) -> None:
    record = make_record(1, n_rows=2)
    assert record.results is not None
    truth = FeedbackRecord(job_id=record.job_id, row=1, label="setosa", event_time=T0 + 7200)
    StoreWriter(engine).write([record], feedback=[truth])
    shown = run("query", "--store", url(engine), "--job-id", record.job_id)
    assert shown.exit_code == 0, shown.output
    assert "feedback (ground truth)" in shown.output
    line = shown.output.splitlines()[-1].split()
    assert line[:4] == ["1", "setosa", record.results[1].label, "ok"]
    as_json = json.loads(run("query", "--store", url(engine), "--job-id", record.job_id,
                             "--format", "json").output)  # fmt: skip
    assert as_json["feedback"][0]["label"] == "setosa"
    assert as_json["feedback"][0]["predicted"] == record.results[1].label
    assert as_json["feedback"][0]["delay_s"] > 7000


def test_feedback_without_its_prediction_is_listed_as_unmatched(engine: Engine) -> None:
    writer = StoreWriter(engine)
    writer.write([make_record(2)])
    lost = [FeedbackRecord(job_id=f"job-gone-{n}", value=1.5, event_time=T0 + n) for n in (1, 2)]
    writer.write([], feedback=lost)
    shown = run("query", "--store", url(engine), "--unmatched")
    assert shown.exit_code == 0, shown.output
    assert "2 unmatched feedback item(s)" in shown.output
    assert "job-gone-1" in shown.output
    alone = run("query", "--store", url(engine), "--job-id", "job-gone-2")
    assert alone.exit_code == 1
    assert "unmatched" in alone.output
    assert "no prediction with job id 'job-gone-2'" in alone.output
    counted = json.loads(run("query", "--store", url(engine), "--unmatched", "--format",
                             "json").output)  # fmt: skip
    assert counted["unmatched"] == 2
    assert counted["oldest"].startswith("2025-11-23")
