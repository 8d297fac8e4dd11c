"""A bounded log: prune what is older than a cutoff, without holding the store for long.

Two retentions: the log (``predictions``, ``dead_letters``) and the aggregates
(``rollups``, ``streams``), kept longer: the dashboard's history outlives the raw rows.
On PostgreSQL the daily partitions wholly before the cutoff are dropped
(``partitions.drop_partitions_before``); what is left older than the cutoff (the day the
cutoff falls in, every table on SQLite) is deleted in batches of ``batch_rows``, each
its own transaction, with a rest between them as long as the batch took: the sidecar's
writer gets the store at least half of the time (on SQLite a batch holds the one write
lock; the writer waits for it within its busy timeout).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, Table, func, inspect, select

from sidecar.store.partitions import drop_partitions_before, is_partitioned
from sidecar.store.schema import metadata
from sidecar.store.sqlitebulk import sqlite_datetime

Group = Literal["log", "rollups"]

RETAINED: dict[str, tuple[str, Group]] = {
    "predictions": ("event_time", "log"),
    "dead_letters": ("received_at", "log"),
    "feedback": ("event_time", "log"),
    "rollups": ("minute", "rollups"),
    "feature_rollups": ("minute", "rollups"),
    "quality_rollups": ("minute", "rollups"),
    "quality_rollups_hourly": ("hour", "rollups"),
    "feature_rollups_hourly": ("hour", "rollups"),
    "streams": ("last_seen", "rollups"),
}
"""table -> (its time column, which retention applies); tables absent from the models
(or without that column) are left alone."""

DEFAULT_BATCH_ROWS = 2000


@dataclass(frozen=True)
class Pruned:
    """What pruning did to one table."""

    table: str
    cutoff: datetime
    rows: int
    """Rows deleted in batches."""
    partitions: tuple[str, ...]
    """Partitions dropped whole (PostgreSQL)."""
    seconds: float


def retained_tables(group: Group) -> list[tuple[Table, str]]:
    """The models' tables that ``group``'s retention applies to, with their time column."""
    found = []
    for name, (column, of) in RETAINED.items():
        table = metadata.tables.get(name)
        if of == group and table is not None and column in table.c:
            found.append((table, column))
    return found


def whole_days(cutoff: datetime) -> datetime:
    """``cutoff`` moved back to the start of its UTC day (what the sidecar prunes to)."""
    day = cutoff.astimezone(UTC)
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def prune(
    engine: Engine,
    *,
    log_before: datetime | None,
    rollups_before: datetime | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    sleep: Callable[[float], object] = time.sleep,
    stopping: Callable[[], bool] = lambda: False,
) -> list[Pruned]:
    """Delete every row older than its retention's cutoff (None: keep that group);
    ``stopping`` is asked between batches (True: end early, the rest waits)."""
    done = []
    present = set(inspect(engine).get_table_names())
    for group, cutoff in (("log", log_before), ("rollups", rollups_before)):
        if cutoff is None:
            continue
        for table, column in retained_tables(group):  # type: ignore[arg-type]
            if table.name in present and not stopping():
                done.append(
                    _prune_table(engine, table, column, cutoff, batch_rows, sleep, stopping)
                )
    return done


def _prune_table(
    engine: Engine,
    table: Table,
    column: str,
    cutoff: datetime,
    batch_rows: int,
    sleep: Callable[[float], object],
    stopping: Callable[[], bool],
) -> Pruned:
    started = time.perf_counter()
    dropped: list[str] = []
    if table.name == "predictions":
        dropped = drop_partitions_before(engine, cutoff)
    sqlite = engine.dialect.name == "sqlite"
    cut = sqlite_datetime(cutoff) if sqlite else cutoff.astimezone(UTC)
    if table.name == "predictions" or _indexed(table, column):
        batches: Iterator[tuple[str, dict[str, object]]] = _oldest_first(
            engine, table, column, cut, batch_rows
        )
    else:
        batches = _by_ranges(engine, table, column, cut, batch_rows)
    rows = 0
    for statement, params in batches:
        began = time.perf_counter()
        with engine.begin() as conn:
            deleted = max(conn.exec_driver_sql(statement, params).rowcount, 0)
        rows += deleted
        if stopping() or (deleted < batch_rows and "n" in params):
            break
        sleep(time.perf_counter() - began)  # the writer's turn
    return Pruned(table.name, cutoff, rows, tuple(dropped), time.perf_counter() - started)


def _indexed(table: Table, column: str) -> bool:
    """Whether the primary key or a full index leads with ``column`` (it finds the oldest)."""
    keys = list(table.primary_key.columns)
    if keys and keys[0].name == column:
        return True
    for index in table.indexes:
        columns = list(index.columns)
        partial = any(
            index.dialect_options[d].get("where") is not None for d in ("postgresql", "sqlite")
        )
        if columns and columns[0].name == column and not partial:
            return True
    return False


def _oldest_first(
    engine: Engine, table: Table, column: str, cut: object, batch_rows: int
) -> Iterator[tuple[str, dict[str, object]]]:
    """The same DELETE of the ``batch_rows`` oldest, until fewer are left (names from the
    models, never from input)."""
    name = table.name
    if engine.dialect.name == "sqlite":
        # rowid: every table here has one; the time column's index finds the oldest.
        statement = (
            f"DELETE FROM {name} WHERE rowid IN "  # noqa: S608
            f"(SELECT rowid FROM {name} WHERE {column} < :cut LIMIT :n)"
        )
    else:
        with engine.connect() as conn:
            partitioned = name == "predictions" and is_partitioned(conn)
        # ctid is unique within one table, not across partitions: there, the primary key.
        key, columns = ("(id, event_time)", "id, event_time") if partitioned else ("ctid", "ctid")
        statement = (
            f"DELETE FROM {name} WHERE {key} IN "  # noqa: S608
            f"(SELECT {columns} FROM {name} WHERE {column} < %(cut)s LIMIT %(n)s)"
        )
    while True:
        yield statement, {"cut": cut, "n": batch_rows}


def _by_ranges(
    engine: Engine, table: Table, column: str, cut: object, batch_rows: int
) -> Iterator[tuple[str, dict[str, object]]]:
    """A table without an index on its time column, read once in slices of the physical
    order (SQLite's rowids, PostgreSQL's pages by TID range): each batch reads one slice,
    not the table again."""
    name = table.name
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            low, high = conn.exec_driver_sql(f"SELECT min(rowid), max(rowid) FROM {name}").one()  # noqa: S608
            step, statement = (
                batch_rows,
                (
                    f"DELETE FROM {name} WHERE rowid >= :lo AND rowid < :hi AND {column} < :cut"  # noqa: S608
                ),
            )
        else:
            pages, tuples = conn.exec_driver_sql(
                "SELECT pg_relation_size(c.oid) / current_setting('block_size')::int, "
                "c.reltuples / GREATEST(c.relpages, 1) FROM pg_class c "
                "WHERE c.oid = %(t)s::regclass",
                {"t": name},
            ).one()
            low, high = 0, int(pages)
            step = max(1, int(batch_rows // max(float(tuples), 1.0)))
            statement = (
                f"DELETE FROM {name} WHERE ctid >= %(lo)s::tid "  # noqa: S608
                f"AND ctid < %(hi)s::tid AND {column} < %(cut)s"
            )
    if low is None:
        return
    sqlite = engine.dialect.name == "sqlite"
    for start in range(int(low), int(high) + 1, step):
        if sqlite:
            yield statement, {"lo": start, "hi": start + step, "cut": cut}
        else:  # page numbers as TIDs: (page, item)
            yield statement, {"lo": f"({start},0)", "hi": f"({start + step},0)", "cut": cut}


@dataclass(frozen=True)
class TableStats:
    """One table's size and age."""

    table: str
    rows: int
    bytes: int | None
    """Table and index bytes on disk (None where the store cannot tell)."""
    oldest: datetime | None
    """Its oldest row's time (None: empty, or a table without a time column)."""
    partitions: int | None = None
    """Daily partitions (``predictions`` on PostgreSQL)."""


