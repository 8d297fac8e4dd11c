"""The sidecar: forward listener + spool + writer loop + api-spool ingestion + http endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from sidecar.alertmetrics import AlertGauges
from sidecar.http import HttpServer
from sidecar.ingest.apispool import ingest_directory
from sidecar.ingest.runends import ended_runs, forget
from sidecar.ingest.server import ForwardServer
from sidecar.metrics import SidecarMetrics
from sidecar.onward.address import parse_address
from sidecar.onward.client import AggregatorClient
from sidecar.onward.forwarder import Forwarder, close_cursor, open_cursor
from sidecar.settings import SidecarSettings
from sidecar.spool.segments import Spool
from sidecar.store.alerts import read_alerts
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.queries import missing_total
from sidecar.store.retention_job import Upkeep
from sidecar.store.runends import store_run_ends
from sidecar.store.sampling import PayloadSampler
from sidecar.writer.loop import WriterLoop
from sidecar.writer.process import WriterProcess, store_writer, tune_gc
from sidecar.writer.report import MetricsReport

uvloop: Any
try:
    import uvloop
except ImportError:  # uvloop is optional: plain asyncio works, a little slower
    uvloop = None

log = logging.getLogger("predlog.sidecar")

_SOCKET_GRACE = 1.0
"""On shutdown, how long connected peers get to finish before their sockets are closed."""


class Sidecar:
    """One running collector; ``start`` then ``shutdown``, both on the same event loop."""

    def __init__(self, settings: SidecarSettings) -> None:
        self.settings = settings
        self.metrics = SidecarMetrics()
        self.engine: Engine = make_engine(settings.store_url)
        spool_dir = settings.spool_dir / "sidecar"
        if settings.forward_to:
            open_cursor(spool_dir)  # before the writer can trim what it has not sent
        else:
            close_cursor(spool_dir)
        self.spool = Spool(
            settings.spool_dir / "sidecar",
            segment_bytes=settings.segment_bytes,
            max_bytes=settings.spool_max_bytes,
        )
        self.server = ForwardServer(
            self.spool,
            self.metrics,
            max_entry_bytes=settings.max_entry_bytes,
            shared_key=settings.shared_key,
            self_hostname=settings.self_hostname,
            read_coalesce=settings.read_coalesce,
        )
        self.writer: WriterLoop | WriterProcess
        if settings.writer_process:
            self.writer = WriterProcess(settings, self.metrics)
        else:
            self.writer = WriterLoop(
                self.spool,
                lambda: store_writer(settings, self.engine),
                MetricsReport(self.metrics),
                batch_records=settings.batch_records,
                batch_interval=settings.batch_interval,
                retry_max_delay=settings.retry_max_delay,
                batch_max_records=settings.batch_max_records,
            )
        self.forwarder = self._forwarder(settings)
        self.upkeep = Upkeep(
            self.engine,
            self.metrics.registry,
            retention=settings.retention,
            rollup_retention=settings.rollup_retention,
            partitions_ahead=settings.partitions_ahead,
            batch_rows=settings.prune_batch_rows,
        )
        self.http = HttpServer(self.metrics.registry, self.health)
        self.alerts = AlertGauges(self.metrics.registry, settings.alert_window)
        self.port = 0
        self.http_port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stop_jobs = asyncio.Event()
        self._since_fsync = 0.0
        self.metrics.spool_bytes.set_function(lambda: self.spool.size)
        self.metrics.spool_pending.set_function(lambda: self.spool.pending)
        self.metrics.spool_fill.set_function(lambda: self.spool.fill_ratio)

    async def start(self) -> None:
        """Migrate if asked, start the writer loop, then listen."""
        s = self.settings
        if s.migrate:
            await asyncio.to_thread(upgrade, self.engine)
        await asyncio.to_thread(self.writer.start)  # a writer process takes a while to start
        if self.forwarder is not None:
            self.forwarder.start()
        self.port = await self.server.start(s.host, s.port)
        self.http_port = await self.http.start(s.http_host, s.http_port)
        self._tasks = [
            asyncio.create_task(self._every(0.1, self._housekeeping)),
            asyncio.create_task(self._every(s.api_spool_interval, self._ingest_api_spool)),
            asyncio.create_task(self._every(s.gaps_interval, self._read_gaps)),
            asyncio.create_task(self._every(s.alert_interval, self._read_alerts)),
            asyncio.create_task(self._every(s.maintenance_interval, self._upkeep)),
            asyncio.create_task(self._every(s.api_spool_interval, self._note_run_ends)),
        ]
        log.info(
            "sidecar listening on %s:%d (http %d), store %s, spool %s",
            s.host,
            self.port,
            self.http_port,
            self.engine.url.render_as_string(hide_password=True),
            s.spool_dir,
        )

    async def shutdown(self) -> None:
        """Stop accepting, let peers finish, drain the spool into the store, close."""
        self._stopping = True
        self.server.stop_accepting()
        await self.server.close_connections(min(_SOCKET_GRACE, self.settings.drain_timeout))
        self._stop_jobs.set()  # periodic jobs finish what they are doing, then end
        self.upkeep.request_stop()  # a prune ends after its current batch
        await asyncio.gather(*self._tasks)
        await self.server.finish_acks()
        await asyncio.to_thread(self.spool.sync)
        await asyncio.to_thread(self.writer.stop, self.settings.drain_timeout)
        if self.forwarder is not None:
            await asyncio.to_thread(self.forwarder.stop, self.settings.drain_timeout)
        self.spool.refresh()  # what a writer process committed
        self.spool.close()
        await self.http.close()
        self.engine.dispose()
        log.info("sidecar stopped; %d spool bytes left for the next start", self.spool.size)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while listening and the writer loop (and the forwarder, if any) runs; a
        down store or aggregator is not unhealthy."""
        forwarding = self.forwarder is None or self.forwarder.alive  # else the spool only grows
        ok = not self._stopping and self.writer.alive and forwarding
        detail: dict[str, Any] = {
            "status": "ok" if ok else "unavailable",
            "writer": "running" if self.writer.alive else f"stopped: {self.writer.error!r}",
            "store_up": self.writer.store_up,
            "spool_bytes": self.spool.size,
            "spool_pending_bytes": self.spool.pending,
            "spool_fill_ratio": round(self.spool.fill_ratio, 4),
            "reading_paused": self.server.paused,
            "connections": len(self.server.connections),
            "forward": None if self.forwarder is None else self._forward_health(),
        }
        return ok, detail

    def _forwarder(self, settings: SidecarSettings) -> Forwarder | None:
        """The onward forwarder that ``--forward-to`` asks for (None: not asked)."""
        if not settings.forward_to:
            return None
        host, port = parse_address(settings.forward_to)
        client = AggregatorClient(
            host, port, require_ack=settings.forward_require_ack, timeout=settings.forward_timeout
        )
        return Forwarder(
            self.spool,
            client,
            self.metrics.registry,
            chunk_records=settings.forward_chunk_records,
            sampler=PayloadSampler.from_text(settings.payload_sampling),
            retry_max_delay=settings.retry_max_delay,
        )

    def _forward_health(self) -> dict[str, Any]:
        forwarder = self.forwarder
        assert forwarder is not None
        return {
            "to": self.settings.forward_to,
            "running": forwarder.alive,
            "aggregator_up": forwarder.up,
            "error": None if forwarder.error is None else repr(forwarder.error),
        }

    async def _upkeep(self) -> None:
        await asyncio.to_thread(self.upkeep.run_once)

    async def _every(self, interval: float, job: Any) -> None:
        while not self._stop_jobs.is_set():
            try:
                await job()
            except Exception:  # a periodic job failing must not end the sidecar
                log.exception("periodic job %s failed", getattr(job, "__name__", job))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_jobs.wait(), interval)

    async def _housekeeping(self) -> None:
        if self.settings.writer_process:
            self.spool.refresh()
        self.server.maybe_resume()
        if self.spool.appended > self.spool.synced:
            self._since_fsync += 0.1
            if self._since_fsync >= self.settings.fsync_interval:
                self._since_fsync = 0.0
                await self.server.durable(self.spool.appended)

    async def _ingest_api_spool(self) -> None:
        s = self.settings
        result = await asyncio.to_thread(
            ingest_directory,
            s.spool_dir / "api",
            self.spool,
            stale_seconds=s.stale_part_seconds,
            max_entry_bytes=s.max_entry_bytes,
        )
        self.metrics.api_files.inc(result.files)
        self.metrics.received.labels("api_spool").inc(result.records + result.dead_letters)
        if self.spool.full and not self.server.paused:
            self.server.pause()

    async def _note_run_ends(self) -> None:
        """Store the last seq of every api run that has ended (``sidecar.ingest.runends``)."""
        await asyncio.to_thread(note_run_ends, self.settings.spool_dir, self.engine)

    async def _read_alerts(self) -> None:
        """The alert gauges from the recent window's rollups (``sidecar.store.alerts``)."""
        try:
            figures = await asyncio.to_thread(read_alerts, self.engine, self.settings.alert_window)
        except SQLAlchemyError as exc:  # the store down or not migrated: the writer says so
            log.debug("alert figures not read: %s", exc)
            return
        self.alerts.publish(figures)

    async def _read_gaps(self) -> None:
        missing = await asyncio.to_thread(missing_records, self.engine)
        if missing is not None:
            self.metrics.missing.set(missing)


