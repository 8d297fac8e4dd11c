"""A store with known predictions and feedback for the Quality page's tests.

iris/1 (a classifier): 10 one-row predictions, feedback for all, 8 right and 2 wrong;
iris/2: 5 predictions, one unusable feedback (a value for a classifier); house/1 (a
regressor): 4 predictions of 1, 2, 3, 4 with the truths 1.5, 2, 2, 5 (MAE 0.625, RMSE
0.75, bias -0.125); and 2 feedback items whose job_id matches nothing. Feedback comes 120 s
after its prediction; half of iris/1's is written before its predictions.
"""

from __future__ import annotations

from sidecar.record import FeedbackRecord, PredictionRecord, RowResult
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.writer import StoreWriter
from tests.records import LABELS, make_record

DELAY = 120.0
HOUSE = [(1.0, 1.5), (2.0, 2.0), (3.0, 2.0), (4.0, 5.0)]


def _other(label: str) -> str:
    return LABELS[(LABELS.index(label) + 1) % len(LABELS)]


def build(now: float) -> tuple[list[PredictionRecord], list[FeedbackRecord]]:
    """The predictions and the feedback, all within the last half hour before ``now``."""
    start = now - 1800.0
    predictions: list[PredictionRecord] = []
    truths: list[FeedbackRecord] = []
    for n in range(10):
        record = make_record(100 + n, n_rows=1, version="1", event_time=start + n * 60)
        predictions.append(record)
        label = record.results[0].label if record.results else None
        assert label is not None
        truth = label if n < 8 else _other(label)
        truths.append(
            FeedbackRecord(job_id=record.job_id, label=truth, event_time=record.event_time + DELAY)
        )
    for n in range(5):
        predictions.append(make_record(200 + n, n_rows=1, version="2", event_time=start + n * 60))
    truths.append(
        FeedbackRecord(job_id=predictions[-1].job_id, value=1.0, event_time=start + DELAY)
    )
    for n, (predicted, true_value) in enumerate(HOUSE):
        result = RowResult(prediction=[predicted], outlier_score=0.1, is_outlier=False)
        record = make_record(
            300 + n, n_rows=1, model="house", version="1", results=[result], event_time=start + n
        )
        predictions.append(record)
        truths.append(
            FeedbackRecord(
                job_id=record.job_id, value=true_value, event_time=record.event_time + DELAY
            )
        )
    for n in range(2):
        truths.append(
            FeedbackRecord(job_id=f"job-nowhere-{n}", label="setosa", event_time=now - 60)
        )
    return predictions, truths


def fill(url: str, now: float) -> tuple[list[PredictionRecord], list[FeedbackRecord]]:
    """Migrate the store at ``url`` and write the known records, half the feedback first."""
    predictions, truths = build(now)
    engine = make_engine(url)
    try:
        upgrade(engine)
        writer = StoreWriter(engine)
        writer.write([], feedback=truths[:5])  # before their predictions
        writer.write(predictions, feedback=truths[5:])
    finally:
        engine.dispose()
    return predictions, truths


def feedback_for(known: list[PredictionRecord], count: int = 10) -> list[FeedbackRecord]:
    """Feedback for the first ``count`` answered iris/1 records: 80% right (``known``: the
    dashboard's usual records, each answering one label)."""
    answered = [r for r in known if r.version == "1" and r.results and r.status < 400]
    truths = []
    for n, record in enumerate(answered[:count]):
        label = record.results[0].label if record.results else None
        assert label is not None
        truth = label if n < count * 0.8 else _other(label)
        truths.append(
            FeedbackRecord(job_id=record.job_id, label=truth, event_time=record.event_time + DELAY)
        )
    return truths
