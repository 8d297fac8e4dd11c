"""The cached layer between pages and queries: one engine per store URL, results with a TTL.

Keys are the store URL, the window and the filters; a preset window only moves once a
minute, so a page redrawn within the TTL reuses the result instead of querying again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from dashboard import queries
from dashboard.manifests import BundleInfo, read_bundles
from dashboard.queries import quality as quality_queries
from dashboard.queries.quality import QualityStats
from dashboard.window import Filters, Window
from sidecar.store.drift import Rule
from sidecar.store.engine import make_engine

TTL_SECONDS = 10
"""How long a query result is reused; the auto-refresh interval should not be shorter."""

CONNECT_TIMEOUT_SECONDS = 5
"""An unreachable PostgreSQL fails this fast instead of hanging the page."""


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """The read-only engine of the store at ``url``, shared by every session."""
    kwargs: dict[str, Any] = {}
    if make_url(url).get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return make_engine(url, readonly=True, **kwargs)


@st.cache_data(ttl=5, show_spinner=False)
def store_status(url: str) -> queries.StoreStatus:
    """Cached ``queries.store_status``."""
    return queries.store_status(engine(url))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def choices(url: str, window: Window) -> queries.Choices:
    """Cached ``queries.choices``."""
    return queries.choices(engine(url), window)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def overview(url: str, window: Window, filters: Filters) -> queries.Overview:
    """Cached ``queries.overview``."""
    return queries.overview(engine(url), window, filters)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def integrity(url: str, window: Window) -> queries.Integrity:
    """Cached ``queries.integrity``."""
    return queries.integrity(engine(url), window)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def versions(url: str, window: Window, filters: Filters) -> queries.VersionStats:
    """Cached ``queries.versions``."""
    return queries.versions(engine(url), window, filters)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def shadow_agreement(url: str, window: Window, filters: Filters) -> pd.DataFrame:
    """Cached ``queries.agreement``."""
    return queries.agreement(engine(url), window, filters)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def drift(url: str, window: Window, filters: Filters, rule: Rule) -> queries.DriftReport:
    """Cached ``queries.drift``."""
    return queries.drift(engine(url), window, filters, rule)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def quality(url: str, window: Window, filters: Filters) -> QualityStats:
    """Cached ``quality.quality``."""
    return quality_queries.quality(engine(url), window, filters)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def outliers(url: str, window: Window, filters: Filters) -> queries.OutlierStats:
    """Cached ``queries.outliers``."""
    return queries.outliers(engine(url), window, filters)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def latest_outliers(url: str, window: Window, filters: Filters, limit: int) -> pd.DataFrame:
    """Cached ``queries.latest_outliers``."""
    return queries.latest_outliers(engine(url), window, filters, limit=limit)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def recent_requests(
    url: str,
    window: Window,
    filters: Filters,
    status: int | None,
    outlier: bool | None,
    limit: int,
) -> pd.DataFrame:
    """Cached ``queries.recent_requests``."""
    return queries.recent_requests(
        engine(url), window, filters, status=status, outlier=outlier, limit=limit
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def find_requests(url: str, key: str) -> list[dict[str, Any]]:
    """Cached ``queries.find_requests``."""
    return queries.find_requests(engine(url), key)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def model_registry(url: str, filters: Filters) -> queries.ModelRegistry:
    """Cached ``queries.model_registry``."""
    return queries.model_registry(engine(url), filters)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def deploy_log(url: str, filters: Filters, limit: int) -> pd.DataFrame:
    """Cached ``queries.deploy_log``."""
    return queries.deploy_log(engine(url), filters, limit=limit)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def audit(url: str, filters: Filters, limit: int) -> pd.DataFrame:
    """Cached ``queries.audit``."""
    return queries.audit(engine(url), filters, limit=limit)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def version_traffic(url: str, window: Window, filters: Filters) -> pd.DataFrame:
    """Cached ``queries.version_traffic``."""
    return queries.version_traffic(engine(url), window, filters)


@st.cache_data(ttl=60, show_spinner=False)
def bundles(models_dir: str) -> dict[tuple[str, str], BundleInfo]:
    """Cached ``manifests.read_bundles``."""
    return read_bundles(Path(models_dir))
