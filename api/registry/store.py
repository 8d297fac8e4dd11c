"""The registry's tables: read by every worker, changed by the admin API; one transaction each.

Every change starts by bumping the generation (so SQLite takes its write lock, and
PostgreSQL its row lock, before anything is read: two admins' changes are serialized)
and writes the deploy log in the same transaction.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, NoResultFound, OperationalError, ProgrammingError

from api.errors import ConflictError, InvalidInputError, ModelNotFoundError
from api.runtime.bundle import MANIFEST, BundleManifest
from sidecar.store.schema import (
    bundle_files,
    deploy_events,
    model_versions,
    registry_generation,
    registry_workers,
    traffic_splits,
)

State = Literal["deploying", "serving", "shadow", "failed", "retired"]
ONLINE: tuple[State, ...] = ("deploying", "serving", "shadow")
"""States that count towards a model's limit of versions online."""
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A model or version name: letters, digits, '.', '_' and '-', up to 128, no leading dot."""


def check_name(kind: str, value: str) -> str:
    """``value`` if it is a safe model or version name; InvalidInputError saying why if not."""
    if not SAFE_NAME.fullmatch(value):
        raise InvalidInputError(
            f"{kind} {value[:140]!r} is not a safe name (letters, digits, '.', '_', '-'; "
            "at most 128; starting with a letter or digit)"
        )
    return value


def now() -> datetime:
    """The registry's clock (UTC)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One row of ``model_versions``."""

    model: str
    version: str
    state: State
    weight: float
    shadow_fraction: float
    manifest: str
    created_at: datetime
    created_by: str
    updated_at: datetime

    @property
    def digest(self) -> str:
        """sha256 of the manifest text: what identifies this version's bytes."""
        return hashlib.sha256(self.manifest.encode()).hexdigest()

    def summary(self) -> dict[str, Any]:
        """The row as the admin API shows it (the manifest left out)."""
        row = asdict(self)
        del row["manifest"]
        row["created_at"] = self.created_at.isoformat()
        row["updated_at"] = self.updated_at.isoformat()
        return row


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the registry says is online, at one generation."""

    generation: int
    versions: tuple[VersionRow, ...]


@dataclass(frozen=True, slots=True)
class Identity:
    """One api worker process run, as the deploy log and the workers table name it."""

    host: str
    pid: int
    run_id: str


def wait_for_tables(store: RegistryStore, timeout: float) -> None:
    """Wait until the store has the registry's tables (the sidecar migrates it at start)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            store.generation()
            return
        except (OperationalError, ProgrammingError, NoResultFound) as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"the store has no model registry after {timeout:g} s: run "
                    "`predlog db upgrade` (or start the sidecar with --migrate)"
                ) from exc
            time.sleep(0.5)


