"""Daily partitions of ``predictions`` on PostgreSQL: which exist, making them, dropping them.

From migration 0008 on, ``predictions`` on PostgreSQL is range-partitioned by
``event_time``, one partition per UTC day, named ``predictions_pYYYYMMDD``. Its primary
key is ``(id, event_time)`` and its unique key ``(job_id, event_time)``: a partitioned
table's unique keys must hold the partition key. A job_id's event time is set once, by
the api, when the request arrives, and every copy of the record (a resent chunk, a
replayed spool, the api's spool files) carries the same bytes, so a record delivered
twice meets its own row in the same partition and is stored once, as before. The writer
inserts with ``ON CONFLICT DO NOTHING``, which holds for either unique key.

A partition is made empty and then attached (``SHARE UPDATE EXCLUSIVE`` on the parent:
inserts and queries go on meanwhile), ahead of time by the sidecar's maintenance and on
demand by the writer for a batch that holds a day with none. Dropping detaches first,
``CONCURRENTLY`` (outside a transaction, waiting for nothing but the transactions that
use it), then drops the detached table: pruning a day never blocks ingest.
SQLite has no partitions: everything here is for PostgreSQL only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

PARENT = "predictions"
PREFIX = "predictions_p"
_NAME = re.compile(r"^predictions_p(\d{8})$")
EPOCH_DAY = date(1970, 1, 1)


def partition_name(day: date) -> str:
    """The name of ``day``'s partition."""
    return f"{PREFIX}{day:%Y%m%d}"


def day_of(name: str) -> date | None:
    """The day a partition's name stands for (None: not a partition's name)."""
    match = _NAME.match(name)
    return None if match is None else datetime.strptime(match.group(1), "%Y%m%d").date()


def day_number(day: date) -> int:
    """Days since 1970-01-01 (what ``event_time // 86400`` gives)."""
    return (day - EPOCH_DAY).days


def from_day_number(number: int) -> date:
    """The day ``number`` days after 1970-01-01."""
    return EPOCH_DAY + timedelta(days=number)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def is_partitioned(conn: Connection) -> bool:
    """Whether ``predictions`` is a partitioned table (PostgreSQL from 0008 on)."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = %(name)s AND pg_table_is_visible(c.oid)",
        {"name": PARENT},
    ).first()
    return found is not None


def partitions(conn: Connection) -> dict[date, str]:
    """The daily partitions attached to ``predictions``, by day."""
    names = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %(parent)s::regclass",
        {"parent": PARENT},
    ).scalars()
    found = {day_of(name): name for name in names}
    return {day: name for day, name in found.items() if day is not None}


def create_partitions(conn: Connection, days: Iterable[date]) -> list[date]:
    """Make the partitions of ``days`` that do not exist (in the open transaction); the
    days made. Each is created empty, then attached."""
    have = partitions(conn)
    made = []
    for day in sorted(set(days) - set(have)):
        name = partition_name(day)
        start, end = day_start(day), day_start(day + timedelta(days=1))
        # Names and bounds come from a date, never from input: safe to format in.
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {name} "
            f"(LIKE {PARENT} INCLUDING DEFAULTS INCLUDING STORAGE)"
        )
        conn.exec_driver_sql(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
        made.append(day)
    return made


def ensure_partitions(engine: Engine, days: Iterable[date]) -> list[date]:
    """``create_partitions`` in a transaction of its own; nothing on an unpartitioned store."""
    wanted = set(days)
    if not wanted or engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        if not is_partitioned(conn):
            return []
        # Two writers making the same day at once: the second waits here, then finds it.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('predlog_partitions'))")
        return create_partitions(conn, wanted)


def days_around(now: datetime, ahead: int, behind: int = 1) -> list[date]:
    """``behind`` days before today (UTC), today, and ``ahead`` days after."""
    today = now.astimezone(UTC).date()
    return [today + timedelta(days=offset) for offset in range(-behind, ahead + 1)]


def drop_partitions_before(engine: Engine, cutoff: datetime) -> list[str]:
    """Drop every partition whose whole day is before ``cutoff``; the names dropped.

    Each is detached ``CONCURRENTLY`` (PostgreSQL 14 on; before it, a plain ``DROP``
    with a short lock timeout), then dropped: ingest into the other days goes on."""
    with engine.connect() as conn:
        if not is_partitioned(conn):
            return []
        old = [
            name
            for day, name in sorted(partitions(conn).items())
            if day_start(day + timedelta(days=1)) <= cutoff
        ]
        concurrent = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) >= 140000
        conn.rollback()
    if not old:
        return []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in old:
            if concurrent:
                _detach_concurrently(conn, name)
            else:
                conn.exec_driver_sql("SET lock_timeout = '5s'")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    return old


def _detach_concurrently(conn: Connection, name: str) -> None:
    pending = conn.exec_driver_sql(
        "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = %(name)s::regclass",
        {"name": name},
    ).scalar()
    if pending is None:
        return  # already detached: only the drop is left
    how = "FINALIZE" if pending else "CONCURRENTLY"  # FINALIZE: an earlier detach was cut off
    conn.exec_driver_sql(f"ALTER TABLE {PARENT} DETACH PARTITION {name} {how}")


_PG_KEYS = frozenset({"uq_predictions_job_id", "uq_predictions_job_id_event_time"})


def compare_options(dialect: str) -> dict[str, Any]:
    """Alembic options that compare a store with the models apart from its partitioning:
    the daily partitions are not tables of the models, and on PostgreSQL the unique key
    of ``predictions`` holds ``event_time`` (the models declare ``job_id`` unique, as
    SQLite keeps it)."""

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return not (type_ == "table" and name is not None and day_of(name) is not None)

    def include_object(_obj: Any, name: str | None, type_: str, *_rest: Any) -> bool:
        return not (dialect == "postgresql" and type_ == "unique_constraint" and name in _PG_KEYS)

    return {"include_name": include_name, "include_object": include_object}


class PartitionKeeper:
    """The writer's side: before a batch is inserted, the days it holds have partitions.

    Today's and later days, once seen to exist, are trusted (pruning drops only whole days
    before its cutoff, and the cutoff is never later than now); a batch holding an earlier
    day (a late record) has its days checked in the catalog each time, so a day that
    pruning dropped is made again rather than failing the insert.
    """

    def __init__(self, engine: Engine, clock: Any = None) -> None:
        self.engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._known: set[int] = set()
        self._partitioned: bool | None = None

    def ensure(self, days: frozenset[int]) -> None:
        """Make the partitions that ``days`` (day numbers) lack; nothing when all exist."""
        if not days or self._partitioned is False or days <= self._known:
            return
        if self._partitioned is None:
            with self.engine.connect() as conn:
                self._partitioned = is_partitioned(conn)
            if not self._partitioned:
                return
        ensure_partitions(self.engine, [from_day_number(day) for day in days])
        today = day_number(self._clock().astimezone(UTC).date())
        self._known |= {day for day in days if day >= today}


def batch_days(event_times: Iterable[float]) -> frozenset[int]:
    """The day numbers of a batch's event times (epoch seconds)."""
    return frozenset([int(t // 86400) for t in event_times])
