"""The log store's tables (SQLAlchemy 2). The sidecar owns them; Alembic migrates them.

Times are stored as UTC timestamps. ``predictions`` holds one row per request;
``rollups`` one row per minute, model, version, endpoint and status, with latency and
outlier-score histograms; ``dead_letters`` what failed validation; ``streams`` the
per-process sequence bookkeeping from which lost records are counted; ``feedback`` the
ground truth by job_id and ``quality_rollups`` its per-minute comparison with the
answers. The model registry (``model_versions``, ``bundle_files``, ``traffic_splits``,
``deploy_events``, ``registry_generation``, ``registry_workers``) is what every api worker
of every replica serves from; the api's ``api.registry`` reads and changes it.

This module declares the core tables (``predictions``, ``rollups``, ``dead_letters``,
``streams``) and is the one every importer uses: it loads the other rooms' tables onto the
same ``metadata`` and exports them. By room: ``schema_base`` (``Base``, the naming
convention, ``UTCDateTime``), ``schema_feedback`` (feedback and quality),
``schema_drift`` (the drift histograms and their bins), ``schema_registry`` (the registry
and access tables).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sidecar.store.histogram import LATENCY_BUCKETS, SCORE_BUCKETS
from sidecar.store.schema_base import (
    NAMING,
    Base,
    BigId,
    JSONType,
    UTCDateTime,
)
from sidecar.store.schema_drift import (
    FeatureReference,
    FeatureRollup,
    FeatureRollupHourly,
    feature_references,
    feature_rollups,
    feature_rollups_hourly,
)
from sidecar.store.schema_feedback import (
    DELAY_BOUNDS_S,
    DELAY_COLUMNS,
    Feedback,
    QualityRollup,
    QualityRollupHourly,
    feedback,
    quality_rollups,
    quality_rollups_hourly,
)
from sidecar.store.schema_registry import (
    AccessGroup,
    AdminAudit,
    ApiKey,
    BundleFile,
    DeployEvent,
    GroupMember,
    ModelGroup,
    ModelVersionRow,
    RegistryGeneration,
    RegistryWorker,
    TrafficSplit,
    access_groups,
    admin_audit,
    api_keys,
    bundle_files,
    deploy_events,
    group_members,
    model_groups,
    model_versions,
    registry_generation,
    registry_workers,
    traffic_splits,
)

__all__ = [
    "DELAY_BOUNDS_S",
    "DELAY_COLUMNS",
    "LATENCY_COLUMNS",
    "NAMING",
    "SCORE_COLUMNS",
    "AccessGroup",
    "AdminAudit",
    "ApiKey",
    "Base",
    "BigId",
    "BundleFile",
    "DeadLetter",
    "DeployEvent",
    "FeatureReference",
    "FeatureRollup",
    "FeatureRollupHourly",
    "Feedback",
    "GroupMember",
    "JSONType",
    "ModelGroup",
    "ModelVersionRow",
    "Prediction",
    "QualityRollup",
    "QualityRollupHourly",
    "RegistryGeneration",
    "RegistryWorker",
    "Rollup",
    "Stream",
    "TrafficSplit",
    "UTCDateTime",
    "access_groups",
    "admin_audit",
    "api_keys",
    "bundle_files",
    "dead_letters",
    "deploy_events",
    "feature_references",
    "feature_rollups",
    "feature_rollups_hourly",
    "feedback",
    "group_members",
    "metadata",
    "model_groups",
    "model_versions",
    "predictions",
    "quality_rollups",
    "quality_rollups_hourly",
    "registry_generation",
    "registry_workers",
    "rollups",
    "streams",
    "traffic_splits",
]


class Prediction(Base):
    """One request to the api: the record as received, flattened for queries."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(64), unique=True)
    request_id: Mapped[str | None] = mapped_column(String(256))
    schema_version: Mapped[int] = mapped_column(SmallInteger)
    event_time: Mapped[datetime]
    stored_at: Mapped[datetime]
    endpoint: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[int] = mapped_column(SmallInteger)
    model: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(128))
    routing: Mapped[str | None] = mapped_column(String(16))
    shadow_of: Mapped[str | None] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[Any | None] = mapped_column(JSONType)
    results: Mapped[Any | None] = mapped_column(JSONType)
    is_outlier: Mapped[bool] = mapped_column(Boolean)
    max_outlier_score: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    inference_ms: Mapped[float | None] = mapped_column(Float)
    upstream_ms: Mapped[float | None] = mapped_column(Float)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(None, "event_time"),
        Index(None, "model", "version", "event_time"),
        # The next four are partial: they hold only the rows they find (few requests
        # carry an id, fail, are outliers or shadows), so a normal insert skips them.
        # PostgreSQL's planner proves "status = 404" or "BETWEEN 400 AND 499" implies
        # "status >= 400"; SQLite's does not, so the status index stays full there. SQLite
        # uses the others where the query says "x = ?" or "x IN (...)" for "x IS NOT
        # NULL", and "is_outlier = 1" as written (migration 0012: 0.75 us less CPU per
        # inserted row, a tenth of SQLite's insert).
        Index(
            None,
            "request_id",
            postgresql_where=text("request_id IS NOT NULL"),
            sqlite_where=text("request_id IS NOT NULL"),
        ),
        Index(
            None,
            "is_outlier",
            "event_time",
            postgresql_where=text("is_outlier"),
            sqlite_where=text("is_outlier = 1"),
        ),
        Index(None, "status", "event_time", postgresql_where=text("status >= 400")),
        # Loss accounting walks each process run's sequence numbers in order (queries.gaps).
        Index(None, "host", "pid", "run_id", "seq"),
        # A shadow record's primary, for the agreement join.
        Index(
            None,
            "shadow_of",
            postgresql_where=text("shadow_of IS NOT NULL"),
            sqlite_where=text("shadow_of IS NOT NULL"),
        ),
    )


