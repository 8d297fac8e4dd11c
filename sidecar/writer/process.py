"""The writer loop in a process of its own, so that receiving and writing use two cores.

The receiving process appends to the spool and acknowledges; this process follows the
spool on disk (``SpoolFollower``), validates, writes to the store, then writes the
checkpoint and trims the spool. Nothing else is shared: the durability rules are the
spool's, whichever process writes. The two talk over a pipe: the parent sends
``("stop", drain_timeout)``; the child sends ``("ready",)`` once it can write, then what
it did (``PipeReport``), which the parent adds to its metrics (``MetricsReport``), and
``("failed", reason)`` if the loop ended abnormally.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import Engine

from sidecar.batch_histogram import bucket_counts
from sidecar.metrics import LAG_BUCKETS, SidecarMetrics
from sidecar.settings import SidecarSettings
from sidecar.spool.follower import SpoolFollower
from sidecar.store.engine import make_engine
from sidecar.store.references import ReferenceSource
from sidecar.store.sampling import PayloadSampler
from sidecar.store.writer import StoreWriter
from sidecar.writer.loop import WriterLoop
from sidecar.writer.report import MetricsReport

log = logging.getLogger("predlog.sidecar")

_READY_TIMEOUT = 120.0
"""How long the parent waits for the writer process to import and start."""


def tune_gc() -> None:
    """Fewer garbage collections: records hold no reference cycles.

    A batch is thousands of freshly decoded dicts and lists; with the default threshold
    the collector walks the young ones every 700 allocations, and the older generations
    often, which cost more than decoding them. Objects from start-up are frozen
    out of every collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class PipeReport:
    """A ``WriterReport`` that sends what the writer did to the parent process."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, *message: Any) -> None:
        """Send one message to the parent."""
        with self._lock:
            self._conn.send(message)

    def written(self, seconds: float) -> None:
        self.send("written", seconds)

    def store_error(self, kind: str) -> None:
        self.send("store_error", kind)

    def batch(
        self, inserted: int, duplicates: int, dead_letters: int, size: int, lags: list[float]
    ) -> None:
        # Bucketed here: the parent's core is the receiving one.
        counts, total = bucket_counts(LAG_BUCKETS, lags)
        self.send("batch", inserted, duplicates, dead_letters, size, counts, total)

    def corrupt(self, segments: int) -> None:
        if segments:
            self.send("corrupt", segments)


def store_writer(settings: SidecarSettings, engine: Engine) -> StoreWriter:
    """The store writer the settings ask for (with feature histograms, or without)."""
    references = ReferenceSource(settings.models_dir) if settings.histograms else None
    sampler = PayloadSampler.from_text(settings.payload_sampling)
    return StoreWriter(engine, references=references, sampler=sampler)


def writer_main(settings: SidecarSettings, conn: Connection) -> None:
    """The writer process: run the loop over the spool until the parent says stop."""
    # The parent decides when to stop (a Ctrl-C reaches the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = make_engine(settings.store_url)
    report = PipeReport(conn)
    loop = WriterLoop(
        SpoolFollower(settings.spool_dir / "sidecar"),
        lambda: store_writer(settings, engine),
        report,
        batch_records=settings.batch_records,
        batch_interval=settings.batch_interval,
        retry_max_delay=settings.retry_max_delay,
        batch_max_records=settings.batch_max_records,
    )

    def control() -> None:
        try:
            message = conn.recv()
            loop.request_stop(float(message[1]))
        except (EOFError, OSError):  # the parent is gone: stop, the spool keeps the rest
            loop.request_stop(0.0)

    threading.Thread(target=control, name="predlog-writer-control", daemon=True).start()
    tune_gc()
    report.send("ready")
    try:
        loop.run()
        if loop.error is not None:
            report.send("failed", repr(loop.error))
    finally:
        engine.dispose()
        conn.close()


class WriterProcess:
    """The parent's handle on the writer process: start, stop, health and metrics."""

    def __init__(self, settings: SidecarSettings, metrics: SidecarMetrics) -> None:
        self._settings = settings
        self._report = MetricsReport(metrics)
        self._ready = threading.Event()
        self._process: Any = None
        self._conn: Connection | None = None
        self._listener: threading.Thread | None = None
        self.error: str | None = None
        """What ended the writer, if it ended abnormally."""

    def start(self) -> None:
        """Start the process and wait until it is ready to write (blocking)."""
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        parent, child = ctx.Pipe()
        self._conn = parent
        self._process = ctx.Process(
            target=writer_main, args=(self._settings, child), name="predlog-writer", daemon=True
        )
        self._process.start()
        child.close()
        self._listener = threading.Thread(
            target=self._listen, name="predlog-writer-listener", daemon=True
        )
        self._listener.start()
        if not self._ready.wait(_READY_TIMEOUT) and self.error is None:
            self.error = "the writer process did not start"
        if self.error is not None:
            raise RuntimeError(f"writer process: {self.error}")

    @property
    def pid(self) -> int | None:
        """The writer process's id (None before it starts)."""
        return None if self._process is None else int(self._process.pid)

    @property
    def alive(self) -> bool:
        """Whether the writer process runs."""
        return self._process is not None and self._process.is_alive() and self.error is None

    @property
    def store_up(self) -> bool | None:
        """Whether the last store write worked (None before the first)."""
        return self._report.store_up

    def stop(self, drain_timeout: float) -> None:
        """Tell the writer to drain (for at most ``drain_timeout`` seconds); wait for it."""
        if self._process is None or self._conn is None:
            return
        with contextlib.suppress(OSError):  # it may be gone already
            self._conn.send(("stop", drain_timeout))
        self._process.join()
        if self._listener is not None:
            self._listener.join(10)
        self._conn.close()

    def _listen(self) -> None:
        assert self._conn is not None
        report = self._report
        try:
            while True:
                kind, *args = self._conn.recv()
                if kind == "batch":
                    report.bucketed_batch(*args)
                elif kind == "written":
                    report.written(*args)
                elif kind == "store_error":
                    report.store_error(*args)
                elif kind == "corrupt":
                    report.corrupt(*args)
                elif kind == "ready":
                    self._ready.set()
                elif kind == "failed":
                    self.error = str(args[0])
                    log.error("writer process failed: %s", self.error)
        except (EOFError, OSError):
            if not self._ready.is_set():
                self.error = "the writer process exited during start-up"
                self._ready.set()
