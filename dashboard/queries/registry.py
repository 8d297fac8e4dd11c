"""The Models page's data: the model registry's versions, deploy log, workers, the admin
audit, and traffic.

The registry tables (migration 0004) are small and read whole; the audit (0005) by its
newest rows; a version's traffic comes from the per-minute rollups, never from the
predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import pandas as pd
from sqlalchemy import Engine, func, inspect, or_, select

from dashboard.queries.rollup import (
    bucket_column,
    bucket_minutes,
    read_frame,
    rollup_filter,
    timeline,
)
from dashboard.window import Filters, Window
from sidecar.store.schema import (
    admin_audit,
    deploy_events,
    model_versions,
    registry_generation,
    registry_workers,
    rollups,
)

STATE_ORDER: tuple[str, ...] = ("serving", "shadow", "deploying", "failed", "retired")
"""The order of a model's version cards: what answers first, what no longer does last."""

SILENT_AFTER = timedelta(seconds=60)
"""A worker that has not reported for this long has probably stopped (they report every 10 s)."""

VERSION_COLUMNS = (
    "model", "version", "state", "weight", "share", "shadow_fraction", "task", "description",
    "created_at", "created_by", "updated_at",
)  # fmt: skip
WORKER_COLUMNS = ("host", "pid", "run_id", "generation", "behind", "started_at", "seen_at")
EVENT_COLUMNS = ("at", "model", "version", "event", "actor", "host", "pid", "detail")
AUDIT_COLUMNS = (
    "at", "user", "key_id", "client", "action", "group", "model", "version", "status", "detail",
)  # fmt: skip

WorkerState = Literal["current", "behind", "silent"]


@dataclass(frozen=True, slots=True)
class ModelRegistry:
    """What the registry holds now."""

    has_tables: bool
    """False on a store migrated before the registry (migration 0004)."""
    generation: int | None
    """The registry generation (None without the tables or their one row)."""
    versions: pd.DataFrame
    """VERSION_COLUMNS: one row per version, by model, then state (STATE_ORDER), newest first;
    ``share`` is a serving version's part of its model's weighted traffic (else 0)."""
    workers: pd.DataFrame
    """WORKER_COLUMNS, newest report first; ``behind`` is how many generations a worker lags."""

    def worker_states(self, now: datetime) -> list[WorkerState]:
        """Per worker: on the registry's generation, behind it, or silent (not seen lately)."""
        return [
            "silent" if now - seen > SILENT_AFTER else "behind" if behind > 0 else "current"
            for seen, behind in zip(self.workers["seen_at"], self.workers["behind"], strict=True)
        ]


def _manifest_fields(text: str) -> tuple[str, str]:
    """(task, description) of a manifest's text; blanks where it does not say."""
    try:
        manifest = json.loads(text)
    except ValueError:
        return "", ""
    if not isinstance(manifest, dict):
        return "", ""
    return str(manifest.get("task") or "classification"), str(manifest.get("description") or "")


def model_registry(engine: Engine, filters: Filters) -> ModelRegistry:
    """Every version (of the filtered model/version), the generation and every worker."""
    with engine.connect() as conn:
        tables = inspect(conn)
        if not all(
            tables.has_table(t.name)
            for t in (model_versions, registry_generation, registry_workers)
        ):
            return ModelRegistry(False, None, _empty(VERSION_COLUMNS), _empty(WORKER_COLUMNS))
        generation = conn.execute(
            select(registry_generation.c.generation).where(registry_generation.c.id == 1)
        ).scalar()
        columns = [c for c in model_versions.c if c.name not in ("id", "manifest")]
        query = select(*columns, model_versions.c.manifest).order_by(
            model_versions.c.model, model_versions.c.id.desc()
        )
        if filters.model is not None:
            query = query.where(model_versions.c.model == filters.model)
        if filters.version is not None:
            query = query.where(model_versions.c.version == filters.version)
        result = conn.execute(query)
        versions = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        result = conn.execute(select(registry_workers).order_by(registry_workers.c.seen_at.desc()))
        workers = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    current = None if generation is None else int(generation)
    return ModelRegistry(True, current, _versions(versions), _workers(workers, current))


