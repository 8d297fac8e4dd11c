"""The log store's tables (SQLAlchemy 2). The sidecar owns them; Alembic migrates them.

Times are stored as UTC timestamps. ``predictions`` holds one row per request;
``rollups`` one row per minute, model, version, endpoint and status, with latency and
outlier-score histograms; ``dead_letters`` what failed validation; ``streams`` the
per-process sequence bookkeeping from which lost records are counted; ``feedback`` the
ground truth by job_id and ``quality_rollups`` its per-minute comparison with the
answers. The model registry (``model_versions``, ``bundle_files``, ``traffic_splits``,
``deploy_events``, ``registry_generation``, ``registry_workers``) is what every api worker
of every replica serves from; the api's ``api.registry`` reads and changes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sidecar.store.bins import BIN_COLUMNS
from sidecar.store.histogram import LATENCY_BUCKETS, SCORE_BUCKETS


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        # SQLite keeps naive text; a naive UTC value sorts and compares correctly there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON()
"""JSON text: ``json`` on PostgreSQL (kept as sent, and cheaper to write than ``jsonb``;
cast with ``::jsonb`` for containment queries), JSON text on SQLite."""
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


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
        # On PostgreSQL the next three are partial: they hold only the rows they find
        # (few requests carry an id, fail, or are outliers), so a normal insert skips
        # them. Its planner proves "status = 404" or "BETWEEN 400 AND 499" implies
        # "status >= 400"; SQLite's does not, and gains little from them: full there.
        Index(None, "request_id", postgresql_where=text("request_id IS NOT NULL")),
        Index(None, "is_outlier", "event_time", postgresql_where=text("is_outlier")),
        Index(None, "status", "event_time", postgresql_where=text("status >= 400")),
        # Loss accounting walks each process run's sequence numbers in order (queries.gaps).
        Index(None, "host", "pid", "run_id", "seq"),
        # A shadow record's primary, for the agreement join (few rows: partial on PG).
        Index(None, "shadow_of", postgresql_where=text("shadow_of IS NOT NULL")),
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


class FeatureRollup(Base):
    """Per-minute histogram of one input feature (or the prediction) of one model version.

    ``feature`` is the input column's index, or -1 (``bins.PREDICTION_SLOT``) for the
    prediction: class counts of a classifier, a histogram of a regressor's values. ``rows``
    counts the values, ``outliers`` those of rows flagged as outliers; ``bNN`` count them
    per bin of the slot's edges in ``feature_references`` (see ``sidecar.store.bins``).
    Kept in the rows' transaction, with ``feature_rollups_hourly``.
    """

    __tablename__ = "feature_rollups"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    feature: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    rows: Mapped[int] = mapped_column(BigInteger)
    outliers: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        *(Column(name, BigInteger, nullable=False) for name in BIN_COLUMNS),
        Index(None, "minute"),
    )


class FeatureRollupHourly(Base):
    """``feature_rollups`` summed per hour (``hour``: its start), for windows of days."""

    __tablename__ = "feature_rollups_hourly"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    feature: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    rows: Mapped[int] = mapped_column(BigInteger)
    outliers: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        *(Column(name, BigInteger, nullable=False) for name in BIN_COLUMNS),
        Index(None, "hour"),
    )


class FeatureReference(Base):
    """The bins a version's histograms are counted on, and the training rows per bin.

    Written by the sidecar, from the version's bundle manifest (``feature_stats``), when it
    first stores a record of that version. ``edges`` are the interior bins' edges (null for
    a classifier's prediction slot, whose ``labels`` name its columns); ``reference`` the
    training rows per interior bin (null where the bundle has none: a prediction slot).
    """

    __tablename__ = "feature_references"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    feature: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    """numeric (bins on ``edges``) or classes (one column per class)."""
    edges: Mapped[Any | None] = mapped_column(JSONType)
    reference: Mapped[Any | None] = mapped_column(JSONType)
    labels: Mapped[Any | None] = mapped_column(JSONType)
    mean: Mapped[float | None] = mapped_column(Float)
    std: Mapped[float | None] = mapped_column(Float)
    """The training data's mean and std of the feature (the Wasserstein distance's scale)."""
    created_at: Mapped[datetime]


class Feedback(Base):
    """Ground truth for one row of one request, by job_id; joined to its prediction later.

    The first feedback stored for a (job_id, row) wins; later ones are duplicates. When the
    prediction is stored too (before or after), the writer fills ``model`` to ``outcome``
    and counts it in ``quality_rollups``; ``prediction_time`` null means unmatched so far.
    """

    __tablename__ = "feedback"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    schema_version: Mapped[int] = mapped_column(SmallInteger)
    label: Mapped[str | None] = mapped_column(String(128))
    value: Mapped[float | None] = mapped_column(Float)
    event_time: Mapped[datetime]
    """When the api received the feedback."""
    stored_at: Mapped[datetime]
    feedback_job_id: Mapped[str | None] = mapped_column(String(64))
    """The job_id of the POST /feedback request that carried it."""
    model: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(128))
    predicted_label: Mapped[str | None] = mapped_column(String(128))
    predicted_value: Mapped[float | None] = mapped_column(Float)
    prediction_time: Mapped[datetime | None]
    """The prediction's event time once joined; null while no prediction matches."""
    outcome: Mapped[str | None] = mapped_column(String(64))
    """"ok" when counted in quality_rollups, else why not (e.g. "label for a regressor")."""

    __table_args__ = (
        # The unmatched rows only (few): the writer's probe and the "unmatched" count.
        Index(
            "ix_feedback_unmatched",
            "event_time",
            postgresql_where=text("prediction_time IS NULL"),
            sqlite_where=text("prediction_time IS NULL"),
        ),
    )


