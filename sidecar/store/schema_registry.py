"""The model registry's and the access control's tables, which every api worker of every
replica serves from (``api.registry`` reads and changes them): versions, bundle files,
traffic splits, the deploy log, the registry generation and its workers; groups, members,
API keys, models' groups and the admin audit. On ``schema_base.Base``; import them from
``sidecar.store.schema``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sidecar.store.schema_base import Base, BigId, JSONType


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


# Typed as Table (not FromClause) so that insert(), .c and friends type-check in callers.
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