def _versions(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return _empty(VERSION_COLUMNS)
    fields = [_manifest_fields(text) for text in frame["manifest"]]
    frame["task"] = [task for task, _ in fields]
    frame["description"] = [description for _, description in fields]
    frame["weight"] = frame["weight"].astype("float64")
    frame["shadow_fraction"] = frame["shadow_fraction"].astype("float64")
    serving = frame["weight"].where(frame["state"] == "serving", 0.0)
    totals = serving.groupby(frame["model"]).transform("sum")
    frame["share"] = (serving / totals.where(totals > 0)).fillna(0.0)
    rank = {state: index for index, state in enumerate(STATE_ORDER)}
    frame["_rank"] = frame["state"].map(lambda s: rank.get(s, len(rank)))
    frame["_order"] = range(len(frame))  # the query's: by model, newest first
    frame = frame.sort_values(["model", "_rank", "_order"], ignore_index=True)
    for name in ("created_at", "updated_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame[list(VERSION_COLUMNS)]


def _workers(frame: pd.DataFrame, generation: int | None) -> pd.DataFrame:
    if frame.empty:
        return _empty(WORKER_COLUMNS)
    frame["generation"] = frame["generation"].astype("int64")
    lag = (generation - frame["generation"]) if generation is not None else 0
    frame["behind"] = pd.Series(lag, index=frame.index).clip(lower=0).astype("int64")
    for name in ("started_at", "seen_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame[list(WORKER_COLUMNS)]


def deploy_log(engine: Engine, filters: Filters, *, limit: int = 50) -> pd.DataFrame:
    """The newest ``limit`` deploy-log events of each version (and of each model as a whole,
    version None: weights, rollbacks), newest first overall; empty without the registry's
    tables."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(deploy_events.name):
            return _empty(EVENT_COLUMNS)
    rank = (
        func.row_number()
        .over(
            partition_by=(deploy_events.c.model, deploy_events.c.version),
            order_by=deploy_events.c.id.desc(),
        )
        .label("rank")
    )
    inner = select(deploy_events.c.id, *(deploy_events.c[c] for c in EVENT_COLUMNS), rank)
    if filters.model is not None:
        inner = inner.where(deploy_events.c.model == filters.model)
    if filters.version is not None:
        inner = inner.where(
            or_(deploy_events.c.version == filters.version, deploy_events.c.version.is_(None))
        )
    ranked = inner.subquery()
    query = (
        select(*(ranked.c[c] for c in EVENT_COLUMNS))
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.id.desc())
    )
    frame = read_frame(engine, query)
    if not frame.empty:
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        frame["pid"] = frame["pid"].astype("Int64")
    return frame


def audit(engine: Engine, filters: Filters, *, limit: int = 50) -> pd.DataFrame:
    """AUDIT_COLUMNS of the newest ``limit`` admin calls (of the filtered model; with a
    version, its calls and the model's own), newest first: who (user, key id), from where
    (client), what (action, group, model, version), the outcome (status, the refusal);
    empty without the table (a store from before migration 0005)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(admin_audit.name):
            return _empty(AUDIT_COLUMNS)
    c = admin_audit.c
    query = select(
        c.at, c.user_name.label("user"), c.key_id, c.client, c.action,
        c.group_name.label("group"), c.model, c.version, c.status, c.detail,
    ).order_by(c.id.desc()).limit(limit)  # fmt: skip
    if filters.model is not None:
        query = query.where(c.model == filters.model)
    if filters.version is not None:
        query = query.where(or_(c.version == filters.version, c.version.is_(None)))
    frame = read_frame(engine, query)
    if not frame.empty:
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        frame["status"] = frame["status"].astype("int64")
    return frame


def version_traffic(engine: Engine, window: Window, filters: Filters) -> pd.DataFrame:
    """time, model, version, requests, errors, per_minute: each version's traffic per bucket
    of the window (from the rollups; only buckets with requests; no '' model)."""
    bucket = bucket_column(engine, window.bucket_seconds)
    keys = (rollups.c.model, rollups.c.version)
    query = (
        rollup_filter(
            select(
                bucket,
                *keys,
                func.sum(rollups.c.requests).label("requests"),
                func.sum(rollups.c.errors).label("errors"),
            ),
            window,
            filters,
        )
        .where(rollups.c.model != "")
        .group_by(bucket, *keys)
        .order_by(*keys, bucket)
    )
    frame = read_frame(engine, query)
    # PostgreSQL sums bigints as numeric (Decimal): through float to int.
    for name in ("requests", "errors"):
        frame[name] = frame[name].astype("float64").astype("int64")
    frame["time"] = pd.to_datetime(frame["bucket"].astype("int64"), unit="s", utc=True)
    frame["per_minute"] = frame["requests"] / bucket_minutes(frame["time"], window)
    return frame[["time", "model", "version", "requests", "errors", "per_minute"]]


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def version_series(traffic: pd.DataFrame, window: Window, model: str, version: str) -> pd.DataFrame:
    """One version's rows of ``version_traffic``, every bucket of the window (0 where none)."""
    mine = traffic[(traffic["model"] == model) & (traffic["version"] == version)]
    series = mine.set_index("time")[["requests", "per_minute"]].reindex(
        timeline(window), fill_value=0
    )
    return series.reset_index()
