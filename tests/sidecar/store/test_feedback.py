"""Feedback in the store: first wins, joins in either order, quality rollups counted once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, text

from sidecar.record import FeedbackRecord, PredictionRecord, RowResult
from sidecar.store import feedback as feedback_store
from sidecar.store.mapping import to_datetime
from sidecar.store.schema import feedback, quality_rollups
from sidecar.store.writer import StoreWriter
from tests.records import T0, make_record


def truth(job_id: str, *, row: int = 0, delay: float = 90.0, **fields: Any) -> FeedbackRecord:
    """Feedback for ``job_id`` received ``delay`` seconds after T0."""
    return FeedbackRecord(job_id=job_id, row=row, event_time=T0 + delay, **fields)


def regressor(n: int, value: float) -> PredictionRecord:
    result = RowResult(prediction=[value], outlier_score=0.1, is_outlier=False)
    return make_record(n, n_rows=1, model="house", version="3", results=[result])


def cells(engine: Engine) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    """(model, version, truth, predicted) -> (matched, unusable), summed over minutes."""
    query = text(
        "SELECT model, version, truth, predicted, SUM(matched), SUM(unusable) "
        "FROM quality_rollups GROUP BY model, version, truth, predicted"
    )
    with engine.connect() as conn:
        return {(m, v, t, p): (int(a), int(b)) for m, v, t, p, a, b in conn.execute(query)}


def rows(engine: Engine) -> dict[tuple[str, int], Any]:
    with engine.connect() as conn:
        return {(r.job_id, r.row_index): r for r in conn.execute(select(feedback))}


def test_feedback_after_its_prediction_joins_and_counts(engine: Engine) -> None:
    writer = StoreWriter(engine)
    record = make_record(1, n_rows=1)
    predicted = record.results[0].label if record.results else None
    writer.write([record])
    result = writer.write([], feedback=[truth(record.job_id, label="virginica")])
    assert (result.feedback, result.feedback_duplicates) == (1, 0)
    row = rows(engine)[(record.job_id, 0)]
    assert (row.model, row.version, row.predicted_label, row.outcome) == (
        "iris",
        "1",
        predicted,
        "ok",
    )
    assert row.prediction_time.timestamp() == record.event_time
    assert cells(engine) == {("iris", "1", "virginica", predicted): (1, 0)}
    with engine.connect() as conn:
        delay = conn.execute(select(quality_rollups.c.delay_sum_s, quality_rollups.c.delay_h01))
        assert [(round(d, 3), h) for d, h in delay] == [(round(T0 + 90 - record.event_time, 3), 1)]


def test_feedback_before_its_prediction_joins_when_the_prediction_comes(engine: Engine) -> None:
    writer = StoreWriter(engine)
    record = make_record(2, n_rows=2)
    writer.write([], feedback=[truth(record.job_id, row=1, label="setosa")])
    assert rows(engine)[(record.job_id, 1)].prediction_time is None
    assert cells(engine) == {}
    writer.write([make_record(3)])  # another prediction: nothing to join
    assert cells(engine) == {}
    writer.write([record])
    assert record.results is not None
    joined = rows(engine)[(record.job_id, 1)]
    assert joined.outcome == "ok"
    assert cells(engine) == {("iris", "2", "setosa", record.results[1].label or ""): (1, 0)}
    writer.write([record])  # redelivered: neither counted again
    assert sum(m for m, _ in cells(engine).values()) == 1


def test_both_in_one_batch_count_once(engine: Engine) -> None:
    writer = StoreWriter(engine)
    waiting = make_record(4, n_rows=1)
    writer.write([], feedback=[truth("job-not-yet", label="setosa")])  # some unmatched feedback
    record = make_record(5, n_rows=1)
    writer.write([record, waiting], feedback=[truth(record.job_id, label="setosa")])
    assert sum(m for m, _ in cells(engine).values()) == 1


def test_first_feedback_wins_and_a_resend_is_a_duplicate(engine: Engine) -> None:
    writer = StoreWriter(engine)
    record = make_record(7, n_rows=1)
    writer.write([record])
    first = truth(record.job_id, label="setosa")
    result = writer.write([], feedback=[first, truth(record.job_id, label="virginica")])
    assert (result.feedback, result.feedback_duplicates) == (1, 1)
    result = writer.write([], feedback=[first])
    assert (result.feedback, result.feedback_duplicates) == (0, 1)
    assert rows(engine)[(record.job_id, 0)].label == "setosa"
    assert sum(m for m, _ in cells(engine).values()) == 1


def test_a_regressors_errors_and_unusable_feedback(engine: Engine) -> None:
    writer = StoreWriter(engine)
    house = regressor(8, 3.5)
    iris = make_record(9, n_rows=1)
    failed = make_record(10, status=500, results=None, error="boom")
    writer.write([house, iris, failed])
    writer.write(
        [],
        feedback=[
            truth(house.job_id, value=3.0),
            truth(iris.job_id, value=1.0),  # a value for a classifier
            truth(iris.job_id, row=3, label="setosa"),  # no such row
            truth(failed.job_id, label="setosa"),
        ],
    )
    found = rows(engine)
    assert found[(house.job_id, 0)].outcome == "ok"
    assert found[(house.job_id, 0)].predicted_value == 3.5
    assert found[(iris.job_id, 0)].outcome == "a value for a classifier"
    assert found[(iris.job_id, 3)].outcome == "the request has no row 3"
    assert found[(failed.job_id, 0)].outcome == "the request failed"
    assert cells(engine) == {
        ("house", "3", "", ""): (1, 0),
        ("iris", "1", "", ""): (0, 2),
        ("iris", "2", "", ""): (0, 1),
    }
    with engine.connect() as conn:
        sums = conn.execute(
            text("SELECT error_sum, squared_error_sum FROM quality_rollups WHERE model='house'")
        ).one()
    assert tuple(sums) == (0.5, 0.25)


def test_feedback_the_store_cannot_hold_is_a_dead_letter(engine: Engine) -> None:
    result = StoreWriter(engine).write([], feedback=[truth("job\x00x", label="setosa")])
    if engine.dialect.name == "sqlite":  # SQLite's text holds NUL
        assert result.feedback == 1
        return
    assert (result.feedback, result.dead_letters) == (0, 1)
    with engine.connect() as conn:
        tag, reason = conn.execute(text("SELECT tag, reason FROM dead_letters")).one()
    assert tag == "predlog.feedback"
    assert "NUL" in reason


def test_the_sweep_joins_feedback_that_raced_its_prediction(engine: Engine) -> None:
    # Two writers, each committing one side while the other could not see it: the feedback
    # row is unmatched although its prediction is stored. The next write's sweep joins it.
    writer = StoreWriter(engine, clock=lambda: to_datetime(T0 + 60))
    record = make_record(11, n_rows=1)
    writer.write([record])
    raced = truth(record.job_id, label="setosa", delay=0.0)
    with engine.begin() as conn:
        row = feedback_store.feedback_row(raced, to_datetime(raced.event_time))
        conn.execute(feedback.insert(), [row])
    writer.write([make_record(12)])
    joined = rows(engine)[(record.job_id, 0)].prediction_time
    if engine.dialect.name == "sqlite":  # one writer at a time: no race, no sweep
        assert joined is None
    else:
        assert joined is not None
        assert sum(m for m, _ in cells(engine).values()) == 1


def shadow_of(primary: PredictionRecord, n: int, label: str) -> PredictionRecord:
    result = RowResult(prediction=[0.1, 0.2, 0.7], label=label, outlier_score=0.1, is_outlier=False)
    return make_record(
        n, n_rows=1, version="3", routing="shadow", shadow_of=primary.job_id, results=[result],
        event_time=primary.event_time + 0.01,
    )  # fmt: skip


def test_a_shadow_versions_answer_is_compared_with_its_primarys_feedback(engine: Engine) -> None:
    writer = StoreWriter(engine)
    # feedback after both; feedback between the primary and its shadow; all in one batch
    first, second, third = (make_record(n, n_rows=1) for n in (20, 21, 22))
    writer.write([first, shadow_of(first, 120, "virginica")])
    writer.write([], feedback=[truth(first.job_id, label="virginica")])
    writer.write([second])
    writer.write([], feedback=[truth(second.job_id, label="virginica")])
    writer.write([shadow_of(second, 121, "setosa")])
    shadow = shadow_of(third, 122, "virginica")
    writer.write([third, shadow], feedback=[truth(third.job_id, label="virginica")])
    writer.write([shadow], feedback=[truth(third.job_id, label="virginica")])  # redelivered
    counted = cells(engine)
    assert counted[("iris", "3", "virginica", "virginica")] == (2, 0)
    assert counted[("iris", "3", "virginica", "setosa")] == (1, 0)
    primaries = {k: v for k, v in counted.items() if k[1] != "3"}
    assert sum(m for m, _ in primaries.values()) == 3
    # the feedback rows keep the primary's answer
    assert {rows(engine)[(r.job_id, 0)].version for r in (first, second, third)} == {"2", "1"}
