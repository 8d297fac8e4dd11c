"""Shadow records in the store: left out of the rollups, compared with their primaries."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

import dashboard
from dashboard.queries import agreement, versions
from dashboard.queries.shadow import compare
from dashboard.window import Filters, Window
from sidecar.record import PredictionRecord
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.schema import Prediction, rollups
from sidecar.store.writer import StoreWriter
from tests.records import T0, make_record

APP = Path(dashboard.__file__).with_name("app.py")


def shadow_of(primary: PredictionRecord, n: int, *, agree: bool) -> PredictionRecord:
    """A shadow version 3's record of ``primary``, agreeing on every row's label or on none."""
    results = primary.results or []
    flipped = [
        msgspec.structs.replace(r, label=r.label if agree else f"not-{r.label}") for r in results
    ]
    return make_record(
        n,
        job_id=f"shadow-{n:08d}",
        version="3",
        routing="shadow",
        shadow_of=primary.job_id,
        event_time=primary.event_time,
        inputs=primary.inputs,
        results=flipped,
        n_rows=len(results),
    )


def test_shadow_records_are_compared_and_never_counted_as_traffic(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine)
    primaries = [make_record(n) for n in range(1, 41)]
    # 30 copies agree on every row, 10 on none
    shadows = [shadow_of(p, 100 + i, agree=i < 30) for i, p in enumerate(primaries)]
    StoreWriter(engine).write([*primaries, *shadows], [])
    window = Window(
        datetime.fromtimestamp(T0, UTC) - timedelta(minutes=1),
        datetime.fromtimestamp(T0, UTC) + timedelta(hours=1),
        60,
    )
    try:
        with engine.connect() as conn:
            counted = conn.execute(select(func.sum(rollups.c.requests))).scalar_one()
            stored = conn.execute(select(func.count()).select_from(Prediction)).scalar_one()
        assert counted == len(primaries)  # the rollups hold the traffic only
        assert stored == len(primaries) + len(shadows)
        assert set(versions(engine, window, Filters()).summary["version"]) == {"1", "2"}

        table = agreement(engine, window, Filters())
        assert set(table["primary_version"]) == {"1", "2"}
        assert set(table["shadow_version"]) == {"3"}
        assert table["compared"].sum() == 40
        rows = sum(len(p.results or []) for p in primaries)
        agreeing = sum(len(p.results or []) for p in primaries[:30])
        overall = (table["agreement"] * table["rows"]).sum() / table["rows"].sum()
        assert table["rows"].sum() == rows
        assert abs(overall - agreeing / rows) < 1e-9
        assert agreement(engine, window, Filters(model="other")).empty
    finally:
        engine.dispose()


def test_a_regressors_shadow_agrees_within_five_percent() -> None:
    mine = [{"prediction": [10.4]}, {"prediction": [11.0]}, {"prediction": [0.04]}]
    theirs = [{"prediction": [10.0]}, {"prediction": [10.0]}, {"prediction": [0.0]}]
    pair = compare(mine, theirs)
    assert (pair.agreed, pair.rows) == (2, 3)  # 4% off, 10% off, 0.04 off near zero
    assert [round(d, 6) for d in pair.abs_diff] == [0.4, 1.0, 0.04]


def test_the_versions_page_shows_shadow_agreement(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    primaries = [make_record(n, event_time=now - 60 - n) for n in range(1, 21)]
    shadows = [shadow_of(p, 100 + i, agree=i < 15) for i, p in enumerate(primaries)]
    engine = make_engine(sqlite_url)
    upgrade(engine)
    StoreWriter(engine).write([*primaries, *shadows], [])
    engine.dispose()
    monkeypatch.setenv("PREDLOG_STORE_URL", sqlite_url)
    monkeypatch.setenv("PREDLOG_MODELS_DIR", "/nonexistent")
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    app.switch_page("views/versions.py").run()
    assert not app.exception
    assert "Shadow agreement" in [h.value for h in app.subheader]
    table = app.dataframe[1].value
    assert set(table["Shadow version"]) == {"3"}
    assert table["Requests compared"].sum() == 20
    rows = sum(len(p.results or []) for p in primaries)
    agreeing = sum(len(p.results or []) for p in primaries[:15])
    shown = (table["Agreement"] * table["Rows"]).sum() / table["Rows"].sum()
    assert shown == pytest.approx(agreeing / rows)
