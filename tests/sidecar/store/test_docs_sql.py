"""Every SQL example in docs/store.md runs on its store; the percentile SQL is right."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from sidecar.store.histogram import latency_percentile
from sidecar.store.schema import LATENCY_COLUMNS, rollups
from sidecar.store.writer import StoreWriter
from tests.records import error_record, make_record

DOC = Path(__file__).parents[3] / "docs" / "store.md"
BLOCK = re.compile(r"```sql\n-- (sqlite|postgresql)\n(.*?)```", re.DOTALL)


def examples(dialect: str) -> list[str]:
    return [sql for kind, sql in BLOCK.findall(DOC.read_text()) if kind == dialect]


@pytest.fixture
def recent(engine: Engine) -> None:
    """Requests over the last 40 minutes, with errors, outliers and a lost record."""
    now = time.time()
    records = [
        make_record(n, event_time=now - 2400 + n * 12.0, latency_ms=0.3 + (n % 37) * 1.7)
        for n in range(1, 201)
        if n != 50
    ]
    records += [error_record(n, event_time=now - 60.0) for n in (201, 202)]
    StoreWriter(engine).write(records)


def test_the_doc_has_examples_for_both_stores() -> None:
    assert len(examples("sqlite")) >= 5
    assert len(examples("postgresql")) >= 5


def test_every_example_runs(engine: Engine, recent: None) -> None:
    dialect = engine.dialect.name
    with engine.connect() as conn:
        for sql in examples(dialect):
            conn.execute(text(sql)).all()


def test_the_percentile_example_matches_the_python_walk(engine: Engine, recent: None) -> None:
    (sql,) = [s for s in examples(engine.dialect.name) if ") AS latency_ms" in s]
    with engine.connect() as conn:
        found = {float(q): float(v) for q, v in conn.execute(text(sql))}
        sums = conn.execute(
            select(*(rollups.c[c] for c in LATENCY_COLUMNS)).where(rollups.c.model == "iris")
        ).all()
    counts = [sum(int(row[i]) for row in sums) for i in range(len(LATENCY_COLUMNS))]
    assert sum(counts) == 199
    for q in (0.5, 0.95, 0.99):
        assert found[q] == pytest.approx(latency_percentile(counts, q))
