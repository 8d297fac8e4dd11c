"""The bulk fill's feedback: the quality rollups the sidecar's writer would have made."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from bench.fill_store import fill
from sidecar.record import FeedbackRecord
from sidecar.store.engine import make_engine
from sidecar.store.mapping import record_from_row
from sidecar.store.migrate import upgrade
from sidecar.store.quality import QUALITY_KEY
from sidecar.store.schema import feedback, predictions, quality_rollups, quality_rollups_hourly
from sidecar.store.writer import StoreWriter
from tests.dashboard.test_fill_store import table as table_frame

END = datetime(2026, 1, 15, 12, 37, tzinfo=UTC)
"""Not on an hour: the fill's days share their edge hours."""


def test_the_fills_feedback_rolls_up_as_the_writer_would(store_url: str, tmp_path: Path) -> None:
    generated = make_engine(store_url)
    again = make_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    try:
        fill(generated, 4000, 2, seed=3, end=END)
        with generated.connect() as conn:
            rows = conn.execute(select(predictions)).mappings().all()
            truths = conn.execute(select(feedback)).all()
        records = [record_from_row(dict(row)) for row in rows]
        sent = [
            FeedbackRecord(
                job_id=t.job_id, row=t.row_index, label=t.label, event_time=t.event_time.timestamp()
            )
            for t in truths
        ]
        answered = sum(1 for r in records if r.status == 200 and r.results)
        matched = [t for t in truths if t.prediction_time is not None]
        assert 0.05 * answered < len(matched) < 0.15 * answered
        assert {t.outcome for t in matched} == {"ok"}
        assert len(truths) > len(matched)  # a few match nothing
        upgrade(again)
        StoreWriter(again).write(records, feedback=sent)
        for table, when in ((quality_rollups, "minute"), (quality_rollups_hourly, "hour")):
            keys = [when, *QUALITY_KEY[1:]]
            want = table_frame(again, select(table), keys)
            got = table_frame(generated, select(table), keys)
            pd.testing.assert_frame_equal(got[keys], want[keys])
            numbers = [c for c in want.columns if c not in keys]
            # Times are stored to the microsecond: the delays agree to a few of them.
            pd.testing.assert_frame_equal(
                got[numbers], want[numbers], check_dtype=False, rtol=1e-9, atol=1e-5
            )
    finally:
        generated.dispose()
        again.dispose()
