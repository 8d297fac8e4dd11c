"""The dashboard's settings: one pydantic-settings class, env prefix ``PREDLOG_DASHBOARD_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from predlog.settings import PredlogSettings, shared
from sidecar.store.drift import Rule, Test
from sidecar.store.engine import DEFAULT_STORE_URL


class DashboardSettings(PredlogSettings):
    """Settings of the dashboard (``PREDLOG_DASHBOARD_*`` and the shared ``PREDLOG_*``)."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_DASHBOARD_", frozen=True)

    host: str = "127.0.0.1"
    """Interface the dashboard's Streamlit server binds."""
    port: int = Field(default=8501, ge=0, le=65535)
    """Port the dashboard's Streamlit server binds."""
    store_url: str = Field(
        default=DEFAULT_STORE_URL, validation_alias=shared("STORE_URL", "DASHBOARD")
    )
    """SQLAlchemy URL of the log store (opened read-only)."""
    models_dir: Path = Field(
        default=Path("var/models"), validation_alias=shared("MODELS_DIR", "DASHBOARD")
    )
    """Model bundles, read for each version's outlier threshold and feature names."""
    outlier_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, validation_alias=shared("OUTLIER_THRESHOLD", "DASHBOARD")
    )
    """Threshold marked for versions without a bundle manifest."""
    refresh_seconds: int = Field(default=10, ge=1)
    """Seconds between redraws when auto-refresh is on."""
    recent_limit: int = Field(default=100, ge=1, le=10_000)
    """Most requests listed in the recent-requests and latest-outlier tables."""
    drift_test: Test = "auto"
    """Drift test: auto (KS up to 1,000 reference rows, else Wasserstein), psi, ks, wasserstein."""
    drift_psi: float = Field(default=0.1, gt=0)
    """PSI at or over which a feature drifts (Evidently's default 0.1)."""
    drift_wasserstein: float = Field(default=0.1, gt=0)
    """Wasserstein distance (in reference stds) from which a feature drifts (Evidently: 0.1)."""
    drift_ks_p_value: float = Field(default=0.05, gt=0, lt=1)
    """KS test p-value under which a feature drifts (Evidently's and alibi-detect's 0.05)."""
    drift_min_rows: int = Field(default=30, ge=1)
    """A bucket with fewer values than this is not judged for drift."""

    @property
    def drift_rule(self) -> Rule:
        """The drift settings as the statistics take them."""
        return Rule(
            test=self.drift_test,
            psi=self.drift_psi,
            wasserstein=self.drift_wasserstein,
            ks_p_value=self.drift_ks_p_value,
            min_rows=self.drift_min_rows,
        )
