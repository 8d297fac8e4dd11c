"""The alert gauges on the sidecar's /metrics, per model version over a recent window.

Set from ``sidecar.store.alerts.read_alerts`` every ``alert_interval``; a version that has
left the window loses its series (so an alert resolves instead of staying at its last value).
The Prometheus rules in ``manifests/`` alert on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge


class Figures(Protocol):
    """What one version's alert figures offer (``sidecar.store.alerts.VersionAlerts``)."""

    @property
    def outlier_rate(self) -> float | None: ...
    @property
    def worst_psi(self) -> float | None: ...
    @property
    def accuracy(self) -> float | None: ...
    @property
    def mae(self) -> float | None: ...
    @property
    def feedback(self) -> int: ...
    @property
    def psi(self) -> Mapping[str, float]: ...


class AlertGauges:
    """The gauges, and which label sets each holds now."""

    def __init__(self, registry: CollectorRegistry, window_seconds: float = 900.0) -> None:
        p = "predlog_model_"
        version = ["model", "version"]
        self.window = Gauge(
            "predlog_sidecar_alert_window_seconds",
            "Seconds of traffic the alert gauges cover.",
            registry=registry,
        )
        self.window.set(window_seconds)
        self.outlier_rate = Gauge(
            f"{p}outlier_rate", "Rows flagged as outliers / rows scored, over the window.", version,
            registry=registry,
        )  # fmt: skip
        self.psi_max = Gauge(
            f"{p}drift_psi_max", "The worst feature's PSI against the training reference.", version,
            registry=registry,
        )  # fmt: skip
        self.psi = Gauge(
            f"{p}drift_psi", "A feature's PSI against the training reference, over the window.",
            [*version, "feature"], registry=registry,
        )  # fmt: skip
        self.accuracy = Gauge(
            f"{p}accuracy", "Share of the window's predictions with feedback that were right.",
            version, registry=registry,
        )  # fmt: skip
        self.mae = Gauge(
            f"{p}mean_absolute_error", "A regressor's mean absolute error, from its feedback.",
            version, registry=registry,
        )  # fmt: skip
        self.feedback = Gauge(
            f"{p}feedback_rows", "Predictions of the window with feedback.", version,
            registry=registry,
        )  # fmt: skip
        self._shown: dict[Gauge, set[tuple[str, ...]]] = {}

    def publish(self, figures: Mapping[tuple[str, str], Figures]) -> None:
        """Set every gauge from ``figures``; drop the label sets no longer in it."""
        now: dict[Gauge, dict[tuple[str, ...], float]] = {
            gauge: {}
            for gauge in (
                self.outlier_rate, self.psi_max, self.psi, self.accuracy, self.mae, self.feedback
            )
        }  # fmt: skip
        for (model, version), f in figures.items():
            key = (model, version)
            for gauge, value in (
                (self.outlier_rate, f.outlier_rate),
                (self.psi_max, f.worst_psi),
                (self.accuracy, f.accuracy),
                (self.mae, f.mae),
                (self.feedback, float(f.feedback) if f.feedback else None),
            ):
                if value is not None:
                    now[gauge][key] = value
            for feature, value in f.psi.items():
                now[self.psi][(model, version, feature)] = value
        for gauge, values in now.items():
            for labels in self._shown.get(gauge, set()) - values.keys():
                gauge.remove(*labels)
            for labels, value in values.items():
                gauge.labels(*labels).set(value)
            self._shown[gauge] = set(values)
