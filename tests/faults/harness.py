"""The fault suite's machinery: real processes, a PostgreSQL cluster of its own, the load
generator, and the accounting after each scenario.

Every process binds 127.0.0.1 on a free port and is stopped at the end; every load is
bounded in count and time. ``Ledger.settle`` waits (bounded) until the store holds every
answered job_id or stops changing, then counts: sent, answered, stored, lost, duplicated,
and what the gap accounting (``predlog query --gaps``, the sidecar's metric) counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import psycopg
from sqlalchemy import func, select

from client.rows import RowSampler
from client.runner import LoadRun, fetch_training
from client.settings import LoadSettings
from sidecar.store.engine import make_engine
from sidecar.store.queries import missing_total
from sidecar.store.schema import predictions
from tests.support import free_ports

ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("PREDLOG_MODELS_DIR", ROOT / "var" / "models"))
RESULTS = ROOT / "test-output" / "faults" / "results.jsonl"
"""Every scenario's figures, one JSON line each (the README's tables are made from them)."""
STOP_TIMEOUT = 30.0


def _predlog(*args: str) -> list[str]:
    return [sys.executable, "-m", "predlog", *args]


def _get(url: str, timeout: float = 1.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate`` until true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            if predicate():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


class Proc:
    """One server process started from the ``predlog`` command, its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=log)
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Signal, wait; SIGKILL past ``timeout``. The exit code."""
        if self.proc is None:
            return 0
        self.send(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL the process and every process it started."""
        if self.alive():
            for child in psutil.Process(self.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        self.stop(signal.SIGKILL)

    def tree_rss(self) -> int:
        """Resident memory of the process and its children, in bytes."""
        if not self.alive():
            return 0
        procs = [psutil.Process(self.pid)]
        procs += procs[0].children(recursive=True)
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total


class Sidecar(Proc):
    """``predlog sidecar`` on free ports."""

    def __init__(self, store: str, spool: Path, log_dir: Path, **env: str) -> None:
        self.port, self.http_port = free_ports(2)
        self.store = store
        cmd = _predlog(
            "sidecar",
            "--port", str(self.port),
            "--http-port", str(self.http_port),
            "--store", store,
            "--spool", str(spool),
        )  # fmt: skip
        full_env = {
            **os.environ,
            "PREDLOG_SIDECAR_GAPS_INTERVAL": "1",
            "PREDLOG_SIDECAR_RETRY_MAX_DELAY": "1",
            **env,
        }
        super().__init__("sidecar", cmd, full_env, log_dir)

    def start(self, wait: bool = True) -> None:
        super().start()
        if wait:
            wait_until(lambda: _get(self.url("/healthz"))[0] == 200, 60, "sidecar healthy")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def metric(self, name: str) -> float:
        """The sum of every sample of ``name`` on /metrics."""
        _, body = _get(self.url("/metrics"))
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


class Api(Proc):
    """``predlog api`` with several uvicorn workers on a free port."""

    def __init__(
        self,
        forward: int,
        spool: Path,
        log_dir: Path,
        workers: int = 2,
        name: str = "api",
        drain: float = 1.0,
    ) -> None:
        """``drain``: seconds it drains on SIGTERM (the product's default is longer; the
        short scenarios stop it often, the rolling restart passes the default)."""
        (self.port,) = free_ports(1)
        cmd = _predlog(
            "api",
            "--port", str(self.port),
            "--workers", str(workers),
            "--models", str(MODELS),
            "--forward", f"127.0.0.1:{forward}",
            "--spool", str(spool),
            "--log-level", "warning",
        )  # fmt: skip
        env = {
            **os.environ,
            "PREDLOG_API_RETRY_INTERVAL": "0.5",
            "PREDLOG_API_SHUTDOWN_DRAIN": str(drain),
        }
        super().__init__(name, cmd, env, log_dir)
        self.workers = workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        super().start()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        wait_until(lambda: _get(self.url + "/health")[0] == 200, 90, f"{self.name} ready")
        wait_until(lambda: len(self.worker_pids()) == self.workers, 60, "api workers")

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (spawned children that run the app)."""
        if not self.alive():
            return []
        pids = []
        for child in psutil.Process(self.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if "spawn_main" in " ".join(child.cmdline()):
                    pids.append(child.pid)
        return sorted(pids)


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


# -- load and accounting --------------------------------------------------------------------


@dataclass
class Answers:
    """What the load generator saw: job_ids of answered requests, by status."""

    job_ids: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    failed_at: list[float] = field(default_factory=list)
    """When each request that got no answer failed, in seconds from the load's start."""


class Load:
    """``predlog load``'s open-loop sender (client.runner.LoadRun), in a thread of its own,
    noting the job_id of every answer (the X-Job-Id header)."""

    def __init__(self, url: str, rate: float, seconds: float, seed: int = 13) -> None:
        self.settings = LoadSettings(
            url=url, rate=rate, count=max(1, round(rate * seconds)), seed=seed, progress=False,
            timeout=15.0, concurrency_limit=500,
        )  # fmt: skip
        self.answers = Answers()
        self._thread = threading.Thread(target=self._run, name="faults-load", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> Load:
        self._thread.start()
        return self

    def join(self) -> Answers:
        # Bounded: the schedule's span plus the client's own timeout and a margin.
        self._thread.join(self.settings.total / self.settings.rate + 60)
        assert not self._thread.is_alive(), "the load did not finish"
        if self.error is not None:
            raise self.error
        return self.answers

    def _run(self) -> None:
        try:
            asyncio.run(self._load())
        except BaseException as exc:  # reported by join()
            self.error = exc

    async def _load(self) -> None:
        answers = self.answers
        path = self.settings.endpoint

        async def on_end(_s: Any, _c: Any, params: aiohttp.TraceRequestEndParams) -> None:
            if params.url.path != path:
                return
            status = params.response.status
            answers.statuses[status] = answers.statuses.get(status, 0) + 1
            job_id = params.response.headers.get("X-Job-Id")
            if job_id:
                answers.job_ids.append(job_id)

        started = time.monotonic()

        async def on_exception(
            _s: Any, _c: Any, params: aiohttp.TraceRequestExceptionParams
        ) -> None:
            if params.url.path == path:
                answers.failed_at.append(round(time.monotonic() - started, 3))

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_exception)
        settings = self.settings
        connector = aiohttp.TCPConnector(limit=settings.concurrency_limit)
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, trace_configs=[trace]
        ) as session:
            training = await fetch_training(session, settings.url)
            sampler = RowSampler(
                training.stats, settings.outlier_fraction, settings.seed, training.sample
            )
            summary = await LoadRun(settings, session, sampler, None).run()
        answers.summary = summary.to_dict()