DELAY_BOUNDS_S: tuple[float, ...] = (60.0, 600.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
"""Upper bounds of the feedback-delay buckets (seconds); one more bucket holds the rest."""
DELAY_COLUMNS = tuple(f"delay_h{i:02d}" for i in range(len(DELAY_BOUNDS_S) + 1))


class QualityRollup(Base):
    """Per-minute (of the prediction) counts of joined feedback by version, truth and answer.

    A classifier's rows have ``truth`` and ``predicted`` labels (the confusion matrix's
    cells); a regressor's have both '' and the error sums. ``matched`` counts feedback
    compared with its prediction; ``unusable`` feedback joined but not comparable
    (``feedback.outcome``), kept under '' and ''. ``delay_hNN`` count the feedback per
    delay bucket (feedback time minus prediction time, ``DELAY_BOUNDS_S``).
    """

    __tablename__ = "quality_rollups"

    minute: Mapped[datetime] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    truth: Mapped[str] = mapped_column(String(128), primary_key=True)
    predicted: Mapped[str] = mapped_column(String(128), primary_key=True)
    matched: Mapped[int] = mapped_column(BigInteger)
    unusable: Mapped[int] = mapped_column(BigInteger)
    error_sum: Mapped[float] = mapped_column(Float)
    abs_error_sum: Mapped[float] = mapped_column(Float)
    squared_error_sum: Mapped[float] = mapped_column(Float)
    delay_sum_s: Mapped[float] = mapped_column(Float)
    delay_max_s: Mapped[float] = mapped_column(Float)

    __table_args__ = tuple(Column(name, BigInteger, nullable=False) for name in DELAY_COLUMNS)


class QualityRollupHourly(Base):
    """``quality_rollups`` summed per hour of the prediction (``hour``: its start), kept in
    the same transaction: what windows of days read."""

    __tablename__ = "quality_rollups_hourly"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    truth: Mapped[str] = mapped_column(String(128), primary_key=True)
    predicted: Mapped[str] = mapped_column(String(128), primary_key=True)
    matched: Mapped[int] = mapped_column(BigInteger)
    unusable: Mapped[int] = mapped_column(BigInteger)
    error_sum: Mapped[float] = mapped_column(Float)
    abs_error_sum: Mapped[float] = mapped_column(Float)
    squared_error_sum: Mapped[float] = mapped_column(Float)
    delay_sum_s: Mapped[float] = mapped_column(Float)
    delay_max_s: Mapped[float] = mapped_column(Float)

    __table_args__ = tuple(Column(name, BigInteger, nullable=False) for name in DELAY_COLUMNS)


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


class ModelVersionRow(Base):
    """One version of one model in the registry: its state, weight and manifest."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    """deploying, serving, shadow, failed or retired."""
    weight: Mapped[float] = mapped_column(Float)
    """Its share of the model's weighted traffic, relative to the other serving versions."""
    shadow_fraction: Mapped[float] = mapped_column(Float, server_default="0")
    manifest: Mapped[str] = mapped_column(Text)
    """``manifest.json`` as uploaded; its ``files`` name the bundle_files by sha256."""
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("model", "version"),)


