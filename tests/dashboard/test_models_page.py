"""The Models page through streamlit's AppTest: version cards, workers, filters, the stores
without models or registry, and what the api's registry writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import dashboard.queries.registry as registry_queries
from dashboard.views.models import NO_MODELS, NO_REGISTRY
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.dashboard import registry
from tests.dashboard.apptest import chart_data, metrics, start
from tests.dashboard.conftest import FilledStore, fill


def cards(at: AppTest) -> dict[str, Any]:
    """The Models page's version cards by 'model/version': the columns holding an address."""
    found: dict[str, Any] = {}
    for column in at.columns:
        if not len(column.code):
            continue
        heading = next(m.value for m in column.markdown if m.value.startswith("#### "))
        model, version = heading.removeprefix("#### ").split(" &nbsp; ")[0].split(" / ")
        found[f"{model}/{version}"] = column
    return found


@pytest.fixture
def models_app(filled_store: FilledStore, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The Models page on the filled store with the known registry rows."""
    # Live workers reported when the rows were written; however slow this machine is,
    # they must not look stopped (host-b, two hours silent, still does).
    monkeypatch.setattr(registry_queries, "SILENT_AFTER", timedelta(hours=1))
    registry.fill_registry(filled_store.url)
    at = start(filled_store.url, monkeypatch, filled_store.models_dir)
    at.switch_page("views/models.py").run()
    assert not at.exception
    return at


def test_models_page_cards(models_app: AppTest) -> None:
    at = models_app
    shown = cards(at)
    assert list(shown) == ["churn/1", "iris/2", "iris/1", "iris/4", "iris/3", "iris/0"]
    for key, state in {
        "churn/1": "serving", "iris/2": "serving", "iris/1": "serving", "iris/4": "shadow",
        "iris/3": "failed", "iris/0": "retired",
    }.items():  # fmt: skip
        heading = shown[key].markdown[0].value
        assert heading.endswith(f" {state}]"), (key, heading)
        assert "-badge[" in heading, (key, heading)
        model, version = key.split("/")
        assert shown[key].code[0].value == f"POST /predict?model={model}&version={version}"
    text = {key: " ".join(m.value for m in card.markdown) for key, card in shown.items()}
    assert "Weight 90**: 90% of iris's weighted traffic" in text["iris/1"]
    assert "Weight 10**: 10% of iris's weighted traffic" in text["iris/2"]
    assert "100% of churn's weighted traffic" in text["churn/1"]
    assert "a copy of 25% of iris's requests" in text["iris/4"]
    assert "by `alice`" in text["iris/2"]
    assert "by `predlog run`" in text["iris/1"]
    assert shown["churn/1"].caption[0].value == "regression · Customer churn"
    # the failed version says why, where
    assert shown["iris/3"].error[0].value == (
        f"Failed to load on host-a/101: {registry.FAILED_ERROR}"
    )
    # traffic curves: only the versions with requests in the window, from the rollups
    for key, requests in {"iris/1": 30, "iris/2": 12}.items():
        (chart,) = shown[key].get("vega_lite_chart")
        (data,) = chart_data(chart)
        assert data["requests"].sum() == requests
        assert len(data) == 60  # every minute of the 1 h window
        summary = f"{requests} requests in the window, {requests / 60:.1f} a minute"
        assert summary in [c.value for c in shown[key].caption]
    for key in ("churn/1", "iris/4", "iris/3", "iris/0"):
        assert not shown[key].get("vega_lite_chart")
        assert "No requests in this window." in [c.value for c in shown[key].caption]
    # deploy logs, newest first, with the worker for worker events
    log = shown["iris/1"].expander[0]
    assert log.label == "Deploy log (4 events)"
    events = log.dataframe[0].value
    assert events["Event"].tolist() == ["serving", "loaded", "loaded", "uploaded"]
    assert sorted(events["Where / who"])[:2] == ["host-a/101", "host-a/102"]
    assert events["Detail"].iloc[-1] == "3 files, 20000 bytes"
    failed = shown["iris/3"].expander[0].dataframe[0].value
    assert failed["Detail"].iloc[0] == registry.FAILED_ERROR
    # the model's own traffic changes
    label = "iris: traffic changes and refused uploads (1)"
    changes = next(e for e in at.expander if e.label == label)
    assert changes.dataframe[0].value["Detail"].tolist() == ["1=90 2=10"]


def test_models_page_workers(models_app: AppTest) -> None:
    at = models_app
    shown = metrics(at)
    assert shown["Registry generation"] == str(registry.GENERATION)
    assert shown["Workers on it"] == "1 of 2"
    assert shown["Workers behind"] == "1"
    assert "1 of 2 workers serve an older generation than the registry's 7" in at.warning[0].value
    workers = next(d.value for d in at.dataframe if "Status" in d.value.columns)
    rows = workers.set_index("PID")
    assert rows.loc[101, "Status"] == "on it"
    assert rows.loc[102, "Status"] == "⚠ behind by 1"
    assert 201 not in rows.index  # stopped long ago: listed apart
    silent = next(e for e in at.expander if "not seen for over a minute" in e.label)
    assert silent.dataframe[0].value["PID"].tolist() == [201]


def test_models_page_follows_the_filters(models_app: AppTest) -> None:
    models_app.selectbox(key="model").set_value("iris").run()
    models_app.selectbox(key="version").set_value("2").run()
    assert not models_app.exception
    assert list(cards(models_app)) == ["iris/2"]


def test_models_page_without_models(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(store_url, time.time())  # requests, but nothing registered
    at = start(store_url, monkeypatch)
    at.switch_page("views/models.py").run()
    assert not at.exception
    assert at.info[0].value == NO_MODELS
    assert not cards(at)
    assert metrics(at)["Registry generation"] == "0"


def test_models_page_before_any_request(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    registry.fill_registry(sqlite_url)
    at = start(sqlite_url, monkeypatch)
    assert "holds no requests yet" in at.info[0].value  # the Overview has nothing to show
    at.switch_page("views/models.py").run()
    assert not at.exception
    assert len(cards(at)) == len(registry.VERSIONS)
    assert not at.info


def test_models_page_on_a_store_from_before_the_registry(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine, "0003")
    engine.dispose()
    at = start(sqlite_url, monkeypatch)
    at.switch_page("views/models.py").run()
    assert not at.exception
    assert at.info[0].value == NO_MODELS
    assert NO_REGISTRY in [c.value for c in at.caption]


def test_models_page_shows_what_the_api_registry_writes(
    store_url: str, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows as the api's RegistryStore writes them (not hand-made): import, weights,
    a refused upload, two workers' reports, a load on one of them."""
    from api.registry.admin import import_directory
    from api.registry.rows import Identity
    from api.registry.store import RegistryStore

    monkeypatch.setattr(registry_queries, "SILENT_AFTER", timedelta(hours=1))
    fill(store_url, time.time())
    engine = make_engine(store_url)
    try:
        store = RegistryStore(engine)
        assert import_directory(store, models_dir, {}, actor="predlog run") == ["iris/1", "iris/2"]
        store.set_weights("iris", {"1": 70, "2": 30}, actor="alice")
        store.failed_upload("iris", "9", "manifest.json: missing", actor="bob")
        started = datetime.now(UTC)
        a, b = Identity("host-a", 11, "run-a"), Identity("host-b", 12, "run-b")
        store.log("iris", "1", "loaded", worker=a)
        store.heartbeat(a, store.generation(), started)
        store.heartbeat(b, store.generation() - 1, started)
    finally:
        engine.dispose()
    at = start(store_url, monkeypatch)
    at.switch_page("views/models.py").run()
    assert not at.exception
    shown = cards(at)
    assert list(shown) == ["iris/2", "iris/1"]
    text = {key: " ".join(m.value for m in card.markdown) for key, card in shown.items()}
    assert "70% of iris's weighted traffic" in text["iris/1"]
    assert "30% of iris's weighted traffic" in text["iris/2"]
    assert "by `predlog run`" in text["iris/1"]
    events = shown["iris/1"].expander[0].dataframe[0].value
    assert events["Event"].tolist() == ["loaded", "serving", "uploaded"]
    assert events["Where / who"].tolist() == ["host-a/11", "predlog run", "predlog run"]
    own = next(e for e in at.expander if e.label.startswith("iris: traffic changes"))
    table = own.dataframe[0].value
    assert table["Event"].tolist()[0] == "failed"  # newest first: the refused upload
    assert table["Version"].tolist()[0] == "9"
    assert "1=70 2=30" in table["Detail"].tolist()
    shown_metrics = metrics(at)
    assert shown_metrics["Workers on it"] == "1 of 2"
    assert shown_metrics["Workers behind"] == "1"