@dataclass
class Figures:
    """One scenario's row in the README."""

    scenario: str
    store: str
    sent: int
    answered: int
    stored: int
    lost: int
    duplicated: int
    counted: int
    """Records the gap accounting reports missing (``predlog query --gaps``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        row = {**asdict(self), "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with RESULTS.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


class Ledger:
    """Counts a scenario's outcome from the store against what the load generator saw."""

    def __init__(self, store_url: str, sidecar: Sidecar | None) -> None:
        self.store_url = store_url
        self.sidecar = sidecar
        self.engine = make_engine(store_url)

    def stored_ids(self) -> dict[str, int]:
        """Every stored job_id with how many rows carry it."""
        query = select(predictions.c.job_id, func.count()).group_by(predictions.c.job_id)
        with self.engine.connect() as conn:
            return {job_id: int(n) for job_id, n in conn.execute(query)}

    def settle(self, job_ids: list[str], timeout: float = 90.0) -> dict[str, int]:
        """Wait until every answered job_id is stored, or the store stops changing (bounded)."""
        wanted = set(job_ids)
        deadline = time.monotonic() + timeout
        last, still = -1, time.monotonic()
        while True:
            try:
                stored = self.stored_ids()
            except Exception:  # the store may be coming back
                stored = {}
            if wanted <= stored.keys():
                return stored
            if len(stored) != last:
                last, still = len(stored), time.monotonic()
            if time.monotonic() - still > 15 or time.monotonic() > deadline:
                return stored
            time.sleep(0.5)

    def gaps_cli(self) -> int:
        """Missing records as ``predlog query --gaps --format json`` lists them."""
        out = subprocess.run(
            _predlog("query", "--gaps", "--format", "json", "--store", self.store_url),
            check=True, capture_output=True, timeout=60,
        ).stdout  # fmt: skip
        return sum(int(row["missing"]) for row in json.loads(out))

    def figures(self, scenario: str, store: str, answers: Answers, **extra: Any) -> Figures:
        stored = self.settle(answers.job_ids)
        answered = answers.job_ids
        found = [j for j in answered if j in stored]
        counted = missing_total(self.engine)
        assert self.gaps_cli() == counted, "predlog query --gaps agrees with the streams table"
        if self.sidecar is not None and self.sidecar.alive():
            # The sidecar re-reads the gap total every PREDLOG_SIDECAR_GAPS_INTERVAL (1 s).
            wait_until(
                lambda: (
                    self.sidecar is not None
                    and self.sidecar.metric("predlog_sidecar_missing_records") == counted
                ),
                30,
                "the sidecar's missing-records metric agrees",
            )
            extra.setdefault(
                "store_errors", int(self.sidecar.metric("predlog_sidecar_store_errors_total"))
            )
            extra.setdefault("resends_absorbed", int(self.sidecar.metric(
                "predlog_sidecar_records_duplicate_total")))  # fmt: skip
        figures = Figures(
            scenario=scenario,
            store=store,
            sent=int(answers.summary.get("sent", len(answered))),
            answered=len(answered),
            stored=len(found),
            lost=len(answered) - len(found),
            duplicated=sum(n - 1 for n in stored.values() if n > 1)
            + (len(answered) - len(set(answered))),
            counted=counted,
            extra={"statuses": answers.statuses, **extra},
        )
        figures.extra["uncounted"] = max(0, figures.lost - figures.counted)
        figures.record()
        return figures


