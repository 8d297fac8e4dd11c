"""Feature histogram rollups: bins from the bundles, counted once, in the rows' transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from msgspec.structs import replace
from sqlalchemy import Engine, insert, inspect, select

from sidecar.record import RowResult
from sidecar.store.bins import BIN_COLUMNS, MAX_INTERIOR_BINS, PREDICTION_SLOT
from sidecar.store.engine import make_engine
from sidecar.store.histograms import bin_index
from sidecar.store.migrate import alembic_config, current_revision, head_revision, upgrade
from sidecar.store.references import REGRESSION_EDGES, ReferenceSource, from_manifest, merge_bins
from sidecar.store.rollup import minute_of
from sidecar.store.schema import (
    feature_references,
    feature_rollups,
    feature_rollups_hourly,
    model_versions,
)
from sidecar.store.writer import StoreWriter
from tests.records import LABELS, T0, error_record, make_record


def rows_of(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table))]


def expected_counts(edges: list[float], values: list[float]) -> list[int]:
    """Open end bins around np.histogram's own counts (its last bin closed)."""
    low = sum(v < edges[0] for v in values)
    high = sum(v > edges[-1] for v in values)
    inside, _ = np.histogram([v for v in values if edges[0] <= v <= edges[-1]], bins=edges)
    return [low, *inside.tolist(), high]


def test_bin_index_has_open_ends_and_a_closed_last_bin() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    values = np.array([-5.0, 0.0, 0.5, 1.0, 2.0, 2.5])
    assert bin_index(edges, values).tolist() == [0, 1, 1, 2, 2, 3]


def test_merge_bins_keeps_the_ends_and_sums_the_counts() -> None:
    edges = [float(i) for i in range(65)]
    counts = list(range(64))
    kept, merged = merge_bins(edges, counts)
    assert kept[0] == 0.0
    assert kept[-1] == 64.0
    assert len(kept) - 1 <= MAX_INTERIOR_BINS
    assert merged is not None
    assert sum(merged) == sum(counts)
    assert len(merged) == len(kept) - 1
    assert merge_bins([0.0, 1.0], [3]) == ([0.0, 1.0], [3])


def test_a_manifest_without_bins_gets_equal_width_bins(models_dir: Path) -> None:
    data = json.loads((models_dir / "iris" / "1" / "manifest.json").read_text())
    for stats in data["feature_stats"]:
        del stats["bin_edges"], stats["bin_counts"]
    reference = from_manifest(data)
    first = reference.features[0]
    assert first.reference is None
    assert first.edges is not None
    assert first.edges[0] == data["feature_stats"][0]["min"]
    assert reference.prediction.labels == ("setosa", "versicolor", "virginica")


def test_histograms_count_every_stored_row_once_on_the_bundles_bins(
    engine: Engine, models_dir: Path
) -> None:
    writer = StoreWriter(engine, references=ReferenceSource(models_dir))
    records = [make_record(n, version="1") for n in range(1, 121)]
    records.append(error_record(500))
    writer.write(records[:60])
    writer.write(records)  # the first 60 again: duplicates, not counted twice

    manifest = json.loads((models_dir / "iris" / "1" / "manifest.json").read_text())
    stored = rows_of(engine, feature_rollups)
    assert {(r["model"], r["version"]) for r in stored} == {("iris", "1")}
    ok = [r for r in records if r.results]
    for index, stats in enumerate(manifest["feature_stats"]):
        values = [row[index] for r in ok for row in r.inputs or ()]
        got = [0] * (len(stats["bin_edges"]) + 1)
        for row in stored:
            if row["feature"] == index:
                for i in range(len(got)):
                    got[i] += row[BIN_COLUMNS[i]]
        assert got == expected_counts(stats["bin_edges"], values), stats["name"]
        assert sum(r["rows"] for r in stored if r["feature"] == index) == len(values)
    classes = [0] * len(LABELS)
    for row in stored:
        if row["feature"] == PREDICTION_SLOT:
            for i in range(len(LABELS)):
                classes[i] += row[BIN_COLUMNS[i]]
    wanted = [sum(res.label == label for r in ok for res in r.results or ()) for label in LABELS]
    assert classes == wanted
    minutes = {row["minute"] for row in stored}
    assert min(minutes) == minute_of(T0)  # the rollups' minutes

    refs = rows_of(engine, feature_references)
    assert len(refs) == len(manifest["feature_names"]) + 1
    first = next(r for r in refs if r["feature"] == 0)
    assert first["edges"] == manifest["feature_stats"][0]["bin_edges"]
    assert first["reference"] == manifest["feature_stats"][0]["bin_counts"]
    assert first["std"] == pytest.approx(manifest["feature_stats"][0]["std"])


