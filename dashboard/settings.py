"""The dashboard's settings: one pydantic-settings class, env prefix ``PREDLOG_DASHBOARD_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from predlog.settings import PredlogSettings, shared
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
