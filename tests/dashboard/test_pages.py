"""Every page but Models through streamlit's AppTest, on stores filled with known records."""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import formatting
from dashboard.views.overview import NO_DATA
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.dashboard import records
from tests.dashboard.apptest import chart_data, charts, metrics, start
from tests.dashboard.conftest import FilledStore, fill


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
