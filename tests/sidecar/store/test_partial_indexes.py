"""Migration 0012: on SQLite the request_id, outlier and shadow indexes are partial, and the
queries that need them (as the dashboard and ``predlog query`` run them) still use them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, inspect

from dashboard.queries.requests import latest_outliers, recent_requests
from dashboard.queries.shadow import agreement
from dashboard.window import Filters, Window
from sidecar.record import FeedbackRecord
from sidecar.store.engine import make_engine
from sidecar.store.migrate import alembic_config, current_revision, upgrade
from sidecar.store.queries import find_by_request_id, search
from sidecar.store.shadow_feedback import shadow_joins
from sidecar.store.writer import StoreWriter
from tests.records import T0, make_record

PARTIAL = {
    "ix_predictions_request_id": "request_id IS NOT NULL",
    "ix_predictions_is_outlier_event_time": "is_outlier = 1",
    "ix_predictions_shadow_of": "shadow_of IS NOT NULL",
}


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    records = [make_record(n, request_id=None if n % 3 else f"req-{n}") for n in range(1, 40)]
    records.append(make_record(40, shadow_of=records[0].job_id, routing="shadow"))
    StoreWriter(engine).write(records)
    yield engine
    engine.dispose()


def conditions(engine: Engine) -> dict[str, str | None]:
    """Each index of predictions and its condition (None: a full index)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'predictions' AND sql IS NOT NULL"
        ).all()
    return {name: sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None for name, sql in rows}


def test_0012_makes_three_indexes_partial_and_back(engine: Engine) -> None:
    assert {name: conditions(engine)[name] for name in PARTIAL} == PARTIAL
    assert conditions(engine)["ix_predictions_status_event_time"] is None
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
    assert current_revision(engine) == "0011"
    assert all(conditions(engine)[name] is None for name in PARTIAL)
    upgrade(engine)
    assert conditions(engine)["ix_predictions_shadow_of"] == "shadow_of IS NOT NULL"
    assert {i["name"] for i in inspect(engine).get_indexes("predictions")} >= set(PARTIAL)


def plans(engine: Engine, run: Callable[[], Any]) -> list[str]:
    """The query plan of every statement ``run`` executes, as SQLite would run it."""
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        statements.append((sql, params))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    out = []
    with engine.connect() as conn:
        for sql, params in statements:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            out.append(" / ".join(str(row[-1]) for row in rows))
    return out


def test_the_queries_that_need_them_use_the_partial_indexes(engine: Engine) -> None:
    def joins(truths: list[FeedbackRecord]) -> list[Any]:
        with engine.connect() as conn:
            return shadow_joins(conn, truths, [])

    start = datetime.fromtimestamp(T0, UTC)
    window = Window(start, start + timedelta(hours=1), 60)
    everything = Filters()
    uses: dict[str, list[Callable[[], object]]] = {
        "ix_predictions_request_id": [lambda: find_by_request_id(engine, "req-3")],
        "ix_predictions_is_outlier_event_time": [
            lambda: latest_outliers(engine, window, everything),
            lambda: recent_requests(engine, window, everything, outlier=True),
            lambda: search(engine, outliers_only=True),
        ],
        # every batch of feedback looks for the shadows of its requests
        "ix_predictions_shadow_of": [
            lambda: joins([FeedbackRecord(job_id="job-00000001", label="setosa", event_time=T0)])
        ],
    }
    for index, runs in uses.items():
        for run in runs:
            assert any(index in plan for plan in plans(engine, run)), (index, plans(engine, run))
    # and they answer what the full indexes answered
    assert [found.record.request_id for found in find_by_request_id(engine, "req-3")] == ["req-3"]
    outliers = latest_outliers(engine, window, everything)
    assert len(outliers) == len(search(engine, outliers_only=True)) > 0
    assert len(agreement(engine, window, everything)) == 1  # the shadow, with its primary
    truth = FeedbackRecord(job_id="job-00000001", label="setosa", event_time=T0)
    assert len(joins([truth])) == 1