@dataclass
class System:
    """A sidecar and an api over one store, in a work directory."""

    store: str
    workdir: Path
    api_workers: int = 2
    api_drain: float = 1.0
    sidecar_env: dict[str, str] = field(default_factory=dict)
    spool: Path = field(init=False)
    sidecar: Sidecar = field(init=False)
    api: Api = field(init=False)

    def __post_init__(self) -> None:
        self.spool = self.workdir / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            _predlog("db", "upgrade", "--store", self.store),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.sidecar = Sidecar(self.store, self.spool, self.workdir, **self.sidecar_env)
        self.api = Api(
            self.sidecar.port, self.spool, self.workdir, self.api_workers, drain=self.api_drain
        )

    def start(self) -> System:
        self.sidecar.start()
        self.api.start()
        return self

    def ledger(self) -> Ledger:
        return Ledger(self.store, self.sidecar)

    def stop(self) -> None:
        """The api first (it flushes), then the sidecar (it drains)."""
        self.api.stop()
        self.sidecar.stop()
        assert not self.api.alive()
        assert not self.sidecar.alive()


def under_load(
    url: str, rate: float, seconds: float, faults: list[tuple[float, Any]], seed: int = 13
) -> Answers:
    """Run the load generator for ``seconds`` at ``rate`` and, meanwhile, each fault
    ``(at_seconds, callable)`` in order; the load's answers once it is done."""
    load = Load(url, rate, seconds, seed=seed).start()
    started = time.monotonic()
    try:
        for at, fault in faults:
            time.sleep(max(0.0, started + at - time.monotonic()))
            fault()
    finally:
        answers = load.join()
    return answers