LATENCY_COLUMNS = tuple(f"lat_h{i:02d}" for i in range(LATENCY_BUCKETS))
SCORE_COLUMNS = tuple(f"score_h{i:02d}" for i in range(SCORE_BUCKETS))


class Rollup(Base):
    """Per-minute aggregate by model, version, endpoint and status.

    ``model`` and ``version`` are '' for requests that reached no model. ``lat_hNN``
    count requests per latency bucket (``histogram.LATENCY_BOUNDS_MS``); ``score_hNN``
    count rows per outlier-score bucket of width 1/``SCORE_BUCKETS``.
    """

    __tablename__ = "rollups"

    minute: Mapped[datetime] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)
    outlier_requests: Mapped[int] = mapped_column(BigInteger)
    outlier_rows: Mapped[int] = mapped_column(BigInteger)
    latency_sum_ms: Mapped[float] = mapped_column(Float)
    latency_max_ms: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        *(Column(name, BigInteger, nullable=False) for name in (*LATENCY_COLUMNS, *SCORE_COLUMNS)),
        Index(None, "minute", "model", "version"),
    )


class DeadLetter(Base):
    """A received record that failed validation, kept with its raw bytes and the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    tag: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class Stream(Base):
    """Sequence bookkeeping per api process run: ``max_seq - received`` records are missing.

    ``run_id`` is the record's, '' (not null) for records without one."""

    __tablename__ = "streams"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    max_seq: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger)


metadata = Base.metadata
"""Every table of the store (this module's and the ``schema_*`` rooms')."""
# Typed as Table (not FromClause) so that insert(), .c and friends type-check in callers.
predictions = cast(Table, Prediction.__table__)
rollups = cast(Table, Rollup.__table__)
dead_letters = cast(Table, DeadLetter.__table__)
streams = cast(Table, Stream.__table__)