class RegistryStore:
    """Reads and changes of the registry in the store behind ``engine``."""

    def __init__(self, engine: Engine, max_online: int = 6) -> None:
        self.engine = engine
        self.max_online = max_online

    # -- reads ---------------------------------------------------------------------------

    def generation(self) -> int:
        """The registry's generation: one indexed read."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(registry_generation.c.generation).where(registry_generation.c.id == 1)
                ).scalar_one()
            )

    def snapshot(self) -> Snapshot:
        """The generation and every online version, read in one transaction."""
        with self.engine.connect() as conn:
            generation = conn.execute(
                select(registry_generation.c.generation).where(registry_generation.c.id == 1)
            ).scalar_one()
            rows = _versions(conn, None, ("serving", "shadow"))
        return Snapshot(int(generation), tuple(rows))

    def versions(self, model: str | None = None) -> list[VersionRow]:
        """Every version of ``model`` (or of every model), in any state."""
        with self.engine.connect() as conn:
            return _versions(conn, model, None)

    def files(self, digests: Iterable[str]) -> dict[str, bytes]:
        """Bundle file bytes by sha256."""
        wanted = sorted(set(digests))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(bundle_files.c.sha256, bundle_files.c.data).where(
                    bundle_files.c.sha256.in_(wanted)
                )
            ).all()
        return {sha: bytes(data) for sha, data in rows}

    def events(self, model: str, version: str | None = None) -> list[dict[str, Any]]:
        """The deploy log of ``model`` (or of one version of it), oldest first."""
        query = select(deploy_events).where(deploy_events.c.model == model)
        if version is not None:
            query = query.where(deploy_events.c.version == version)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(deploy_events.c.id)).mappings().all()
        return [{**row, "at": row["at"].isoformat()} for row in rows]

    def workers(self) -> list[dict[str, Any]]:
        """Every worker that has said which generation it serves, newest first."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(registry_workers).order_by(registry_workers.c.seen_at.desc()))
                .mappings()
                .all()
            )
        return [
            {
                **row,
                "started_at": row["started_at"].isoformat(),
                "seen_at": row["seen_at"].isoformat(),
            }
            for row in rows
        ]

    # -- what workers write ----------------------------------------------------------------

    def heartbeat(self, worker: Identity, generation: int, started_at: datetime) -> None:
        """Say that ``worker`` serves ``generation`` now."""
        key = (
            (registry_workers.c.host == worker.host)
            & (registry_workers.c.pid == worker.pid)
            & (registry_workers.c.run_id == worker.run_id)
        )
        with self.engine.begin() as conn:
            values = {"generation": generation, "seen_at": now()}
            if conn.execute(update(registry_workers).where(key).values(values)).rowcount == 0:
                conn.execute(
                    insert(registry_workers).values(
                        host=worker.host,
                        pid=worker.pid,
                        run_id=worker.run_id,
                        started_at=started_at,
                        **values,
                    )
                )

    def log(
        self,
        model: str,
        version: str | None,
        event: str,
        detail: str | None = None,
        *,
        worker: Identity | None = None,
        actor: str | None = None,
    ) -> None:
        """Add one entry to the deploy log (in a transaction of its own)."""
        with self.engine.begin() as conn:
            _event(conn, model, version, event, detail, worker=worker, actor=actor)

    # -- changes (admin) -------------------------------------------------------------------

    def add_version(
        self,
        bundle_dir: Path,
        manifest: BundleManifest,
        *,
        state: State,
        weight: float,
        actor: str,
        mode: Literal["add", "replace", "shadow", "import"] = "add",
        shadow_fraction: float = 0.0,
    ) -> VersionRow:
        """Register a checked bundle; ``mode`` says how it joins the model's traffic.

        ``add``: beside the serving versions with ``weight``; ``replace``: all the model's
        weighted traffic (the others stay serving at weight 0, for a rollback);
        ``shadow``: a copy of ``shadow_fraction`` of the requests, never answering;
        ``import``: like add, but a version already registered is left as it is.
        """
        model, version = manifest.name, manifest.version
        if mode == "import":
            found = next((r for r in self.versions(model) if r.version == version), None)
            if found is not None:
                return found  # imported before (by this worker or another), maybe changed since
        text = (bundle_dir / MANIFEST).read_text(encoding="utf-8")
        blobs = {sha: (bundle_dir / rel).read_bytes() for rel, sha in manifest.files.items()}
        stamp = now()
        try:
            with self.engine.begin() as conn:
                _bump(conn)
                existing = _versions(conn, model, None)
                found = next((r for r in existing if r.version == version), None)
                if found is not None:
                    if mode == "import":
                        return found
                    if found.state != "failed":
                        raise ConflictError(
                            f"model {model!r} already has version {version!r} ({found.state}); "
                            "give the new bundle another version"
                        )
                    conn.execute(delete(model_versions).where(_key(model, version)))
                online = [r for r in existing if r.state in ONLINE and r.version != version]
                if len(online) >= self.max_online:
                    raise ConflictError(
                        f"model {model!r} has {len(online)} versions online, the most allowed "
                        f"({self.max_online}): retire one first"
                    )
                _store_blobs(conn, blobs)
                conn.execute(
                    insert(model_versions).values(
                        model=model,
                        version=version,
                        state=state,
                        weight=0.0,
                        shadow_fraction=shadow_fraction,
                        manifest=text,
                        created_at=stamp,
                        created_by=actor,
                        updated_at=stamp,
                    )
                )
                _event(conn, model, version, "uploaded", _files_detail(blobs), actor=actor)
                if state == "serving":
                    split = {r.version: r.weight for r in online if r.state == "serving"}
                    if mode == "replace" or not any(split.values()):
                        split = dict.fromkeys(split, 0.0)
                        weight = weight or 1.0
                    split[version] = weight
                    _apply_split(conn, model, split, actor)
                _event(conn, model, version, state, actor=actor)
                return next(r for r in _versions(conn, model, None) if r.version == version)
        except IntegrityError as exc:  # another worker imported or deployed it meanwhile
            if mode == "import":
                return next(r for r in self.versions(model) if r.version == version)
            raise ConflictError(
                f"model {model!r} version {version!r} was registered meanwhile"
            ) from exc

    def failed_upload(self, model: str, version: str, error: str, actor: str) -> None:
        """Note in the deploy log that an upload of ``model``/``version`` was refused."""
        self.log(model, version, "failed", error, actor=actor)

    def set_weights(self, model: str, weights: Mapping[str, float], actor: str) -> list[VersionRow]:
        """Give the named serving versions these weights and every other one 0."""
        with self.engine.begin() as conn:
            _bump(conn)
            rows = _serving(conn, model)
            for version in weights:
                if version not in rows:
                    raise ModelNotFoundError(
                        f"model {model!r} has no serving version {version!r} "
                        f"(serving: {', '.join(rows) or 'none'})"
                    )
            _apply_split(conn, model, {v: weights.get(v, 0.0) for v in rows}, actor)
            return _versions(conn, model, None)

    def promote(self, model: str, version: str, actor: str) -> list[VersionRow]:
        """All of the model's weighted traffic to ``version`` (a shadow version starts serving)."""
        with self.engine.begin() as conn:
            _bump(conn)
            row = _one(conn, model, version)
            if row.state not in ("serving", "shadow"):
                raise ConflictError(f"model {model!r} version {version!r} is {row.state}")
            if row.state == "shadow":
                _set_state(conn, model, version, "serving", actor)
            split = dict.fromkeys(_serving(conn, model), 0.0)
            split[version] = 1.0
            _apply_split(conn, model, split, actor)
            return _versions(conn, model, None)

    def rollback(self, model: str, actor: str) -> list[VersionRow]:
        """Back to the model's split before the current one."""
        with self.engine.begin() as conn:
            _bump(conn)
            splits = conn.execute(
                select(traffic_splits.c.weights)
                .where(traffic_splits.c.model == model)
                .order_by(traffic_splits.c.id.desc())
                .limit(2)
            ).all()
            if len(splits) < 2:
                raise ConflictError(f"model {model!r} has no earlier traffic split to go back to")
            previous: dict[str, float] = dict(splits[1][0])
            serving = _serving(conn, model)
            gone = sorted(v for v, w in previous.items() if w > 0 and v not in serving)
            if gone:
                raise ConflictError(
                    f"the earlier split of {model!r} sends traffic to {', '.join(gone)}, "
                    "no longer serving"
                )
            _apply_split(conn, model, {v: previous.get(v, 0.0) for v in serving}, actor)
            _event(conn, model, None, "rollback", _split_detail(previous), actor=actor)
            return _versions(conn, model, None)

    def retire(self, model: str, version: str, actor: str) -> list[VersionRow]:
        """Stop serving ``version`` (it stays listed); its traffic goes to the others by weight."""
        with self.engine.begin() as conn:
            _bump(conn)
            row = _one(conn, model, version)
            if row.state == "retired":
                raise ConflictError(f"model {model!r} version {version!r} is already retired")
            serving = _serving(conn, model)
            rest = {v: w for v, w in serving.items() if v != version}
            if row.state == "serving" and not any(rest.values()):
                raise ConflictError(
                    f"model {model!r} version {version!r} carries all of its weighted traffic: "
                    "weight or promote another version first"
                )
            _set_state(conn, model, version, "retired", actor)
            if row.state == "serving":
                _apply_split(conn, model, rest, actor)
            return _versions(conn, model, None)


