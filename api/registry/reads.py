"""The registry as every worker reads it, and what a worker writes of itself.

The reads (the generation, a snapshot of what is online, versions, bundle files, the deploy
log, the workers) and a worker's own lines (its heartbeat, a deploy log entry), each in one
transaction; the admin's changes are in ``store``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from api.registry import sql
from api.registry.guard import load_guard
from api.registry.rows import Identity, Snapshot, VersionRow, now
from sidecar.store.schema import bundle_files, deploy_events, registry_generation, registry_workers


class RegistryReads:
    """Reads of the registry in the store behind ``engine``, and a worker's own writes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        """The generation, every online version and the prediction guard, in one read."""
        with self.engine.connect() as conn:
            generation = conn.execute(
                select(registry_generation.c.generation).where(registry_generation.c.id == 1)
            ).scalar_one()
            rows = sql.versions(conn, None, ("serving", "shadow"))
            guard = load_guard(conn)
        return Snapshot(int(generation), tuple(rows), guard)

    def versions(self, model: str | None = None) -> list[VersionRow]:
        """Every version of ``model`` (or of every model), in any state."""
        with self.engine.connect() as conn:
            return sql.versions(conn, model, None)

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
            sql.event(conn, model, version, event, detail, worker=worker, actor=actor)
