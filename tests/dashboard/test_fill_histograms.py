"""The bench's bulk generator keeps the feature histograms exactly as the sidecar would."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, insert, select

from bench.fill_store import fill
from sidecar.store.engine import make_engine
from sidecar.store.mapping import record_from_row
from sidecar.store.migrate import upgrade
from sidecar.store.references import ReferenceSource
from sidecar.store.schema import (
    feature_references,
    feature_rollups,
    feature_rollups_hourly,
    predictions,
)
from sidecar.store.writer import StoreWriter

END = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
KEYS = ["model", "version", "minute", "feature"]


def table(engine: Engine, query: object, keys: list[str] = KEYS) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)  # type: ignore[call-overload]
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.sort_values(keys, ignore_index=True)


def test_generated_histograms_equal_the_writers(store_url: str, tmp_path: Path) -> None:
    generated = make_engine(store_url)
    again = make_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    try:
        fill(generated, 3000, 2, seed=7, end=END)
        with generated.connect() as conn:
            rows = conn.execute(select(predictions).order_by(predictions.c.id)).mappings().all()
            refs = [dict(r) for r in conn.execute(select(feature_references)).mappings()]
        assert {(r["model"], r["version"]) for r in refs} == {("iris", "1"), ("iris", "2")}
        upgrade(again)
        with again.begin() as conn:  # the same bins, as a sidecar finds them stored
            conn.execute(insert(feature_references), refs)
        records = [record_from_row(dict(row)) for row in rows]
        writer = StoreWriter(again, references=ReferenceSource(None))
        assert writer.write(records).inserted == 3000

        want = table(again, select(feature_rollups))
        got = table(generated, select(feature_rollups))
        assert len(got) == len(want) > 0
        pd.testing.assert_frame_equal(got[KEYS], want[KEYS])
        numbers = [c for c in want.columns if c not in KEYS]
        pd.testing.assert_frame_equal(got[numbers], want[numbers], check_dtype=False)
        assert got["outliers"].sum() > 0
        keys = ["model", "version", "hour", "feature"]
        want = table(again, select(feature_rollups_hourly), keys)
        got = table(generated, select(feature_rollups_hourly), keys)
        assert len(got) == len(want) > 0
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
    finally:
        generated.dispose()
        again.dispose()
