"""Known model-registry rows (versions, deploy log, admin audit, workers) the Models page tests
check against.

Written with SQLAlchemy ``insert()`` beside the known records of ``tests.dashboard.records``
(iris/1 and iris/2 have traffic there; the other versions have none).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from sidecar.store.engine import make_engine
from sidecar.store.schema import (
    admin_audit,
    deploy_events,
    model_versions,
    registry_generation,
    registry_workers,
)

GENERATION = 7
FAILED_ERROR = "model.onnx: input shape [None, 5] disagrees with the manifest's [None, 4]"

# (model, version, state, weight, shadow_fraction, created_by, minutes ago, task, description)
VERSIONS: list[tuple[str, str, str, float, float, str, int, str, str]] = [
    ("iris", "1", "serving", 90.0, 0.0, "predlog run", 300, "classification", "Iris species"),
    ("iris", "2", "serving", 10.0, 0.0, "alice", 200, "classification", "Iris, random forest"),
    ("iris", "3", "failed", 0.0, 0.0, "bob", 100, "classification", ""),
    ("iris", "4", "shadow", 0.0, 0.25, "alice", 50, "classification", ""),
    ("iris", "0", "retired", 0.0, 0.0, "predlog run", 400, "classification", "first try"),
    ("churn", "1", "serving", 1.0, 0.0, "carol", 30, "regression", "Customer churn"),
]

# (model, version, event, actor, host, pid, detail, minutes ago); inserted in this order
EVENTS: list[tuple[str, str | None, str, str | None, str | None, int | None, str | None, float]] = [
    ("iris", "1", "uploaded", "predlog run", None, None, "3 files, 20000 bytes", 300),
    ("iris", "1", "loaded", None, "host-a", 101, None, 299),
    ("iris", "1", "loaded", None, "host-a", 102, None, 299),
    ("iris", "1", "serving", "predlog run", None, None, None, 298),
    ("iris", "2", "uploaded", "alice", None, None, "3 files, 30000 bytes", 200),
    ("iris", "2", "serving", "alice", None, None, None, 199),
    ("iris", None, "weights", "alice", None, None, "1=90 2=10", 198),
    ("iris", "3", "uploaded", "bob", None, None, "3 files, 20000 bytes", 100),
    ("iris", "3", "failed", None, "host-a", 101, FAILED_ERROR, 99),
    ("iris", "4", "uploaded", "alice", None, None, "3 files, 20000 bytes", 50),
    ("iris", "4", "shadow", "alice", None, None, None, 49),
    ("churn", "1", "uploaded", "carol", None, None, "3 files, 9000 bytes", 30),
    ("churn", "1", "serving", "carol", None, None, None, 29),
]

# (user, key id, client, action, group, model, version, status, detail, minutes ago)
AUDIT: list[tuple[str | None, str | None, str, str, str | None, str | None, str | None, int,
                  str | None, float]] = [
    ("alice", "3f2a9c1d04be", "10.0.4.17", "weights", "default", "iris", None, 200,
     "1=90 2=10", 198),
    ("bob", "77e01a9b2c3d", "10.0.4.22", "promote", "default", "iris", "3", 403,
     "promoting a version needs the change role on group 'default' (yours: read)", 95),
    (None, None, "10.0.9.3", "list_models", None, None, None, 401, "unknown API key", 60),
    ("ops", None, "store (predlog command line)", "create-key", "fraud", None, None, 201, None, 40),
]  # fmt: skip

# (host, pid, generation, seen minutes ago)
WORKERS: list[tuple[str, int, int, float]] = [
    ("host-a", 101, GENERATION, 0.0),
    ("host-a", 102, GENERATION - 1, 0.0),  # behind by one
    ("host-b", 201, 3, 120.0),  # stopped two hours ago
]


def manifest(model: str, version: str, task: str, description: str) -> str:
    """A manifest's text with the fields the Models page reads."""
    fields: dict[str, Any] = {"name": model, "version": version, "task": task}
    if description:
        fields["description"] = description
    return json.dumps(fields)


def fill_registry(url: str, now: datetime | None = None) -> None:
    """Insert VERSIONS, EVENTS and WORKERS and set the generation (on a migrated store)."""
    now = now or datetime.now(UTC)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for model, version, state, weight, fraction, by, ago, task, about in VERSIONS:
                created = now - timedelta(minutes=ago)
                conn.execute(
                    insert(model_versions).values(
                        model=model, version=version, state=state, weight=weight,
                        shadow_fraction=fraction, manifest=manifest(model, version, task, about),
                        created_at=created, created_by=by, updated_at=created,
                    )
                )  # fmt: skip
            for name, of, event, actor, host, pid, detail, back in EVENTS:
                conn.execute(
                    insert(deploy_events).values(
                        at=now - timedelta(minutes=back), model=name, version=of,
                        event=event, actor=actor, host=host, pid=pid, detail=detail,
                    )
                )  # fmt: skip
            for *call, back in AUDIT:
                names = ("user_name", "key_id", "client", "action", "group_name", "model",
                         "version", "status", "detail")  # fmt: skip
                values = dict(zip(names, call, strict=True))
                conn.execute(insert(admin_audit).values(at=now - timedelta(minutes=back), **values))
            for worker, pid, generation, seen in WORKERS:
                conn.execute(
                    insert(registry_workers).values(
                        host=worker, pid=pid, run_id=f"run-{pid}", generation=generation,
                        started_at=now - timedelta(hours=5), seen_at=now - timedelta(minutes=seen),
                    )
                )  # fmt: skip
            conn.execute(
                update(registry_generation)
                .where(registry_generation.c.id == 1)
                .values(generation=GENERATION)
            )
    finally:
        engine.dispose()
