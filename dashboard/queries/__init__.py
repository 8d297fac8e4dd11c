"""SQL over the log store for the dashboard: aggregates from rollups, lookups from predictions.

Every function takes an engine and a window (and filters) and returns a DataFrame or a
dataclass; none caches and none draws (``dashboard.cache`` caches, the pages draw).
Aggregates read the per-minute rollups only, so their cost grows with the window's
minutes, not with the number of requests; per-request lookups use the predictions
indexes with a LIMIT. One module per kind of data: ``store`` (whether there is anything
to show, filter choices, integrity), ``traffic`` (Overview and Versions), ``outliers``,
``drift`` (histograms against the bundles' references), ``requests`` (listings and the job
lookup), ``registry`` (the Models page: versions, deploy
log, workers, the admin audit, per-version traffic), ``shadow`` (shadow versions' agreement
with their primaries, from the newest shadow records); ``rollup`` holds what they share.
"""

from dashboard.queries.drift import DriftReport, VersionDrift, drift
from dashboard.queries.outliers import OutlierStats, outliers
from dashboard.queries.registry import (
    ModelRegistry,
    WorkerState,
    audit,
    deploy_log,
    model_registry,
    version_series,
    version_traffic,
)
from dashboard.queries.requests import LIST_COLUMNS, find_requests, latest_outliers, recent_requests
from dashboard.queries.rollup import QUANTILES
from dashboard.queries.shadow import agreement
from dashboard.queries.store import (
    Choices,
    Integrity,
    StoreState,
    StoreStatus,
    choices,
    integrity,
    store_status,
)
from dashboard.queries.traffic import Overview, Totals, VersionStats, overview, versions

__all__ = [
    "LIST_COLUMNS",
    "QUANTILES",
    "Choices",
    "DriftReport",
    "Integrity",
    "ModelRegistry",
    "OutlierStats",
    "Overview",
    "StoreState",
    "StoreStatus",
    "Totals",
    "VersionDrift",
    "VersionStats",
    "WorkerState",
    "agreement",
    "audit",
    "choices",
    "deploy_log",
    "drift",
    "find_requests",
    "integrity",
    "latest_outliers",
    "model_registry",
    "outliers",
    "overview",
    "recent_requests",
    "store_status",
    "version_series",
    "version_traffic",
    "versions",
]
