"""The Quality page: its query on both stores, and the page through AppTest."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dashboard.queries.quality import quality
from dashboard.window import Filters, preset_window
from sidecar.store.engine import make_engine
from tests.dashboard import quality_records
from tests.dashboard.apptest import metrics, start


@pytest.fixture
def now() -> float:
    return time.time()


@pytest.fixture
def quality_url(store_url: str, now: float) -> str:
    quality_records.fill(store_url, now)
    return store_url


@pytest.fixture
def engine(quality_url: str) -> Iterator[Engine]:
    engine = make_engine(quality_url, readonly=True)
    yield engine
    engine.dispose()


def test_quality_per_version(engine: Engine, now: float) -> None:
    window = preset_window("1 h", datetime.fromtimestamp(now, UTC))
    stats = quality(engine, window, Filters())
    table = {(r["model"], r["version"]): r for r in stats.versions.to_dict("records")}
    iris = table[("iris", "1")]
    assert (iris["kind"], iris["rows"], iris["feedback"], iris["unusable"]) == (
        "classifier",
        10,
        10,
        0,
    )
    assert iris["accuracy"] == pytest.approx(0.8)
    assert iris["share"] == pytest.approx(1.0)
    assert iris["mean_delay_s"] == pytest.approx(quality_records.DELAY)
    assert math.isnan(iris["mae"])
    two = table[("iris", "2")]
    assert (two["feedback"], two["unusable"], two["rows"], two["kind"]) == (0, 1, 5, "")
    assert two["share"] == pytest.approx(0.2)
    house = table[("house", "1")]
    assert house["kind"] == "regressor"
    assert house["mae"] == pytest.approx(0.625)
    assert house["rmse"] == pytest.approx(0.75)
    assert house["bias"] == pytest.approx(-0.125)  # predicted minus true, on average
    assert math.isnan(house["accuracy"])
    assert stats.feedback == 15
    assert stats.unmatched == 2


def test_confusion_classes_and_delays(engine: Engine, now: float) -> None:
    window = preset_window("1 h", datetime.fromtimestamp(now, UTC))
    stats = quality(engine, window, Filters(model="iris", version="1"))
    assert set(stats.versions["version"]) == {"1"}
    assert int(stats.confusion["count"].sum()) == 10
    right = stats.confusion[stats.confusion["truth"] == stats.confusion["predicted"]]
    assert int(right["count"].sum()) == 8
    classes = stats.classes
    assert int(classes["support"].sum()) == 10
    assert int(classes["predicted"].sum()) == 10
    for row in classes.to_dict("records"):
        tp = int(right.loc[right["truth"] == row["label"], "count"].sum())
        if row["predicted"]:
            assert row["precision"] == pytest.approx(tp / row["predicted"])
        if row["support"]:
            assert row["recall"] == pytest.approx(tp / row["support"])
    delays = stats.delays.set_index("delay")["count"]
    assert delays["≤ 10 min"] == 10
    assert int(delays.sum()) == 10
    series = stats.series
    assert int(series["feedback"].sum()) == 10
    assert set(series["accuracy"].dropna()) <= {0.0, 1.0}


def test_an_empty_window_has_no_quality(engine: Engine, now: float) -> None:
    window = preset_window("15 min", datetime.fromtimestamp(now + 7200, UTC))
    stats = quality(engine, window, Filters())
    assert stats.versions.empty
    assert stats.feedback == 0
    assert stats.unmatched == 0


def test_quality_page(quality_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = start(quality_url, monkeypatch, tmp_path)
    at.switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    shown = metrics(at)
    assert shown["Feedback joined"] == "15"
    assert shown["Unmatched feedback"] == "2"
    shown_rows = at.dataframe[0].value.to_dict("records")
    table = {(r["Model"], r["Version"]): r for r in shown_rows}
    assert table[("iris", "1")]["Accuracy"] == pytest.approx(0.8)
    assert table[("house", "1")]["RMSE"] == pytest.approx(0.75)
    assert table[("iris", "2")]["Unusable"] == 1
    assert any("iris/1" in s.value for s in at.subheader)


def test_quality_page_without_feedback(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.dashboard.conftest import fill

    fill(store_url, time.time())
    at = start(store_url, monkeypatch, tmp_path)
    at.switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    assert "POST /feedback" in at.info[0].value


def test_windows_of_days_read_the_hourly_rollups_as_the_minutes_say(
    store_url: str, now: float
) -> None:
    from sidecar.record import FeedbackRecord
    from sidecar.store.migrate import upgrade
    from sidecar.store.writer import StoreWriter
    from tests.records import make_record

    writer_engine = make_engine(store_url)
    upgrade(writer_engine)
    predictions = [
        make_record(500 + k, n_rows=1, event_time=now - k * 5 * 3600 - 17 * 60) for k in range(31)
    ]
    truths = [
        FeedbackRecord(
            job_id=p.job_id,
            label=(p.results[0].label or "") if p.results and k % 2 == 0 else "nothing",
            event_time=p.event_time + 30,
        )
        for k, p in enumerate(predictions)
    ]
    StoreWriter(writer_engine).write(predictions, feedback=truths)
    writer_engine.dispose()
    engine = make_engine(store_url, readonly=True)
    try:
        window = preset_window("7 days", datetime.fromtimestamp(now, UTC))
        assert window.bucket_seconds % 3600 == 0
        stats = quality(engine, window, Filters())
        assert int(stats.versions["feedback"].sum()) == 31
        right = int(stats.confusion.query("truth == predicted")["count"].sum())
        assert right == 16
        # The same cells, bucket by bucket, as the minute rollups alone give them.
        from dashboard.queries import quality as queries
        from dashboard.window import floor_minute
        from sidecar.store.schema import quality_rollups

        frame = queries._quality_frame(engine, window, Filters())
        minutes = queries._cells(
            engine, quality_rollups, floor_minute(window.start), window.end,
            window.bucket_seconds, Filters(),
        )  # fmt: skip
        keys = ["bucket", "model", "version", "truth", "predicted"]
        got = frame.sort_values(keys, ignore_index=True)
        want = minutes.sort_values(keys, ignore_index=True)
        assert got["bucket"].tolist() == want["bucket"].astype("int64").tolist()
        assert got["matched"].tolist() == want["matched"].astype("int64").tolist()
        assert got["delay_sum_s"].tolist() == pytest.approx(
            want["delay_sum_s"].astype(float).tolist()
        )
    finally:
        engine.dispose()
