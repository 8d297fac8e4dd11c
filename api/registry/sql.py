"""The SQL every registry change is made of, run inside the caller's transaction."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update

from api.errors import InvalidInputError, ModelNotFoundError
from api.registry.rows import Identity, State, VersionRow, now
from sidecar.store.schema import (
    bundle_files,
    deploy_events,
    model_groups,
    model_versions,
    registry_generation,
    traffic_splits,
)


def versions(conn: Connection, model: str | None, states: Iterable[str] | None) -> list[VersionRow]:
    query = select(*(model_versions.c[f] for f in VersionRow.__dataclass_fields__))
    if model is not None:
        query = query.where(model_versions.c.model == model)
    if states is not None:
        query = query.where(model_versions.c.state.in_(list(states)))
    rows = conn.execute(query.order_by(model_versions.c.model, model_versions.c.id)).all()
    return [VersionRow(*row) for row in rows]


def serving(conn: Connection, model: str) -> dict[str, float]:
    return {r.version: r.weight for r in versions(conn, model, ("serving",))}


def one(conn: Connection, model: str, version: str) -> VersionRow:
    rows = versions(conn, model, None)
    found = next((r for r in rows if r.version == version), None)
    if found is None:
        known = ", ".join(r.version for r in rows)
        raise ModelNotFoundError(
            f"no model {model!r}"
            if not rows
            else f"model {model!r} has no version {version!r} ({known})"
        )
    return found


def key(model: str, version: str) -> Any:
    return (model_versions.c.model == model) & (model_versions.c.version == version)


def claim(conn: Connection, model: str, group: str) -> str:
    """The group of ``model``: ``group`` if the model had none yet (run after ``bump``, which
    serializes changes, so no other transaction claims it between the read and the insert)."""
    found = conn.execute(
        select(model_groups.c.group_name).where(model_groups.c.model == model)
    ).scalar()
    if found is not None:
        return str(found)
    conn.execute(insert(model_groups).values(model=model, group_name=group, assigned_at=now()))
    return group


def bump(conn: Connection) -> None:
    conn.execute(
        update(registry_generation)
        .where(registry_generation.c.id == 1)
        .values(generation=registry_generation.c.generation + 1)
    )


def apply_split(conn: Connection, model: str, split: Mapping[str, float], actor: str) -> None:
    for version, weight in split.items():
        if not math.isfinite(weight) or weight < 0:
            raise InvalidInputError(
                f"weight {weight!r} of version {version!r} is not a number >= 0"
            )
    if split and not any(split.values()):
        raise InvalidInputError(f"at least one version of {model!r} needs a weight above 0")
    stamp = now()
    for version, weight in split.items():
        conn.execute(
            update(model_versions)
            .where(key(model, version))
            .values(weight=weight, updated_at=stamp)
        )
    conn.execute(insert(traffic_splits).values(model=model, at=stamp, weights=dict(split)))
    event(conn, model, None, "weights", split_detail(split), actor=actor)


def set_state(conn: Connection, model: str, version: str, state: State, actor: str) -> None:
    values: dict[str, Any] = {"state": state, "updated_at": now()}
    if state == "retired":
        values["weight"] = 0.0
    conn.execute(update(model_versions).where(key(model, version)).values(values))
    event(conn, model, version, state, actor=actor)


def store_blobs(conn: Connection, blobs: Mapping[str, bytes]) -> None:
    known = set(
        conn.execute(
            select(bundle_files.c.sha256).where(bundle_files.c.sha256.in_(sorted(blobs)))
        ).scalars()
    )
    new = [
        {"sha256": sha, "size": len(data), "data": data}
        for sha, data in blobs.items()
        if sha not in known
    ]
    if new:
        conn.execute(insert(bundle_files), new)


def event(
    conn: Connection,
    model: str,
    version: str | None,
    event: str,
    detail: str | None = None,
    *,
    worker: Identity | None = None,
    actor: str | None = None,
) -> None:
    conn.execute(
        insert(deploy_events).values(
            at=now(),
            model=model,
            version=version,
            event=event,
            actor=actor,
            host=worker.host if worker else None,
            pid=worker.pid if worker else None,
            detail=detail[:4000] if detail else None,
        )
    )


def split_detail(split: Mapping[str, float]) -> str:
    return " ".join(f"{v}={w:g}" for v, w in split.items())


def files_detail(blobs: Mapping[str, bytes]) -> str:
    size = sum(len(d) for d in blobs.values())
    return f"{len(blobs)} files, {size} bytes"
