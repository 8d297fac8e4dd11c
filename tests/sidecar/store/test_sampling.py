"""Payload sampling: every request keeps its row, a model's fraction keeps its inputs, and
the rollups still count every request (both stores, both insert paths)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from sidecar.settings import SidecarSettings
from sidecar.store.references import ReferenceSource
from sidecar.store.sampling import PayloadSampler, parse_fractions
from sidecar.store.schema import feature_rollups, predictions, rollups
from sidecar.store.writer import StoreWriter
from tests.records import error_record, make_record


def test_fractions_parse_and_refuse_what_is_wrong() -> None:
    assert parse_fractions("iris=0.1, *=1") == {"iris": 0.1, "*": 1.0}
    assert parse_fractions("") == {}
    for bad, why in (
        ("iris", "model=fraction"),
        ("iris=lots", "not a number"),
        ("iris=1.5", "between 0 and 1"),
        ("=0.5", "model=fraction"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_fractions(bad)
    with pytest.raises(ValueError, match="between 0 and 1"):
        SidecarSettings(payload_sampling="iris=-0.1")
    assert PayloadSampler.from_text("iris=1,*=1") is None  # nothing to leave out


def test_the_decision_is_the_job_ids_and_near_the_fraction() -> None:
    sampler = PayloadSampler({"iris": 0.25, "*": 0.0})
    records = [make_record(n) for n in range(1, 4001)]
    kept = [r for r in records if sampler.keeps(r)]
    assert 0.2 < len(kept) / len(records) < 0.3
    assert [r.job_id for r in kept] == [r.job_id for r in records if sampler.keeps(r)]
    assert not sampler.keeps(make_record(1, model="other"))
    assert PayloadSampler({"iris": 1.0, "*": 0.0}).keeps(make_record(1))


@pytest.mark.parametrize("bulk", ["auto", "executemany"])
def test_every_request_keeps_its_row_and_the_rollups_count_all(engine: Engine, bulk: str) -> None:
    records = [make_record(n) for n in range(1, 401)]
    records += [
        error_record(n, model="iris", inputs=[[1.0, 2.0, 3.0, 4.0]]) for n in range(401, 421)
    ]
    sampler = PayloadSampler({"iris": 0.1})
    writer = StoreWriter(engine, bulk=bulk, sampler=sampler)  # type: ignore[arg-type]
    result = writer.write(records)
    assert result.inserted == len(records)
    with engine.connect() as conn:
        rows = {r.job_id: r for r in conn.execute(select(predictions)).all()}
        totals = conn.execute(select(func.sum(rollups.c.requests), func.sum(rollups.c.rows))).one()
    assert set(rows) == {r.job_id for r in records}
    with_inputs = {job for job, row in rows.items() if row.inputs is not None}
    expected = {r.job_id for r in records if r.inputs is not None and sampler.keeps(r)}
    assert with_inputs == expected
    assert 0 < len(with_inputs) < len(records) / 4
    for record in records:
        row = rows[record.job_id]
        assert row.n_rows == len(record.inputs or ())  # kept when the inputs are not
        assert row.latency_ms == record.latency_ms
        assert row.status == record.status
        if record.results:
            assert row.results is not None
            assert [r["label"] for r in row.results] == [r.label for r in record.results]
    # The rollups saw every request's rows, sampled or not.
    assert totals[0] == len(records)
    assert totals[1] == sum(len(r.inputs or ()) for r in records)
    # A replay samples alike: nothing new, nothing changed.
    again = StoreWriter(engine, bulk=bulk, sampler=sampler).write(records)  # type: ignore[arg-type]
    assert again.inserted == 0


def test_feature_histograms_count_the_inputs_left_out(engine: Engine, models_dir: Path) -> None:
    records = [make_record(n) for n in range(1, 301)]
    sampler = PayloadSampler({"iris": 0.0})  # no inputs stored at all
    writer = StoreWriter(engine, references=ReferenceSource(models_dir), sampler=sampler)
    writer.write(records)
    with engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(predictions).where(predictions.c.inputs.is_not(None))
        ).scalar()
        counted = conn.execute(
            select(func.sum(feature_rollups.c.rows)).where(feature_rollups.c.feature == 0)
        ).scalar()
    assert stored == 0
    assert counted == sum(len(r.inputs or ()) for r in records)