class BundleFile(Base):
    """The bytes of one bundle file, addressed by their sha256 (shared between versions)."""

    __tablename__ = "bundle_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class TrafficSplit(Base):
    """Every traffic split a model has had, newest last (``rollback`` restores the one before)."""

    __tablename__ = "traffic_splits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    weights: Mapped[Any] = mapped_column(JSONType)
    """version -> weight."""

    __table_args__ = (Index(None, "model", "id"),)


class DeployEvent(Base):
    """The deploy log: uploaded, checked, serving, loaded on a worker, weights, failed, ..."""

    __tablename__ = "deploy_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "model", "version", "id"),)


class RegistryGeneration(Base):
    """One row (id 1): bumped by every registry change; workers poll it to see one."""

    __tablename__ = "registry_generation"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)


class RegistryWorker(Base):
    """Which generation each api worker (host, pid, run) serves, and when it last said so."""

    __tablename__ = "registry_workers"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class AccessGroup(Base):
    """A group of models (like a project), with its own limits; members have roles on it."""

    __tablename__ = "access_groups"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    max_versions: Mapped[int | None] = mapped_column(Integer)
    """Most versions of one model online; null: the api's PREDLOG_API_MAX_VERSIONS."""
    max_bundle_bytes: Mapped[int | None] = mapped_column(BigInteger)
    """Largest bundle upload; null: the api's PREDLOG_API_MAX_BUNDLE_BYTES."""
    predict_needs_key: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """Whether /predict of the group's models needs a key with the read role on it."""


class GroupMember(Base):
    """One user's role on one group: read, change or manage (each includes the one before)."""

    __tablename__ = "group_members"

    group_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))
    added_at: Mapped[datetime]
    added_by: Mapped[str] = mapped_column(String(255))


class ApiKey(Base):
    """An API key: its public id and the sha256 of the whole key (never the key itself)."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(255), index=True)
    group_name: Mapped[str] = mapped_column(String(128))
    """The group it was made for: where a model first deployed with it goes."""
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None]


class ModelGroup(Base):
    """Which group a model belongs to (from its first upload on)."""

    __tablename__ = "model_groups"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(128), index=True)
    assigned_at: Mapped[datetime]


class AdminAudit(Base):
    """Every admin call: who (user, key id), what, when, from where, and its outcome (status)."""

    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_name: Mapped[str | None] = mapped_column(String(255))
    key_id: Mapped[str | None] = mapped_column(String(32))
    client: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    group_name: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[int] = mapped_column(SmallInteger)
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "model", "id"),)


metadata = Base.metadata
# Typed as Table (not FromClause) so that insert(), .c and friends type-check in callers.
predictions = cast(Table, Prediction.__table__)
rollups = cast(Table, Rollup.__table__)
dead_letters = cast(Table, DeadLetter.__table__)
feedback = cast(Table, Feedback.__table__)
quality_rollups = cast(Table, QualityRollup.__table__)
quality_rollups_hourly = cast(Table, QualityRollupHourly.__table__)
feature_rollups = cast(Table, FeatureRollup.__table__)
feature_rollups_hourly = cast(Table, FeatureRollupHourly.__table__)
feature_references = cast(Table, FeatureReference.__table__)
streams = cast(Table, Stream.__table__)
model_versions = cast(Table, ModelVersionRow.__table__)
bundle_files = cast(Table, BundleFile.__table__)
traffic_splits = cast(Table, TrafficSplit.__table__)
deploy_events = cast(Table, DeployEvent.__table__)
registry_generation = cast(Table, RegistryGeneration.__table__)
registry_workers = cast(Table, RegistryWorker.__table__)
access_groups = cast(Table, AccessGroup.__table__)
group_members = cast(Table, GroupMember.__table__)
api_keys = cast(Table, ApiKey.__table__)
model_groups = cast(Table, ModelGroup.__table__)
admin_audit = cast(Table, AdminAudit.__table__)
