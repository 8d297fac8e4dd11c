"""A remote version's record on the Requests page: its upstream latency, and rows a version
without a detector left unscored (SQLite, PostgreSQL)."""

from __future__ import annotations

import time

import pytest

from sidecar.record import validate_record
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.writer import StoreWriter
from tests.dashboard.apptest import metrics, start
from tests.records import make_record


def test_the_lookup_shows_a_remote_records_upstream_call_and_no_outlier_score(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(store_url)
    upgrade(engine)
    wire = make_record(1, n_rows=1).to_wire()
    wire.update(
        job_id="job-remote",
        event_time=time.time() - 60,
        upstream_ms=12.5,
        inference_ms=13.0,
        results=[{"prediction": [0.1, 0.2, 0.7], "label": "virginica"}],
    )
    StoreWriter(engine).write([validate_record(wire)])
    engine.dispose()
    app = start(store_url, monkeypatch)
    app.switch_page("views/requests.py").run()
    assert not app.exception
    assert app.dataframe[-1].value["job_id"].tolist() == ["job-remote"]
    app.text_input(key="lookup").set_value("job-remote").run()
    assert not app.exception
    shown = metrics(app)
    assert shown["Outlier"] == "none scored"
    assert shown["Inference"] == "13.0 ms"
    assert any("Upstream call 12.5 ms" in c.value for c in app.caption)
    rows = app.dataframe[0].value
    assert rows["outlier_score"].isna().all()
