"""Engines for the log store: SQLite in WAL mode (embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from sidecar.store.jsontext import dumps_json

DEFAULT_STORE_URL = "sqlite:///var/predlog.db"
"""The embedded default: an SQLite file under ./var/."""

WRITER_CACHE_KIB = 32 << 10
"""SQLite page cache of a writable connection, in KiB."""


def make_engine(url: str | URL, *, readonly: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL mode, ``readonly`` opens without writes.

    Read-only means: SQLite files open with ``mode=ro`` and ``PRAGMA query_only``;
    PostgreSQL sessions start with ``default_transaction_read_only=on``.
    """
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", dumps_json)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, readonly=readonly, **kwargs)
    if readonly:
        connect_args = dict(kwargs.get("connect_args", {}))
        options = connect_args.get("options", "")
        connect_args["options"] = f"{options} -c default_transaction_read_only=on".strip()
        kwargs["connect_args"] = connect_args
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _sqlite_engine(parsed: URL, *, readonly: bool, **kwargs: Any) -> Engine:
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if readonly:
            # A reader must never create the file, nor write to it.
            parsed = parsed.set(
                database=f"file:{path.resolve()}",
                query={**parsed.query, "mode": "ro", "uri": "true"},
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if readonly:
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute("PRAGMA journal_mode=WAL")
            # The writer's page cache (the default is 2 MiB): fewer index pages re-read.
            cursor.execute(f"PRAGMA cache_size={-WRITER_CACHE_KIB}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
