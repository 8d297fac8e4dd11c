"""The Models page's queries (dashboard.queries.registry) on SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from dashboard import queries
from dashboard.window import Filters, preset_window
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.schema import deploy_events
from tests.dashboard import registry
from tests.dashboard.conftest import FilledStore

FILLED = datetime.now(UTC)
"""When the registry rows are written: worker states are read relative to it."""


@pytest.fixture
def registry_engine(filled_store: FilledStore) -> Iterator[Engine]:
    """A read-only engine on the filled store with the known registry rows (written at FILLED)."""
    registry.fill_registry(filled_store.url, FILLED)
    engine = make_engine(filled_store.url, readonly=True)
    yield engine
    engine.dispose()


def test_versions_in_card_order_with_their_share(registry_engine: Engine) -> None:
    got = queries.model_registry(registry_engine, Filters())
    assert got.has_tables
    assert got.generation == registry.GENERATION
    versions = got.versions
    # by model; serving, shadow, failed, retired; newest first within a state
    assert list(zip(versions["model"], versions["version"], versions["state"], strict=True)) == [
        ("churn", "1", "serving"),
        ("iris", "2", "serving"),
        ("iris", "1", "serving"),
        ("iris", "4", "shadow"),
        ("iris", "3", "failed"),
        ("iris", "0", "retired"),
    ]
    by_key = versions.set_index(["model", "version"])
    assert by_key.loc[("iris", "1"), "share"] == pytest.approx(0.9)
    assert by_key.loc[("iris", "2"), "share"] == pytest.approx(0.1)
    assert by_key.loc[("churn", "1"), "share"] == pytest.approx(1.0)
    assert by_key.loc[("iris", "4"), "share"] == 0.0
    assert by_key.loc[("iris", "4"), "shadow_fraction"] == pytest.approx(0.25)
    assert by_key.loc[("churn", "1"), "task"] == "regression"
    assert by_key.loc[("iris", "2"), "description"] == "Iris, random forest"
    assert by_key.loc[("iris", "2"), "created_by"] == "alice"
    mine = (versions["model"] == "iris") & (versions["version"] == "2")
    created = pd.Timestamp(versions.loc[mine, "created_at"].iloc[0]).to_pydatetime()
    assert created.tzinfo is not None
    assert created == FILLED - timedelta(minutes=200)


def test_workers_behind_and_silent(registry_engine: Engine) -> None:
    got = queries.model_registry(registry_engine, Filters())
    workers = got.workers.set_index(["host", "pid"])
    assert workers["generation"].to_dict() == {
        ("host-a", 101): registry.GENERATION,
        ("host-a", 102): registry.GENERATION - 1,
        ("host-b", 201): 3,
    }
    assert workers["behind"].to_dict() == {
        ("host-a", 101): 0,
        ("host-a", 102): 1,
        ("host-b", 201): registry.GENERATION - 3,
    }
    states = got.worker_states(FILLED + timedelta(seconds=5))
    by_pid = dict(zip(got.workers["pid"], states, strict=True))
    assert by_pid == {101: "current", 102: "behind", 201: "silent"}
    assert list(got.workers["pid"])[-1] == 201  # newest report first


def test_filters_narrow_the_registry(registry_engine: Engine) -> None:
    iris = queries.model_registry(registry_engine, Filters("iris")).versions
    assert set(iris["model"]) == {"iris"}
    assert len(iris) == 5
    one = queries.model_registry(registry_engine, Filters("iris", "3")).versions
    assert list(one["version"]) == ["3"]
    log = queries.deploy_log(registry_engine, Filters("iris", "3"))
    # the version's own events and the model's (weights), not other versions'
    assert set(zip(log["version"].fillna("-"), log["event"], strict=True)) == {
        ("3", "uploaded"),
        ("3", "failed"),
        ("-", "weights"),
    }


def test_deploy_log_newest_first_with_workers_and_errors(registry_engine: Engine) -> None:
    log = queries.deploy_log(registry_engine, Filters())
    assert len(log) == len(registry.EVENTS)
    assert log["at"].is_monotonic_decreasing  # newest first, across versions too
    v1 = log[(log["model"] == "iris") & (log["version"] == "1")]
    assert list(v1["event"]) == ["serving", "loaded", "loaded", "uploaded"]
    assert v1["at"].is_monotonic_decreasing
    loaded = v1[v1["event"] == "loaded"]
    assert sorted(zip(loaded["host"], loaded["pid"], strict=True)) == [
        ("host-a", 101),
        ("host-a", 102),
    ]
    failed = log[(log["version"] == "3") & (log["event"] == "failed")]
    assert failed["detail"].tolist() == [registry.FAILED_ERROR]
    model_wide = log[log["version"].isna()]
    assert model_wide[["model", "event", "detail"]].values.tolist() == [
        ["iris", "weights", "1=90 2=10"]
    ]


def test_deploy_log_keeps_the_newest_of_each_version(
    filled_store: FilledStore, registry_engine: Engine
) -> None:
    writer = make_engine(filled_store.url)
    try:
        with writer.begin() as conn:
            now = datetime.now(UTC)
            conn.execute(
                insert(deploy_events),
                [
                    {"at": now, "model": "iris", "version": "2", "event": "loaded",
                     "host": "host-c", "pid": pid}
                    for pid in range(1000, 1010)
                ],
            )  # fmt: skip
    finally:
        writer.dispose()
    log = queries.deploy_log(registry_engine, Filters(), limit=3)
    v2 = log[(log["model"] == "iris") & (log["version"] == "2")]
    assert v2["pid"].tolist() == [1009, 1008, 1007]
    v1 = log[(log["model"] == "iris") & (log["version"] == "1")]
    assert len(v1) == 3  # of its four
    assert len(log[log["version"] == "3"]) == 2  # of its two


def test_version_traffic_from_the_rollups(registry_engine: Engine) -> None:
    window = preset_window("1 h")
    traffic = queries.version_traffic(registry_engine, window, Filters())
    totals = traffic.groupby(["model", "version"])["requests"].sum().to_dict()
    assert totals == {("iris", "1"): 30, ("iris", "2"): 12}  # no '' model
    assert traffic.groupby(["model", "version"])["errors"].sum().to_dict() == {
        ("iris", "1"): 0,
        ("iris", "2"): 2,
    }
    # one-minute buckets, all inside the window: requests per minute is the count
    assert (traffic["per_minute"] == traffic["requests"]).all()
    series = queries.version_series(traffic, window, "iris", "2")
    assert len(series) == 60
    assert series["requests"].sum() == 12
    assert series["time"].is_monotonic_increasing
    none = queries.version_series(traffic, window, "iris", "4")
    assert len(none) == 60
    assert none["requests"].sum() == 0
    # ten-minute buckets over a day: per minute is a tenth of the count
    day_window = preset_window("24 h")
    day = queries.version_traffic(registry_engine, day_window, Filters("iris", "1"))
    assert day["requests"].sum() == 36  # the old batch joins
    inside = (day["time"] >= day_window.start) & (
        day["time"] + timedelta(minutes=10) <= day_window.end
    )
    full = day[inside]
    assert len(full)
    assert (full["per_minute"] * 10 == full["requests"]).all()


def test_an_empty_registry(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine)
    try:
        got = queries.model_registry(engine, Filters())
        assert got.has_tables
        assert got.generation == 0
        assert got.versions.empty
        assert got.workers.empty
        assert got.worker_states(datetime.now(UTC)) == []
        assert queries.deploy_log(engine, Filters()).empty
        assert queries.version_traffic(engine, preset_window("1 h"), Filters()).empty
    finally:
        engine.dispose()


def test_a_store_from_before_the_registry(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0003")
    try:
        got = queries.model_registry(engine, Filters())
        assert not got.has_tables
        assert got.generation is None
        assert got.versions.empty
        assert queries.deploy_log(engine, Filters()).empty
    finally:
        engine.dispose()
