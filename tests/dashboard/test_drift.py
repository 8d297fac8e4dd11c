"""The Drift page: its query on both stores, and the page through AppTest.

The store holds 20 minutes of iris/1 traffic drawn as the load generator draws it (the
bundle's training rows, jittered): the first ten minutes as trained, the last ten with
petal_length shifted by two training stds, predicted "virginica" and flagged as outliers
more often. Written through the real StoreWriter with the bundle's bins.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from client.rows import FeatureStat, RowSampler
from client.shift import shift_vector
from dashboard.queries.drift import drift
from dashboard.views.drift import NO_HISTOGRAMS
from dashboard.window import Filters, Window, preset_window
from sidecar.record import PredictionRecord, RowResult
from sidecar.store.drift import Rule
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.references import ReferenceSource
from sidecar.store.writer import StoreWriter
from tests.dashboard.apptest import charts, metrics, start
from tests.records import make_record

PER_MINUTE = 60
MINUTES = 20
SHIFTED = "petal_length"


def traffic(models_dir: Path, now: float) -> list[PredictionRecord]:
    """MINUTES minutes of iris/1 rows, the last half shifted (see the module docstring)."""
    manifest = json.loads((models_dir / "iris" / "1" / "manifest.json").read_text())
    stats = [FeatureStat.from_json(s) for s in manifest["feature_stats"]]
    sample = manifest["sample_rows"]
    calm = RowSampler(stats, 0.0, seed=1, sample=sample)
    moved = RowSampler(
        stats, 0.0, seed=2, sample=sample, shift=shift_vector(stats, [f"{SHIFTED}=2"])
    )
    records: list[PredictionRecord] = []
    start_at = (now // 60 - MINUTES) * 60
    for minute in range(MINUTES):
        shifted = minute >= MINUTES // 2
        rows, _ = (moved if shifted else calm).rows(PER_MINUTE)
        for i, row in enumerate(rows.round(3).tolist()):
            n = len(records) + 1
            flagged = i % (5 if shifted else 50) == 0
            result = RowResult(
                prediction=[0.1, 0.1, 0.8] if shifted else [0.8, 0.1, 0.1],
                label="virginica" if shifted or i % 3 == 0 else "setosa",
                outlier_score=0.9 if flagged else 0.1,
                is_outlier=flagged,
            )
            records.append(
                make_record(
                    n, version="1", event_time=start_at + minute * 60 + i * 0.5, inputs=[row],
                    results=[result],
                )
            )  # fmt: skip
    return records


def fill(url: str, models_dir: Path, now: float) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        StoreWriter(engine, references=ReferenceSource(models_dir)).write(traffic(models_dir, now))
    finally:
        engine.dispose()


@pytest.fixture
def drift_store(store_url: str, models_dir: Path) -> tuple[str, float]:
    now = time.time()
    fill(store_url, models_dir, now)
    return store_url, now


def window_of(now: float, first: int, last: int) -> Window:
    """Minutes [first, last) of the traffic, in 1-minute buckets."""
    base = datetime.fromtimestamp((now // 60 - MINUTES) * 60, UTC)
    return Window(base + timedelta(minutes=first), base + timedelta(minutes=last), 60)


def test_the_query_flags_exactly_the_shifted_feature(drift_store: tuple[str, float]) -> None:
    url, now = drift_store
    engine: Engine = make_engine(url, readonly=True)
    try:
        report = drift(engine, window_of(now, 0, MINUTES), Filters(), Rule())
        calm = drift(engine, window_of(now, 0, MINUTES // 2), Filters(), Rule())
    finally:
        engine.dispose()
    (version,) = report.versions
    assert (version.model, version.version) == ("iris", "1")
    assert version.flagged == [SHIFTED]
    features = version.features.set_index("name")
    assert features.loc[SHIFTED, "test"] == "ks"  # 150 training rows: Evidently's choice
    assert features["psi"].to_dict()[SHIFTED] > 0.1
    assert features.loc[SHIFTED, "rows"] == PER_MINUTE
    # Over the whole window too the shifted feature stands out (petal_width's values sit on
    # its bin edges, which the generator's jitter splits: a PSI the KS test does not share).
    assert features["overall_psi"].idxmax() == SHIFTED
    assert features["overall_psi"].to_dict()[SHIFTED] > 1.0
    assert calm.versions[0].flagged == []
    # every bucket of the calm half is judged and none drifts
    calm_series = calm.versions[0].series
    assert len(calm_series) == 4 * MINUTES // 2
    assert not calm_series["drift"].any()

    bins = version.histograms
    for _, part in bins.groupby("name"):
        assert part["live"].sum() == pytest.approx(1.0)
        assert part["reference"].sum() == pytest.approx(1.0)
        assert part["reference"].iloc[0] == part["reference"].iloc[-1] == 0  # open ends
    prediction = version.prediction_series
    assert prediction["psi"].iloc[-1] > 0.1
    assert prediction["drift"].iloc[-1]
    assert set(version.prediction["label"]) == {"setosa", "virginica"}
    rates = version.outliers["outlier_rate"].tolist()
    assert rates[0] == pytest.approx(2 / PER_MINUTE)
    assert rates[-1] == pytest.approx(12 / PER_MINUTE)


def test_filters_and_empty_windows(drift_store: tuple[str, float]) -> None:
    url, now = drift_store
    engine = make_engine(url, readonly=True)
    try:
        assert (
            drift(engine, window_of(now, 0, MINUTES), Filters("iris", "2"), Rule()).versions == ()
        )
        later = window_of(now, MINUTES + 30, MINUTES + 60)
        assert drift(engine, later, Filters(), Rule()).versions == ()
        only = drift(engine, window_of(now, 0, MINUTES), Filters("iris", "1"), Rule(test="psi"))
    finally:
        engine.dispose()
    features = only.versions[0].features.set_index("name")
    assert features.loc[SHIFTED, "test"] == "psi"
    # PSI over 60 values in 10 bins is noisy (which is why "auto" takes the KS test), but
    # the shifted feature's is an order of magnitude above the others'.
    assert SHIFTED in only.versions[0].flagged
    assert features["psi"].to_dict()[SHIFTED] > 10 * features.drop(SHIFTED)["psi"].max()


def test_drift_page(drift_store: tuple[str, float], monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = drift_store
    at = start(url, monkeypatch)
    at.switch_page("views/drift.py").run()
    assert not at.exception
    shown = metrics(at)
    assert shown["Features drifting"] == "1 of 4"
    assert shown["Drifting"] == SHIFTED
    table = at.dataframe[0].value.set_index("Feature")
    assert table.loc[SHIFTED, "Drift"] == "drift"
    assert set(table["Drift"]) == {"drift", "ok"}
    assert len(charts(at)) == 4  # histogram, PSI, predictions, outlier rate
    assert at.selectbox[0].options == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert json.loads(charts(at)[0].proto.spec)["title"].startswith(SHIFTED)  # the drifting one
    at.selectbox[0].set_value("sepal_width").run()
    assert not at.exception
    assert json.loads(charts(at)[0].proto.spec)["title"].startswith("sepal_width")


def test_drift_page_without_histograms(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    StoreWriter(engine).write([make_record(1, event_time=time.time())])
    engine.dispose()
    at = start(sqlite_url, monkeypatch)
    at.switch_page("views/drift.py").run()
    assert not at.exception
    assert at.info[0].value == NO_HISTOGRAMS


def test_preset_windows_use_minute_buckets_up_to_an_hour() -> None:
    # Drift is judged per bucket: a shift shows in the next minute's bucket.
    assert preset_window("15 min").bucket_seconds == 60
    assert preset_window("1 h").bucket_seconds == 60
