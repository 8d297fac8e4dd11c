"""The bench's bulk generator leaves a store exactly as the sidecar's StoreWriter would."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from bench.fill_store import fill
from sidecar.store.engine import make_engine
from sidecar.store.mapping import record_from_row
from sidecar.store.migrate import upgrade
from sidecar.store.rollup import KEY_COLUMNS
from sidecar.store.schema import predictions, rollups, streams
from sidecar.store.writer import StoreWriter

END = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def table(engine: Engine, query: object, order: list[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)  # type: ignore[call-overload]
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.sort_values(order, ignore_index=True)


def test_generated_rollups_equal_the_writers(store_url: str, tmp_path: Path) -> None:
    generated = make_engine(store_url)
    again = make_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    try:
        stats = fill(generated, 3000, 2, seed=7, end=END)
        assert stats.records == 3000
        with generated.connect() as conn:
            rows = conn.execute(select(predictions).order_by(predictions.c.id)).mappings().all()
        records = [record_from_row(dict(row)) for row in rows]
        assert len(records) == 3000
        assert {r.status for r in records} >= {200, 422}
        assert any(r.is_outlier for r in records)
        assert any(r.inputs and len(r.inputs) > 1 for r in records)
        upgrade(again)
        assert StoreWriter(again).write(records).inserted == 3000

        keys = list(KEY_COLUMNS)
        want = table(again, select(rollups), keys)
        got = table(generated, select(rollups), keys)
        assert len(got) == stats.rollup_rows == len(want)
        pd.testing.assert_frame_equal(got[keys], want[keys])
        numbers = [c for c in want.columns if c not in keys]
        pd.testing.assert_frame_equal(got[numbers], want[numbers], check_dtype=False, rtol=1e-9)

        counters = ["host", "pid", "max_seq", "received"]
        pd.testing.assert_frame_equal(
            table(generated, select(*(streams.c[c] for c in counters)), ["host", "pid"]),
            table(again, select(*(streams.c[c] for c in counters)), ["host", "pid"]),
        )
    finally:
        generated.dispose()
        again.dispose()


def test_generation_is_deterministic(tmp_path: Path) -> None:
    job_ids = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        try:
            fill(engine, 500, 1, seed=3, end=END)
            frame = table(
                engine, select(predictions.c.job_id, predictions.c.latency_ms), ["job_id"]
            )
            job_ids.append(frame)
        finally:
            engine.dispose()
    pd.testing.assert_frame_equal(job_ids[0], job_ids[1])
    assert job_ids[0]["job_id"].is_unique
