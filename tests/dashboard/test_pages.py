"""Every page through streamlit's AppTest, on stores filled with known records."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

import dashboard
import dashboard.queries.registry as registry_queries
from dashboard import formatting
from dashboard.views.models import NO_MODELS, NO_REGISTRY
from dashboard.views.overview import NO_DATA
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.dashboard import records, registry
from tests.dashboard.conftest import FilledStore, fill

APP = Path(dashboard.__file__).with_name("app.py")


def start(url: str, monkeypatch: pytest.MonkeyPatch, models_dir: Path | None = None) -> AppTest:
    monkeypatch.setenv("PREDLOG_STORE_URL", url)
    monkeypatch.setenv("PREDLOG_MODELS_DIR", str(models_dir or "/nonexistent"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def charts(at: AppTest) -> list[Any]:
    """The page's Altair (Vega-Lite) charts, as AppTest holds them (no typed wrapper)."""
    return list(at.get("vega_lite_chart"))


def chart_data(chart: Any) -> list[pd.DataFrame]:
    """A chart's datasets: Streamlit moves each layer's data into the proto as Arrow bytes."""
    return [
        dataframe_util.convert_arrow_bytes_to_pandas_df(dataset.data.data)
        for dataset in chart.proto.datasets
    ]


@pytest.fixture
def app(filled_store: FilledStore, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app on the filled store, on its default page (Overview, window 1 h)."""
    return start(filled_store.url, monkeypatch, filled_store.models_dir)


def test_overview_shows_what_was_stored(app: AppTest, filled_store: FilledStore) -> None:
    want = records.expected(filled_store.records, filled_store.now - 3600)
    assert want.requests == 47
    shown = metrics(app)
    assert shown["Requests"] == "47"
    assert shown["Errors"] == "7"
    assert shown["Error rate"] == "14.9%"  # 7 / 47
    assert shown["Outlier requests"] == "4"
    assert shown["Outlier rate"] == "8.5%"  # 4 / 47
    assert shown["Calls per minute"] == "0.8"  # 47 in 60 minutes
    assert shown["p50 latency"] == formatting.ms(want.percentile(0.5))
    assert shown["p95 latency"] == formatting.ms(want.percentile(0.95))
    assert shown["p99 latency"] == formatting.ms(want.percentile(0.99))
    assert shown["Mean latency"] == formatting.ms(sum(want.latencies) / 47)
    assert shown["Dead letters"] == "1"
    assert shown["Lost records"] == "1"
    series = app.dataframe[0].value
    assert len(series) == 60
    assert series["requests"].sum() == 47
    shown_charts = charts(app)
    assert len(shown_charts) == 4
    lines = [sorted(set(chart_data(chart)[0]["series"])) for chart in shown_charts]
    assert ["p50", "p95", "p99"] in lines  # the latency chart, in the order the columns fill


def test_sidebar_window_and_filters_change_the_figures(app: AppTest) -> None:
    app.selectbox(key="window").set_value("24 h").run()
    assert metrics(app)["Requests"] == "53"  # the batch from three hours ago joins
    app.selectbox(key="model").set_value("iris").run()
    assert app.selectbox(key="version").options == ["All", "1", "2"]
    app.selectbox(key="version").set_value("2").run()
    shown = metrics(app)
    assert (shown["Requests"], shown["Errors"], shown["Outlier requests"]) == ("12", "2", "1")
    app.selectbox(key="window").set_value("15 min").run()
    assert metrics(app)["Requests"] == "12"
    app.toggle(key="auto_refresh").set_value(True).run()
    assert not app.exception
    assert metrics(app)["Requests"] == "12"


def test_versions_page(app: AppTest) -> None:
    app.switch_page("views/versions.py").run()
    assert not app.exception
    table = app.dataframe[0].value.set_index(["Model", "Version"])
    assert table.loc[("iris", "1"), "Requests"] == 30
    assert table.loc[("iris", "2"), "Requests"] == 12
    assert table.loc[("(no model)", ""), "Requests"] == 5
    assert table.loc[("iris", "2"), "Errors"] == 2
    assert table.loc[("iris", "2"), "Error rate"] == pytest.approx(2 / 12)
    assert table.loc[("iris", "1"), "Outliers"] == 3
    assert table.loc[("iris", "1"), "Share"] == pytest.approx(30 / 47)
    assert table.loc[("iris", "2"), "Mean ms"] == pytest.approx((10 * 40.0 + 2 * 0.8) / 12)
    assert len(charts(app)) == 5  # share, calls; p95, error and outlier rate per version


def test_outliers_page(app: AppTest, filled_store: FilledStore) -> None:
    app.switch_page("views/outliers.py").run()
    assert not app.exception
    shown = metrics(app)
    assert shown["Outlier requests"] == "4"
    assert shown["Rows scored"] == "48"
    assert shown["Outlier rows"] == "4"
    latest = app.dataframe[0].value
    assert list(latest["job_id"]) == ["job-0025", "job-0026", "job-0027", "job-0040"]
    by_job = {r.job_id: r for r in filled_store.records}
    for job_id, inputs in latest[["job_id", "Inputs"]].itertuples(index=False):
        assert json.loads(inputs) == by_job[job_id].inputs
    # threshold lines: iris/1 from its manifest, iris/2 from the default
    scores = charts(app)[0]
    spec = json.loads(scores.proto.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "rule", "text"]
    assert spec["layer"][1]["mark"]["strokeDash"]  # dashed
    frames = chart_data(scores)
    rules = next(f for f in frames if "threshold" in f.columns)
    assert dict(zip(rules["label"], rules["threshold"], strict=True)) == {
        "threshold 0.5 (iris/2)": 0.5,
        f"threshold {records.THRESHOLD_V1:g} (iris/1)": records.THRESHOLD_V1,
    }
    histogram = next(f for f in frames if "rows" in f.columns)
    bars = histogram.groupby("series")["rows"].sum().to_dict()
    assert bars == {"iris/1": 36, "iris/2": 10}  # rows per version; failed requests unscored
    assert any("iris/2" in c.value and "0.5" in c.value for c in app.caption)


def test_requests_page_lookup_and_filters(app: AppTest, filled_store: FilledStore) -> None:
    app.switch_page("views/requests.py").run()
    assert not app.exception
    recent = app.dataframe[-1].value
    assert len(recent) == 47
    assert recent["job_id"].iloc[0] == "job-0001"
    app.selectbox(key="status").set_value(503).run()
    assert sorted(app.dataframe[-1].value["job_id"]) == ["job-0041", "job-0042"]
    app.selectbox(key="status").set_value(None).run()
    app.selectbox(key="outlier").set_value("Outliers only").run()
    assert len(app.dataframe[-1].value) == 4

    app.text_input(key="lookup").set_value(records.LOOKUP_REQUEST).run()
    assert not app.exception
    shown = metrics(app)
    assert shown["Status"] == "200"
    assert shown["Model"] == "iris/2"
    assert shown["Outlier"] == "yes"
    assert shown["Latency"] == "40.0 ms"
    assert shown["Inference"] == "20.0 ms"
    record = next(r for r in filled_store.records if r.job_id == records.LOOKUP_JOB)
    stored = json.loads(app.json[0].value)
    assert stored["job_id"] == records.LOOKUP_JOB
    assert stored["inputs"] == record.inputs
    rows = app.dataframe[0].value
    assert rows["outlier_score"].tolist() == [0.75]
    assert record.inputs is not None
    assert rows["x0"].tolist() == [record.inputs[0][0]]

    app.text_input(key="lookup").set_value("job-0001").run()
    rows = app.dataframe[0].value  # iris/1 has a manifest: named features
    first = filled_store.records[0].inputs
    assert first is not None
    assert rows["sepal_length"].tolist() == [first[0][0]]

    app.text_input(key="lookup").set_value("no-such-job").run()
    assert "No request with job_id or request id `no-such-job`." in app.warning[0].value


@pytest.mark.parametrize("page", ["views/versions.py", "views/outliers.py", "views/requests.py"])
def test_window_without_data(store_url: str, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    fill(store_url, time.time() - 10 * 3600)  # everything ten hours back
    at = start(store_url, monkeypatch)
    assert at.info[0].value == NO_DATA
    at.switch_page(page).run()
    assert not at.exception
    assert at.info[0].value in {NO_DATA, "No requests in this window match these filters."}


def test_empty_store(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    at = start(sqlite_url, monkeypatch)
    assert "holds no requests yet" in at.info[0].value
    assert not at.metric


def test_store_without_schema(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_engine(sqlite_url).connect().close()  # creates the empty file
    at = start(sqlite_url, monkeypatch)
    assert "has no predlog schema" in at.error[0].value
    assert "predlog db upgrade" in at.error[0].value


@pytest.mark.parametrize(
    "url",
    ["sqlite:////nonexistent/dir/store.db", "postgresql+psycopg://u:secret@127.0.0.1:1/predlog"],
)
def test_unreachable_store(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = start(url, monkeypatch)
    message = at.error[0].value
    assert message.startswith("Cannot read the log store at")
    assert "secret" not in message  # the password is never shown
    at.switch_page("views/requests.py").run()
    assert not at.exception
    assert at.error[0].value.startswith("Cannot read the log store at")


def test_store_error_inside_a_page_is_a_message(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(sqlite_url, time.time())
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE dead_letters")  # an older or damaged schema
    engine.dispose()
    at = start(sqlite_url, monkeypatch)
    assert metrics(at)["Requests"] == "47"  # drawn before the failing query
    assert "failed: no such table: dead_letters" in at.error[0].value


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