def test_bins_come_from_the_registry_and_then_from_the_stored_references(
    engine: Engine, models_dir: Path
) -> None:
    data = json.loads((models_dir / "iris" / "1" / "manifest.json").read_text())
    data["name"], data["version"] = "flowers", "7"
    data["feature_stats"][0]["bin_edges"] = [0.0, 4.0, 8.0]
    data["feature_stats"][0]["bin_counts"] = [1, 2]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(model_versions),
            {
                "model": "flowers", "version": "7", "state": "serving", "weight": 1.0,
                "manifest": json.dumps(data), "created_at": now, "created_by": "test",
                "updated_at": now,
            },
        )  # fmt: skip
    records = [make_record(n, model="flowers", version="7") for n in range(1, 41)]
    StoreWriter(engine, references=ReferenceSource(None)).write(records[:20])
    # A second sidecar reads the bins the first stored (the registry's row is gone).
    with engine.begin() as conn:
        conn.execute(model_versions.delete())
    StoreWriter(engine, references=ReferenceSource(None)).write(records[20:])
    values = [row[0] for r in records for row in r.inputs or ()]
    stored = [r for r in rows_of(engine, feature_rollups) if r["feature"] == 0]
    got = [sum(r[BIN_COLUMNS[i]] for r in stored) for i in range(4)]
    assert got == expected_counts([0.0, 4.0, 8.0], values)


def test_a_version_without_a_manifest_gets_no_histograms(engine: Engine, tmp_path: Path) -> None:
    writer = StoreWriter(engine, references=ReferenceSource(tmp_path))
    writer.write([make_record(n, version="99") for n in range(1, 5)])
    assert rows_of(engine, feature_rollups) == []
    assert rows_of(engine, feature_references) == []


def test_rows_of_another_width_are_not_counted(engine: Engine, models_dir: Path) -> None:
    writer = StoreWriter(engine, references=ReferenceSource(models_dir))
    good = make_record(1, version="1", n_rows=1)
    wide = replace(make_record(2, version="1", n_rows=1), inputs=[[1.0, 2.0, 3.0, 4.0, 5.0]])
    writer.write([good, wide])
    stored = rows_of(engine, feature_rollups)
    assert {r["rows"] for r in stored} == {1}


def test_migration_0010_down_and_up_again(store_url: str, models_dir: Path) -> None:
    engine = make_engine(store_url)
    try:
        upgrade(engine)
        StoreWriter(engine, references=ReferenceSource(models_dir)).write(
            [make_record(n, version="1") for n in range(1, 5)]
        )
        config = alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0009")
        names = set(inspect(engine).get_table_names())
        assert not {"feature_rollups", "feature_references"} & names
        assert "predictions" in names
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert rows_of(engine, feature_rollups) == []
    finally:
        engine.dispose()


def test_outliers_are_counted_and_hours_sum_the_minutes(engine: Engine, models_dir: Path) -> None:
    writer = StoreWriter(engine, references=ReferenceSource(models_dir))
    records = [make_record(n, version="1", event_time=T0 + n * 20.0) for n in range(1, 400)]
    writer.write(records[:200])
    writer.write(records[150:])
    minutes = rows_of(engine, feature_rollups)
    hours = rows_of(engine, feature_rollups_hourly)
    flagged = sum(bool(res.is_outlier) for r in records for res in r.results or ())
    assert sum(r["outliers"] for r in minutes if r["feature"] == 0) == flagged
    assert sum(r["outliers"] for r in minutes if r["feature"] == PREDICTION_SLOT) == flagged
    summed: dict[tuple[Any, ...], list[int]] = {}
    for row in minutes:
        key = (row["feature"], row["minute"].replace(minute=0))
        values = [row["rows"], row["outliers"], *(row[c] for c in BIN_COLUMNS)]
        summed[key] = [
            a + b for a, b in zip(summed.get(key, [0] * len(values)), values, strict=True)
        ]
    got = {
        (row["feature"], row["hour"]): [
            row["rows"],
            row["outliers"],
            *(row[c] for c in BIN_COLUMNS),
        ]
        for row in hours
    }
    assert len(got) > 1
    assert got == summed


def test_a_regressors_predicted_values_are_counted_on_scale_free_bins(
    engine: Engine, models_dir: Path, tmp_path: Path
) -> None:
    data = json.loads((models_dir / "iris" / "1" / "manifest.json").read_text())
    data.update(name="houses", version="1", task="regression", labels=[])
    (tmp_path / "houses" / "1").mkdir(parents=True)
    (tmp_path / "houses" / "1" / "manifest.json").write_text(json.dumps(data))
    values = [-0.5, 0.0, 0.004, 3.2, 3.3, 12.0, 250000.0]
    records = [
        make_record(
            n, model="houses", version="1", n_rows=1,
            results=[RowResult(prediction=[v], label=None, outlier_score=0.1, is_outlier=False)],
        )
        for n, v in enumerate(values, start=1)
    ]  # fmt: skip
    StoreWriter(engine, references=ReferenceSource(tmp_path)).write(records)
    edges = list(REGRESSION_EDGES)
    stored = [r for r in rows_of(engine, feature_rollups) if r["feature"] == PREDICTION_SLOT]
    got = [sum(r[BIN_COLUMNS[i]] for r in stored) for i in range(len(edges) + 1)]
    assert got == expected_counts(edges, values)
    (prediction,) = [r for r in rows_of(engine, feature_references) if r["feature"] < 0]
    assert prediction["kind"] == "numeric"
    assert prediction["edges"] == edges
