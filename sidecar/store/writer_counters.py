"""The rollups' and streams' upserts: the per-minute aggregates and the per-process sequence
bookkeeping, added to ON CONFLICT for the rows a batch really inserted; and the dialects'
ON CONFLICT insert the writer's other statements are built on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, func
from sqlalchemy.dialects import postgresql, sqlite

from sidecar.record import PredictionRecord
from sidecar.store.mapping import to_datetime
from sidecar.store.rollup import KEY_COLUMNS, SUM_COLUMNS
from sidecar.store.schema import rollups, streams


def dialect_insert(dialect: str, table: Any) -> Any:
    """``insert(table)`` of the store's dialect (postgresql or sqlite)."""
    # The dialects' own insert() is what offers ON CONFLICT.
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


def greatest(dialect: str, *args: Any) -> Any:
    return func.greatest(*args) if dialect == "postgresql" else func.max(*args)


def least(dialect: str, *args: Any) -> Any:
    return func.least(*args) if dialect == "postgresql" else func.min(*args)


def rollup_upsert(dialect: str) -> Insert:
    """Adds rollup increments (``rollup.aggregate``) to their minutes' rows."""
    stmt = dialect_insert(dialect, rollups)
    excluded = stmt.excluded
    updates: dict[str, Any] = {name: rollups.c[name] + excluded[name] for name in SUM_COLUMNS}
    updates["latency_max_ms"] = greatest(dialect, rollups.c.latency_max_ms, excluded.latency_max_ms)
    upsert: Insert = stmt.on_conflict_do_update(index_elements=list(KEY_COLUMNS), set_=updates)
    return upsert


def stream_upsert(dialect: str) -> Insert:
    """Adds stream increments (``stream_increments``) to their process runs' rows."""
    stmt = dialect_insert(dialect, streams)
    excluded = stmt.excluded
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=["host", "pid", "run_id"],
        set_={
            "max_seq": greatest(dialect, streams.c.max_seq, excluded.max_seq),
            "received": streams.c.received + excluded.received,
            "first_seen": least(dialect, streams.c.first_seen, excluded.first_seen),
            "last_seen": greatest(dialect, streams.c.last_seen, excluded.last_seen),
        },
    )
    return upsert


def stream_increments(records: Sequence[PredictionRecord]) -> list[dict[str, Any]]:
    """Per (host, pid, run_id): the highest seq, how many records, the event time span."""
    acc: dict[tuple[str, int, str], list[Any]] = {}
    for record in records:
        key = (record.host, record.pid, record.run_id or "")
        entry = acc.get(key)
        if entry is None:
            acc[key] = [record.seq, 1, record.event_time, record.event_time]
        else:
            entry[0] = max(entry[0], record.seq)
            entry[1] += 1
            entry[2] = min(entry[2], record.event_time)
            entry[3] = max(entry[3], record.event_time)
    return [
        {
            "host": host,
            "pid": pid,
            "run_id": run_id,
            "max_seq": max_seq,
            "received": received,
            "first_seen": to_datetime(first),
            "last_seen": to_datetime(last),
        }
        for (host, pid, run_id), (max_seq, received, first, last) in sorted(acc.items())
    ]
