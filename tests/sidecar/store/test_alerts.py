"""The alert figures: outlier rate, feature PSI and accuracy per version, from the rollups."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, insert

from client.rows import FeatureStat, RowSampler
from client.shift import shift_vector
from sidecar.alertmetrics import AlertGauges
from sidecar.record import PredictionRecord, RowResult
from sidecar.store import schema
from sidecar.store.alerts import read_alerts
from sidecar.store.references import ReferenceSource
from sidecar.store.writer import StoreWriter
from tests.records import make_record

NOW = datetime(2026, 12, 2, 12, 0, 30, tzinfo=UTC)


def records(models_dir: Path, version: str, shift: str | None, minutes_ago: float) -> list[Any]:
    manifest = json.loads((models_dir / "iris" / "1" / "manifest.json").read_text())
    stats = [FeatureStat.from_json(s) for s in manifest["feature_stats"]]
    vector = shift_vector(stats, [shift] if shift else [])
    rows, _ = RowSampler(stats, 0.0, seed=3, sample=manifest["sample_rows"], shift=vector).rows(400)
    at = NOW.timestamp() - minutes_ago * 60
    out: list[PredictionRecord] = []
    for i, row in enumerate(rows.tolist()):
        flagged = i % 10 == 0
        result = RowResult(
            prediction=[0.8, 0.1, 0.1], label="setosa", outlier_score=0.9 if flagged else 0.1,
            is_outlier=flagged,
        )  # fmt: skip
        out.append(
            make_record(
                len(out) + 1, job_id=f"{version}-{minutes_ago}-{i}", version=version,
                event_time=at + i * 0.01, inputs=[row], results=[result],
            )
        )  # fmt: skip
    return out


def test_alert_figures_per_version_over_the_window(engine: Engine, tmp_path: Path) -> None:
    models = Path("var/models").resolve()
    # iris/2 reads its bins from a copy of iris/1's manifest, under its own name
    data = json.loads((models / "iris" / "1" / "manifest.json").read_text())
    data["version"] = "2"
    (tmp_path / "iris" / "2").mkdir(parents=True)
    (tmp_path / "iris" / "2" / "manifest.json").write_text(json.dumps(data))
    (tmp_path / "iris" / "1").symlink_to(models / "iris" / "1")
    writer = StoreWriter(engine, references=ReferenceSource(tmp_path))
    writer.write(records(models, "1", None, 3))
    writer.write(records(models, "2", "petal_length=2", 3))
    writer.write(records(models, "1", "sepal_width=3", 40))  # before the window
    figures = read_alerts(engine, 15 * 60, NOW)
    assert set(figures) == {("iris", "1"), ("iris", "2")}
    calm, moved = figures[("iris", "1")], figures[("iris", "2")]
    assert calm.rows == moved.rows == 400
    assert calm.outlier_rate == pytest.approx(0.1)
    assert set(calm.psi) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    assert moved.worst_psi == moved.psi["petal_length"]
    assert moved.psi["petal_length"] > 1.0
    assert calm.psi["sepal_width"] < 0.25  # the shifted minutes lie outside the window
    assert calm.accuracy is None

    registry = CollectorRegistry()
    gauges = AlertGauges(registry, 900)
    gauges.publish(figures)
    text = generate_latest(registry).decode()
    assert 'predlog_model_outlier_rate{model="iris",version="1"} 0.1' in text
    assert 'predlog_model_drift_psi{feature="petal_length",model="iris",version="2"}' in text
    assert "predlog_sidecar_alert_window_seconds 900.0" in text
    gauges.publish({("iris", "2"): moved})  # iris/1 left the window: its series go
    text = generate_latest(registry).decode()
    assert 'version="1"' not in text
    assert 'predlog_model_drift_psi_max{model="iris",version="2"}' in text


def test_accuracy_and_mae_from_the_feedback_rollups(engine: Engine) -> None:
    quality = getattr(schema, "quality_rollups", None)
    if quality is None:
        pytest.skip("no feedback rollups in this schema yet")
    minute = NOW.replace(second=0) - timedelta(minutes=2)
    base: dict[str, Any] = {c.name: 0 for c in quality.columns}
    base.update(minute=minute, model="iris", version="1")

    def row(truth: str, predicted: str, matched: int, abs_error: float = 0.0) -> dict[str, Any]:
        return {**base, "truth": truth, "predicted": predicted, "matched": matched,
                "abs_error_sum": abs_error}  # fmt: skip

    with engine.begin() as conn:
        conn.execute(
            insert(quality),
            [
                row("setosa", "setosa", 8),
                row("virginica", "setosa", 2),
                {**row("", "", 4, 6.0), "model": "houses", "version": "1"},
            ],
        )
    figures = read_alerts(engine, 15 * 60, NOW)
    assert figures[("iris", "1")].accuracy == pytest.approx(0.8)
    assert figures[("iris", "1")].feedback == 10
    assert figures[("houses", "1")].mae == pytest.approx(1.5)
    assert figures[("houses", "1")].accuracy is None
