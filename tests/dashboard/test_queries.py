"""The dashboard's query functions, called directly on a store filled with known records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from msgspec import to_builtins
from sqlalchemy import Engine

from dashboard import queries
from dashboard.window import Filters, custom_window, preset_window
from sidecar.store.engine import make_engine
from sidecar.store.histogram import score_bucket
from sidecar.store.migrate import upgrade
from tests.dashboard import records
from tests.dashboard.conftest import FilledStore


def test_overview_totals_match_the_records(filled_store: FilledStore, read_engine: Engine) -> None:
    for label in ("1 h", "24 h"):
        window = preset_window(label)
        want = records.expected(filled_store.records, window.start.timestamp())
        got = queries.overview(read_engine, window, Filters()).totals
        assert (got.requests, got.errors, got.outlier_requests) == (
            want.requests, want.errors, want.outlier_requests,
        )  # fmt: skip
        assert (got.rows, got.outlier_rows) == (want.rows, want.outlier_rows)
        assert got.p50_ms == pytest.approx(want.percentile(0.5))
        assert got.p95_ms == pytest.approx(want.percentile(0.95))
        assert got.p99_ms == pytest.approx(want.percentile(0.99))
        assert got.latency_mean_ms == pytest.approx(sum(want.latencies) / want.requests)
        assert got.latency_max_ms == max(want.latencies)
        assert got.calls_per_minute == pytest.approx(want.requests / window.minutes)
    # the old batch only shows in the long window
    assert queries.overview(read_engine, preset_window("1 h"), Filters()).totals.requests == 47
    assert queries.overview(read_engine, preset_window("24 h"), Filters()).totals.requests == 53


def test_overview_series_covers_every_bucket(
    filled_store: FilledStore, read_engine: Engine
) -> None:
    window = preset_window("1 h")
    series = queries.overview(read_engine, window, Filters()).series
    assert len(series) == 60  # one-minute buckets, empty ones included
    assert series["time"].is_monotonic_increasing
    assert series["requests"].sum() == 47
    assert series["errors"].sum() == 7
    per_minute: dict[datetime, int] = {}
    for record in filled_store.records:
        if record.event_time >= window.start.timestamp():
            minute = datetime.fromtimestamp(record.event_time - record.event_time % 60, UTC)
            per_minute[minute] = per_minute.get(minute, 0) + 1
    got = {t.to_pydatetime(): n for t, n in zip(series["time"], series["requests"], strict=True)}
    assert {t: n for t, n in got.items() if n} == per_minute
    # full one-minute buckets: calls per minute is the count
    busy = series[series["requests"] > 0]
    assert (busy["calls_per_minute"] == busy["requests"]).all()
    assert series.loc[series["requests"] == 0, "p50_ms"].isna().all()


def test_filters_narrow_every_aggregate(filled_store: FilledStore, read_engine: Engine) -> None:
    window = preset_window("1 h")
    v2 = queries.overview(read_engine, window, Filters("iris", "2")).totals
    assert (v2.requests, v2.errors, v2.outlier_requests) == (12, 2, 1)
    iris = queries.overview(read_engine, window, Filters("iris")).totals
    assert iris.requests == 42  # everything but the 5 requests that reached no model
    nothing = queries.overview(read_engine, window, Filters("iris", "9")).totals
    assert nothing.requests == 0
    assert nothing.p50_ms is None
    assert nothing.error_rate is None


def test_versions_summary_and_share(filled_store: FilledStore, read_engine: Engine) -> None:
    window = preset_window("1 h")
    stats = queries.versions(read_engine, window, Filters())
    summary = stats.summary.set_index(["model", "version"])
    assert summary.loc[("iris", "1"), "requests"] == 30
    assert summary.loc[("iris", "2"), "requests"] == 12
    assert summary.loc[("", ""), "requests"] == 5
    assert summary.loc[("iris", "2"), "errors"] == 2
    assert summary.loc[("iris", "2"), "error_rate"] == pytest.approx(2 / 12)
    assert summary.loc[("iris", "1"), "outlier_rate"] == pytest.approx(3 / 30)
    assert summary.loc[("iris", "1"), "share"] == pytest.approx(30 / 47)
    assert summary.loc[("iris", "2"), "mean_ms"] == pytest.approx((10 * 40.0 + 2 * 0.8) / 12)
    v1 = records.Expected(30, 0, 3, 0, 0, [4.0] * 27 + [12.0] * 3)
    assert summary.loc[("iris", "1"), "p95_ms"] == pytest.approx(v1.percentile(0.95))
    # shares add up to one in every bucket that had traffic
    busy = stats.series[stats.series.groupby("time")["requests"].transform("sum") > 0]
    sums = busy.groupby("time")["share"].sum()
    assert sums.to_numpy() == pytest.approx([1.0] * len(sums))
    assert stats.series["requests"].sum() == 47
    # every bucket of the window for each of the three versions, zeros included
    assert len(stats.series) == 60 * 3
    assert (stats.series.groupby(["model", "version"])["requests"].sum() == [5, 30, 12]).all()
    # per version over time: error and outlier rates and p95, gaps where it had no requests
    series = stats.series
    v2 = series[(series["model"] == "iris") & (series["version"] == "2")]
    idle = v2[v2["requests"] == 0]
    busy = v2[v2["requests"] > 0]
    assert idle[["error_rate", "outlier_rate", "p95_ms"]].isna().all().all()
    assert (busy["error_rate"] * busy["requests"]).sum() == pytest.approx(2)
    first = series[(series["model"] == "iris") & (series["version"] == "1")]
    assert (first["outlier_rate"] * first["requests"]).sum() == pytest.approx(3)
    assert first[first["requests"] > 0]["p95_ms"].notna().all()


def test_outliers_count_every_scored_row(filled_store: FilledStore, read_engine: Engine) -> None:
    window = preset_window("1 h")
    stats = queries.outliers(read_engine, window, Filters())
    histogram = stats.histogram
    want: dict[tuple[str, str, float], int] = {}
    for record in filled_store.records:
        if record.event_time < window.start.timestamp():
            continue
        for row in record.results or ():
            assert row.outlier_score is not None  # every known record is scored
            key = (record.model or "", record.version or "", score_bucket(row.outlier_score) / 20)
            want[key] = want.get(key, 0) + 1
    got = {
        (m, v, low): n
        for m, v, low, n in histogram[["model", "version", "low", "rows"]].itertuples(index=False)
        if n
    }
    assert got == pytest.approx(want)
    assert histogram["rows"].sum() == 46  # 48 rows less the 2 of the 503s (never scored)
    assert (stats.requests, stats.outlier_requests, stats.rows, stats.outlier_rows) == (
        47,
        4,
        48,
        4,
    )
    assert stats.outlier_rate == 4 / 47
    assert len(stats.series) == 60
    overview = queries.overview(read_engine, window, Filters()).series
    assert stats.series["outlier_rate"].equals(overview["outlier_rate"])
    assert stats.series["requests"].tolist() == overview["requests"].tolist()


def test_choices_and_integrity(filled_store: FilledStore, read_engine: Engine) -> None:
    window = preset_window("1 h")
    choices = queries.choices(read_engine, window)
    assert choices.versions == (("", ""), ("iris", "1"), ("iris", "2"))
    assert choices.models == ["", "iris"]
    assert choices.versions_of("iris") == ["1", "2"]
    assert choices.statuses == (200, 422, 503)
    assert queries.integrity(read_engine, window) == queries.Integrity(1, 1)
    past = custom_window(datetime(2020, 1, 1), datetime(2020, 1, 2))
    assert queries.integrity(read_engine, past) == queries.Integrity(0, 0)


def test_recent_requests_filters(filled_store: FilledStore, read_engine: Engine) -> None:
    window = preset_window("1 h")
    everything = queries.recent_requests(read_engine, window, Filters(), limit=1000)
    assert len(everything) == 47
    assert everything["event_time"].is_monotonic_decreasing
    assert everything["job_id"].iloc[0] == "job-0001"  # the newest
    assert len(queries.recent_requests(read_engine, window, Filters(), limit=5)) == 5
    v2 = queries.recent_requests(read_engine, window, Filters("iris", "2"), limit=1000)
    assert set(v2["version"]) == {"2"}
    assert len(v2) == 12
    failed = queries.recent_requests(read_engine, window, Filters(), status=503)
    assert set(failed["job_id"]) == {"job-0041", "job-0042"}
    no_model = queries.recent_requests(read_engine, window, Filters("", ""), limit=1000)
    assert len(no_model) == 5
    assert no_model["model"].isna().all()
    outliers = queries.recent_requests(read_engine, window, Filters(), outlier=True)
    assert sorted(outliers["job_id"]) == ["job-0025", "job-0026", "job-0027", "job-0040"]
    calm = queries.recent_requests(read_engine, window, Filters(), outlier=False, limit=1000)
    assert len(calm) == 43


def test_latest_outliers_carry_inputs(filled_store: FilledStore, read_engine: Engine) -> None:
    window = preset_window("1 h")
    latest = queries.latest_outliers(read_engine, window, Filters())
    by_job = {record.job_id: record for record in filled_store.records}
    assert list(latest["job_id"]) == ["job-0025", "job-0026", "job-0027", "job-0040"]
    for job_id, inputs, scores in latest[["job_id", "inputs", "scores"]].itertuples(index=False):
        record = by_job[job_id]
        assert inputs == record.inputs
        assert scores == [row.outlier_score for row in record.results or ()]
    v2 = queries.latest_outliers(read_engine, window, Filters("iris", "2"))
    assert list(v2["job_id"]) == [records.LOOKUP_JOB]


def test_find_requests_by_job_id_and_request_id(
    filled_store: FilledStore, read_engine: Engine
) -> None:
    by_job = queries.find_requests(read_engine, records.LOOKUP_JOB)
    by_request = queries.find_requests(read_engine, f"  {records.LOOKUP_REQUEST} ")
    assert by_job == by_request
    assert len(by_job) == 1
    found = by_job[0]
    record = next(r for r in filled_store.records if r.job_id == records.LOOKUP_JOB)
    assert found["inputs"] == record.inputs
    assert found["results"] == [to_builtins(row) for row in record.results or ()]
    assert found["latency_ms"] == record.latency_ms
    assert found["status"] == 200
    assert found["event_time"].timestamp() == pytest.approx(record.event_time, abs=1e-5)
    assert queries.find_requests(read_engine, "no-such-job") == []
    assert queries.find_requests(read_engine, "  ") == []


def test_store_status_tells_empty_missing_and_unreachable(store_url: str, tmp_path: Path) -> None:
    engine = make_engine(store_url)
    try:
        assert queries.store_status(engine).state == "no_schema"
        upgrade(engine)
        assert queries.store_status(engine).state == "empty"
        window = preset_window("15 min")
        assert queries.overview(engine, window, Filters()).totals.requests == 0
        assert queries.versions(engine, window, Filters()).summary.empty
        assert queries.recent_requests(engine, window, Filters()).empty
        assert queries.latest_outliers(engine, window, Filters()).empty
        empty = queries.outliers(engine, window, Filters())
        assert empty.requests == 0
        assert empty.histogram.empty
        assert len(empty.series) == 15
    finally:
        engine.dispose()
    missing = make_engine(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}", readonly=True)
    status = queries.store_status(missing)
    assert status.state == "unreachable"
    assert "unable to open" in status.detail
    refused = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", readonly=True)
    assert queries.store_status(refused).state == "unreachable"


def test_custom_window_edges(filled_store: FilledStore, read_engine: Engine) -> None:
    # A custom window that ends before the recent batches holds only the old ones.
    now = datetime.fromtimestamp(filled_store.now, UTC)
    window = custom_window(now - timedelta(hours=4), now - timedelta(hours=2))
    totals = queries.overview(read_engine, window, Filters()).totals
    assert totals.requests == 6
    assert totals.p50_ms == pytest.approx(
        records.Expected(6, 0, 0, 6, 0, [100.0] * 6).percentile(0.5)
    )