def note_run_ends(spool_dir: Path, engine: Engine) -> int:
    """The ended api runs' last seqs into the store, then their marks deleted; how many.
    With the store unreachable the marks stay, for the next call."""
    ends = ended_runs(spool_dir)
    if not ends:
        return 0
    try:
        store_run_ends(engine, [(e.host, e.pid, e.run_id, e.last_seq) for e in ends])
    except Exception as exc:  # the store down or busy: the writer reports that
        log.debug("ended api runs not stored yet: %s", exc)
        return 0
    forget(ends)
    log.info("api runs ended: %s", ", ".join(f"{e.run_id} at seq {e.last_seq}" for e in ends))
    return len(ends)


def missing_records(engine: Engine) -> int | None:
    """Sum over api processes of ``max_seq - received``; None when the store is unreadable."""
    try:
        return missing_total(engine)
    except Exception:  # the store may be down or not migrated yet; the writer reports that
        return None


def run(settings: SidecarSettings) -> int:
    """Run until SIGTERM or SIGINT, then drain and return 0 (the process's exit code)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    tune_gc()
    runner: Any = asyncio.run if uvloop is None else uvloop.run
    result: int = runner(_serve(settings))
    return result


async def _serve(settings: SidecarSettings) -> int:
    sidecar = Sidecar(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await sidecar.start()
    await stop.wait()
    log.info("signal received: draining")
    await sidecar.shutdown()
    return 0
