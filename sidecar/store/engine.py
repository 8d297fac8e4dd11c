"""Engines for the log store: SQLite in WAL mode (embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_STORE_URL = "sqlite:///var/predlog.db"
"""The embedded default: an SQLite file under ./var/."""


def make_engine(url: str, *, readonly: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL mode, ``readonly`` opens without writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, readonly=readonly, **kwargs)
    if readonly:
        kwargs.setdefault("connect_args", {})["options"] = "-c default_transaction_read_only=on"
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, *, readonly: bool, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        if readonly:
            parsed = parsed.set(
                database=f"file:{path.resolve()}",
                query={**parsed.query, "mode": "ro", "uri": "true"},
            )
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not readonly:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