def _versions(
    conn: Connection, model: str | None, states: Iterable[str] | None
) -> list[VersionRow]:
    query = select(*(model_versions.c[f] for f in VersionRow.__dataclass_fields__))
    if model is not None:
        query = query.where(model_versions.c.model == model)
    if states is not None:
        query = query.where(model_versions.c.state.in_(list(states)))
    rows = conn.execute(query.order_by(model_versions.c.model, model_versions.c.id)).all()
    return [VersionRow(*row) for row in rows]


def _serving(conn: Connection, model: str) -> dict[str, float]:
    return {r.version: r.weight for r in _versions(conn, model, ("serving",))}


def _one(conn: Connection, model: str, version: str) -> VersionRow:
    rows = _versions(conn, model, None)
    found = next((r for r in rows if r.version == version), None)
    if found is None:
        known = ", ".join(r.version for r in rows)
        raise ModelNotFoundError(
            f"no model {model!r}"
            if not rows
            else f"model {model!r} has no version {version!r} ({known})"
        )
    return found


def _key(model: str, version: str) -> Any:
    return (model_versions.c.model == model) & (model_versions.c.version == version)


def _bump(conn: Connection) -> None:
    conn.execute(
        update(registry_generation)
        .where(registry_generation.c.id == 1)
        .values(generation=registry_generation.c.generation + 1)
    )


def _apply_split(conn: Connection, model: str, split: Mapping[str, float], actor: str) -> None:
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
            .where(_key(model, version))
            .values(weight=weight, updated_at=stamp)
        )
    conn.execute(insert(traffic_splits).values(model=model, at=stamp, weights=dict(split)))
    _event(conn, model, None, "weights", _split_detail(split), actor=actor)


def _set_state(conn: Connection, model: str, version: str, state: State, actor: str) -> None:
    values: dict[str, Any] = {"state": state, "updated_at": now()}
    if state == "retired":
        values["weight"] = 0.0
    conn.execute(update(model_versions).where(_key(model, version)).values(values))
    _event(conn, model, version, state, actor=actor)


def _store_blobs(conn: Connection, blobs: Mapping[str, bytes]) -> None:
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


def _event(
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


def _split_detail(split: Mapping[str, float]) -> str:
    return " ".join(f"{v}={w:g}" for v, w in split.items())


def _files_detail(blobs: Mapping[str, bytes]) -> str:
    size = sum(len(d) for d in blobs.values())
    return f"{len(blobs)} files, {size} bytes"