def table_stats(engine: Engine) -> list[TableStats]:
    """Rows, bytes and the oldest row of every table of the models the store has."""
    present = set(inspect(engine).get_table_names())
    sizes = _sqlite_sizes(engine) if engine.dialect.name == "sqlite" else None
    found = []
    with engine.connect() as conn:
        for name in sorted(metadata.tables):
            if name not in present:
                continue
            table = metadata.tables[name]
            rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
            column = RETAINED.get(name, ("", "log"))[0]
            oldest = None
            if column in table.c:
                oldest = conn.execute(select(func.min(table.c[column]))).scalar()
            parts = None
            if sizes is not None:
                size = sizes.get(name)
            else:
                size, parts = _postgres_size(conn, name)
            found.append(TableStats(name, rows, size, oldest, parts))
    return found


def _sqlite_sizes(engine: Engine) -> dict[str, int] | None:
    """Bytes per table, its indexes included, from SQLite's dbstat (None without it)."""
    with engine.connect() as conn:
        try:
            rows = conn.exec_driver_sql(
                "SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s "
                "JOIN sqlite_master m ON m.name = s.name GROUP BY m.tbl_name"
            ).all()
        except Exception:  # SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
            return None
    return {name: int(size) for name, size in rows}


def _postgres_size(conn: Connection, name: str) -> tuple[int, int | None]:
    """(bytes with indexes and TOAST, partitions) of ``name``, its partitions added up."""
    if not (name == "predictions" and is_partitioned(conn)):
        size = conn.exec_driver_sql(
            "SELECT pg_total_relation_size(%(t)s::regclass)", {"t": name}
        ).scalar_one()
        return int(size), None
    size, parts = conn.exec_driver_sql(
        "SELECT COALESCE(SUM(pg_total_relation_size(relid)), 0), COUNT(*) FILTER (WHERE isleaf) "
        "FROM pg_partition_tree(%(t)s::regclass)",
        {"t": name},
    ).one()
    return int(size), int(parts)


def cutoff_from(age_seconds: float | None, now: datetime | None = None) -> datetime | None:
    """``now`` minus ``age_seconds`` (None stays None: no retention)."""
    if age_seconds is None:
        return None
    return (now or datetime.now(UTC)) - timedelta(seconds=age_seconds)
