"""Migration 0011 (``predictions.upstream_ms``) up and down on SQLite and PostgreSQL, and a
remote version's record (upstream latency, rows without outlier fields) stored both ways."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect, select

from sidecar.record import validate_record
from sidecar.store.engine import make_engine
from sidecar.store.migrate import alembic_config, current_revision, upgrade
from sidecar.store.schema import predictions, rollups
from sidecar.store.writer import StoreWriter
from tests.records import make_record


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("predictions")}


def test_0011_adds_upstream_ms_and_drops_it(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0011")
    assert "upstream_ms" in _columns(engine)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    assert current_revision(engine) == "0010"
    assert "upstream_ms" not in _columns(engine)
    upgrade(engine)
    assert "upstream_ms" in _columns(engine)
    engine.dispose()


def test_a_remote_records_upstream_ms_and_empty_outlier_fields_are_stored(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine)
    # PostgreSQL's COPY (from 1 row) and its INSERT (below 10 rows); SQLite's one path
    for remote, local, copy_min_rows in ((1, 2, 1), (3, 4, 10)):
        wire = make_record(remote, n_rows=1).to_wire()
        wire["upstream_ms"] = 3.25
        wire["results"] = [{"prediction": [0.1, 0.9], "label": "b"}]  # no detector
        record = validate_record(wire)
        assert record.results is not None
        assert record.results[0].outlier_score is None
        StoreWriter(engine, copy_min_rows=copy_min_rows).write([record, make_record(local)])
    with engine.connect() as conn:
        rows = {
            r.seq: r
            for r in conn.execute(
                select(
                    predictions.c.seq,
                    predictions.c.upstream_ms,
                    predictions.c.is_outlier,
                    predictions.c.max_outlier_score,
                    predictions.c.results,
                )
            )
        }
        counted = conn.execute(select(rollups.c.requests)).scalars().all()
    for remote, local in ((1, 2), (3, 4)):
        assert rows[remote].upstream_ms == 3.25
        assert rows[remote].is_outlier is False
        assert rows[remote].max_outlier_score is None
        assert rows[remote].results[0]["outlier_score"] is None
        assert rows[local].upstream_ms is None
        assert rows[local].max_outlier_score is not None
    assert sum(counted) == 4  # the rollups count the remote records too
    engine.dispose()
