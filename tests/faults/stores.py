"""The fault suite's stores: a PostgreSQL cluster of its own (stopped and started by the
tests, the machine's server left alone) and a SQLite store locked by another writer."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.support import free_ports


class PgCluster:
    """A PostgreSQL cluster of the test's own (initdb, pg_ctl) on a free port, which the
    test stops and starts; the machine's server is left alone. Run as the ``postgres``
    user when the test runs as root."""

    def __init__(self) -> None:
        self.bindir = find_pg_bindir()
        self.port = free_ports(1)[0]
        self.dir = Path(tempfile.mkdtemp(prefix="predlog-faults-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        conf = "\n".join(
            [
                f"port = {self.port}",
                "listen_addresses = '127.0.0.1'",
                f"unix_socket_directories = '{self.dir}'",
                "shared_buffers = 64MB",
                "max_connections = 50",
                "logging_collector = off",
            ]
        )
        with (self.data / "postgresql.auto.conf").open("a") as fh:
            fh.write(conf + "\n")
        self.running = False
        self.start()

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction."""
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def start_if_stopped(self) -> None:
        if not self.running:
            self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        log = str(self.dir / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "start")
        self.running = True

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def find_pg_bindir() -> Path:
    """Debian's PostgreSQL binaries (the newest major version installed)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name
    )
    if not found:
        raise FileNotFoundError("no /usr/lib/postgresql/*/bin/initdb")
    return found[-1].parent


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another writer holds the SQLite store's write lock for as long as the block runs."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE IF NOT EXISTS faults_lock_holder (x)")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()
