"""Everything one api process serves with, built in the factory, started in the lifespan."""

from __future__ import annotations

import gc
import logging
from functools import partial
from typing import Any

from api import drain
from api.emitter import RecordEmitter
from api.feedback import LABEL as FEEDBACK_LABEL
from api.feedback import FeedbackHandler
from api.handlers import Limits, MetadataHandler, PredictionHandler
from api.metrics import ApiMetrics
from api.records import RecordBuilder, RequestLog
from api.registry.admin import AdminHandler, import_directory
from api.registry.live import LiveRegistry
from api.registry.rows import Identity
from api.registry.store import RegistryStore, wait_for_tables
from api.runmark import RunMark
from api.runtime.registry import ModelRouter, Registry
from api.runtime.remote import RemoteOptions
from api.settings import UNLOGGED_PATHS, ApiSettings
from api.shadow import ShadowMirror
from api.spool import SpoolWriter
from sidecar.store.engine import make_engine

log = logging.getLogger(__name__)


class Services:
    """The registry, the handlers, the record builder and emitter, and the metrics of one app."""

    def __init__(self, settings: ApiSettings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.metrics = ApiMetrics()
        self.builder = RecordBuilder()
        self.run_mark: RunMark | None = None
        self.store: RegistryStore | None = None
        self.admin: AdminHandler | None = None
        self.registry: ModelRouter
        live: LiveRegistry | None = None
        if registry is not None:
            self.registry = registry
        elif settings.store_url:  # the registry in the store: hot updates, the admin API
            engine = make_engine(settings.store_url, pool_size=2, max_overflow=4)
            self.store = RegistryStore(engine, max_online=settings.max_versions)
            worker = Identity(self.builder.host, self.builder.pid, self.builder.run_id)
            live = LiveRegistry(
                self.store,
                settings.bundle_cache,
                worker,
                poll_interval=settings.registry_poll,
                seed=settings.seed,
                remote=RemoteOptions(settings.upstream_timeout, settings.upstream_probe),
            )
            self.registry = live
            self.admin = AdminHandler(self.store, live, settings.max_bundle_bytes)
        else:
            self.registry = Registry.from_directory(
                settings.models_dir,
                weights=settings.weights or None,
                seed=settings.seed,
                remote=RemoteOptions(settings.upstream_timeout, settings.upstream_probe),
            )
        limits = Limits(max_rows=settings.max_rows, max_batch_rows=settings.max_batch_rows)
        self.predictions = PredictionHandler(
            self.registry, limits, self.metrics, live.authorize if live is not None else None
        )
        self.metadata = MetadataHandler(self.registry)
        self.feedback = FeedbackHandler(partial(self._emit_tagged, FEEDBACK_LABEL))
        self.emitter = RecordEmitter(
            settings.forward_address,
            SpoolWriter(settings.spool_dir, host=self.builder.host, pid=self.builder.pid),
            queue_size=settings.queue_size,
            timeout=settings.emit_timeout,
            retry_interval=settings.retry_interval,
            acks=settings.forward_acks,
            on_outcome=self.metrics.observe_record,
            on_tick=self.metrics.flush,  # metrics reach prometheus off the event loop
        )
        self.shadow = ShadowMirror(
            self.predictions.infer_rows,
            self.builder,
            self.emitter.emit,
            self.metrics.observe_shadow,
            queue_size=settings.shadow_queue,
            seed=settings.seed,
        )

    def start(self) -> None:
        """Load every model version and start the emitter (lifespan startup)."""
        if self.store is not None:
            wait_for_tables(self.store, self.settings.store_wait)
            if self.settings.models_dir.is_dir():
                imported = import_directory(
                    self.store, self.settings.models_dir, self.settings.weights
                )
                if imported:
                    log.info("imported into the registry: %s", ", ".join(imported))
        self.registry.load()
        self._publish_seqs()
        self.emitter.start()
        drain.install(self.settings.shutdown_drain)
        self.shadow.start()
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # GC's full collections, which otherwise walk it all (tens of ms: a p99 spike).
        gc.freeze()
        served = self.registry.names() if self.registry.ready else []
        log.info(
            "api ready: models %s, forwarding to %s, spool %s",
            {n: [v.version for v in self.registry.versions(n)] for n in served},
            self.settings.forward,
            self.emitter.spool.directory,
        )

    def _publish_seqs(self) -> None:
        """Number records through a run mark, so that what this run never sends is counted
        even if it is killed (``api.runmark``); without one where the spool cannot hold it."""
        builder = self.builder
        try:
            mark = RunMark(self.settings.spool_dir, builder.host, builder.pid, builder.run_id)
        except OSError as exc:
            log.warning(
                "no run mark in %s (%s): a kill's lost tail is not counted",
                self.settings.spool_dir,
                exc,
            )
            return
        builder.count_with(mark)
        self.run_mark = mark

    def _emit_tagged(self, label: str, record: dict[str, Any]) -> None:
        """Emit a record of another tag (feedback): the emitter is built after the handlers."""
        self.emitter.emit_tagged(label, record)

    def stop(self) -> None:
        """Flush the emitter (what cannot be sent is spooled) and unload the models (shutdown)."""
        self.shadow.stop()
        self.emitter.close()
        if self.run_mark is not None:
            self.run_mark.close()  # the run is over: the sidecar may note its end now
        self.metrics.flush()
        self.registry.unload()
        log.info("api stopped: records %s", self.emitter.counts)

    def reserve(self, request: RequestLog) -> None:
        """Reserve the seq of the request's record just before its answer is written."""
        if request.endpoint not in UNLOGGED_PATHS:
            self.builder.reserve(request)

    def finish(self, request: RequestLog, status: int, endpoint: str, now: float) -> None:
        """Count an answered request and emit its record (called once per request)."""
        latency_ms = (now - request.started) * 1000.0
        self.metrics.observe_request(
            endpoint, request.model or "", request.version or "", status, latency_ms / 1000.0
        )
        if request.endpoint in UNLOGGED_PATHS:
            return
        self.emitter.emit(self.builder.build(request, status, latency_ms))
        if status == 200 and request.inputs and request.model is not None:
            shadows = self.registry.shadows(request.model)
            if shadows:  # after the answer is sent: a copy for each shadow version
                self.shadow.offer(request, shadows)
