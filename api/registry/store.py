"""The registry's tables: read by every worker (``reads``), changed by the admin API (here);
one transaction each.

Every change starts by bumping the generation (so SQLite takes its write lock, and
PostgreSQL its row lock, before anything is read: two admins' changes are serialized)
and writes the deploy log in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError, NoResultFound, OperationalError, ProgrammingError

from api.errors import ConflictError, ModelNotFoundError
from api.registry import sql
from api.registry.groups import DEFAULT_GROUP
from api.registry.reads import RegistryReads
from api.registry.rows import ONLINE, State, VersionRow, now
from api.runtime.bundle import MANIFEST, BundleManifest
from sidecar.store.schema import model_versions, traffic_splits


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


class RegistryStore(RegistryReads):
    """Reads and changes of the registry in the store behind ``engine`` (the reads and a
    worker's own writes: ``reads``)."""

    def __init__(self, engine: Engine, max_online: int = 6) -> None:
        super().__init__(engine)
        self.max_online = max_online

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
        group: str = DEFAULT_GROUP,
        max_online: int | None = None,
    ) -> VersionRow:
        """Register a checked bundle; ``mode`` says how it joins the model's traffic.

        ``add``: beside the serving versions with ``weight``; ``replace``: all the model's
        weighted traffic (the others stay serving at weight 0, for a rollback);
        ``shadow``: a copy of ``shadow_fraction`` of the requests, never answering;
        ``import``: like add, but a version already registered is left as it is.
        A model new to the registry joins ``group``; ``max_online`` (default: the store's)
        is the most versions of it online.
        """
        limit = max_online or self.max_online
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
                sql.bump(conn)
                sql.claim(conn, model, group)
                existing = sql.versions(conn, model, None)
                found = next((r for r in existing if r.version == version), None)
                if found is not None:
                    if mode == "import":
                        return found
                    if found.state != "failed":
                        raise ConflictError(
                            f"model {model!r} already has version {version!r} ({found.state}); "
                            "give the new bundle another version"
                        )
                    conn.execute(delete(model_versions).where(sql.key(model, version)))
                online = [r for r in existing if r.state in ONLINE and r.version != version]
                if len(online) >= limit:
                    raise ConflictError(
                        f"model {model!r} has {len(online)} versions online, the most allowed "
                        f"({limit}): retire one first"
                    )
                sql.store_blobs(conn, blobs)
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
                sql.event(conn, model, version, "uploaded", sql.files_detail(blobs), actor=actor)
                if state == "serving":
                    split = {r.version: r.weight for r in online if r.state == "serving"}
                    if mode == "replace" or not any(split.values()):
                        split = dict.fromkeys(split, 0.0)
                        weight = weight or 1.0
                    split[version] = weight
                    sql.apply_split(conn, model, split, actor)
                sql.event(conn, model, version, state, actor=actor)
                return next(r for r in sql.versions(conn, model, None) if r.version == version)
        except IntegrityError as exc:  # another worker imported or deployed it meanwhile
            if mode == "import":
                return next(r for r in self.versions(model) if r.version == version)
            raise ConflictError(
                f"model {model!r} version {version!r} was registered meanwhile"
            ) from exc

    def failed_upload(
        self, model: str, version: str, error: str, actor: str, group: str = DEFAULT_GROUP
    ) -> None:
        """Note in the deploy log that an upload of ``model``/``version`` was refused (a new
        model joins ``group`` all the same, so its uploader can read the log)."""
        try:
            with self.engine.begin() as conn:
                sql.claim(conn, model, group)
                sql.event(conn, model, version, "failed", error, actor=actor)
        except IntegrityError:  # another upload claimed the model meanwhile
            self.log(model, version, "failed", error, actor=actor)

    def set_weights(self, model: str, weights: Mapping[str, float], actor: str) -> list[VersionRow]:
        """Give the named serving versions these weights and every other one 0."""
        with self.engine.begin() as conn:
            sql.bump(conn)
            rows = sql.serving(conn, model)
            for version in weights:
                if version not in rows:
                    raise ModelNotFoundError(
                        f"model {model!r} has no serving version {version!r} "
                        f"(serving: {', '.join(rows) or 'none'})"
                    )
            sql.apply_split(conn, model, {v: weights.get(v, 0.0) for v in rows}, actor)
            return sql.versions(conn, model, None)

    def promote(self, model: str, version: str, actor: str) -> list[VersionRow]:
        """All of the model's weighted traffic to ``version`` (a shadow version starts serving)."""
        with self.engine.begin() as conn:
            sql.bump(conn)
            row = sql.one(conn, model, version)
            if row.state not in ("serving", "shadow"):
                raise ConflictError(f"model {model!r} version {version!r} is {row.state}")
            if row.state == "shadow":
                sql.set_state(conn, model, version, "serving", actor)
            split = dict.fromkeys(sql.serving(conn, model), 0.0)
            split[version] = 1.0
            sql.apply_split(conn, model, split, actor)
            return sql.versions(conn, model, None)

    def rollback(self, model: str, actor: str) -> list[VersionRow]:
        """Back to the model's split before the current one."""
        with self.engine.begin() as conn:
            sql.bump(conn)
            splits = conn.execute(
                select(traffic_splits.c.weights)
                .where(traffic_splits.c.model == model)
                .order_by(traffic_splits.c.id.desc())
                .limit(2)
            ).all()
            if len(splits) < 2:
                raise ConflictError(f"model {model!r} has no earlier traffic split to go back to")
            previous: dict[str, float] = dict(splits[1][0])
            serving = sql.serving(conn, model)
            gone = sorted(v for v, w in previous.items() if w > 0 and v not in serving)
            if gone:
                raise ConflictError(
                    f"the earlier split of {model!r} sends traffic to {', '.join(gone)}, "
                    "no longer serving"
                )
            sql.apply_split(conn, model, {v: previous.get(v, 0.0) for v in serving}, actor)
            sql.event(conn, model, None, "rollback", sql.split_detail(previous), actor=actor)
            return sql.versions(conn, model, None)

    def retire(self, model: str, version: str, actor: str) -> list[VersionRow]:
        """Stop serving ``version`` (it stays listed); its traffic goes to the others by weight."""
        with self.engine.begin() as conn:
            sql.bump(conn)
            row = sql.one(conn, model, version)
            if row.state == "retired":
                raise ConflictError(f"model {model!r} version {version!r} is already retired")
            serving = sql.serving(conn, model)
            rest = {v: w for v, w in serving.items() if v != version}
            if row.state == "serving" and not any(rest.values()):
                raise ConflictError(
                    f"model {model!r} version {version!r} carries all of its weighted traffic: "
                    "weight or promote another version first"
                )
            sql.set_state(conn, model, version, "retired", actor)
            if row.state == "serving":
                sql.apply_split(conn, model, rest, actor)
            return sql.versions(conn, model, None)
