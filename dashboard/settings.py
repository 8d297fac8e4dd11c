"""The dashboard's settings: one pydantic-settings class, env prefix ``PREDLOG_DASHBOARD_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sidecar.store.engine import DEFAULT_STORE_URL


def _env(name: str) -> AliasChoices:
    """Accept both the shared name (PREDLOG_X) and the service-scoped one (PREDLOG_DASHBOARD_X)."""
    return AliasChoices(f"PREDLOG_{name}", f"PREDLOG_DASHBOARD_{name}")


class DashboardSettings(BaseSettings):
    """Settings of the dashboard (``PREDLOG_DASHBOARD_*`` and the shared ``PREDLOG_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="PREDLOG_DASHBOARD_", extra="ignore", populate_by_name=True, frozen=True
    )

    host: str = "127.0.0.1"
    """Interface the Streamlit server binds (PREDLOG_DASHBOARD_HOST)."""
    port: int = Field(default=8501, ge=0, le=65535)
    """TCP port the Streamlit server binds (PREDLOG_DASHBOARD_PORT)."""
    store_url: str = Field(default=DEFAULT_STORE_URL, validation_alias=_env("STORE_URL"))
    """SQLAlchemy URL of the log store, opened read-only (PREDLOG_STORE_URL)."""
    models_dir: Path = Field(default=Path("var/models"), validation_alias=_env("MODELS_DIR"))
    """Bundles, read for outlier thresholds and feature names (PREDLOG_MODELS_DIR)."""
    outlier_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, validation_alias=_env("OUTLIER_THRESHOLD")
    )
    """Threshold marked for versions without a bundle manifest (PREDLOG_OUTLIER_THRESHOLD)."""
    refresh_seconds: int = Field(default=10, ge=1)
    """Interval of the auto-refresh, in seconds (PREDLOG_DASHBOARD_REFRESH_SECONDS)."""
    recent_limit: int = Field(default=100, ge=1, le=10_000)
    """Most requests listed in the recent-requests and latest-outlier tables."""
