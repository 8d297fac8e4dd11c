"""Shadow traffic: a copy of a model's requests for its shadow versions, off the request path.

After the caller's answer is sent, ``ShadowMirror.offer`` (request path: a random draw and
a non-blocking put per shadow) queues the request's rows for each shadow version of its
model, in the share that version asked for. One thread takes them from the bounded queue,
runs the shadow version and emits its answer as a record of its own: routing ``shadow``,
``shadow_of`` the primary's job_id, the same request id, endpoint and event time. The answer
is never returned to anyone. A full queue drops the copy and counts it; it never waits, so
the primary is never slowed by a shadow beyond the CPU the thread takes.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from api.errors import InvalidInputError, ServiceError
from api.job_ids import new_job_id
from api.records import RecordBuilder, RequestLog
from api.runtime.model import ModelVersion
from api.runtime.registry import Shadow

log = logging.getLogger(__name__)

_STOP = None


Predict = Callable[[RequestLog, ModelVersion, list[list[float]]], object]
"""Fills a request log's results from rows (``PredictionHandler.infer_rows``)."""
Count = Callable[[str, str, str], None]
"""(model, version, outcome) -> counts one copy: ``answered``, ``failed`` or ``dropped``."""


class ShadowMirror:
    """A bounded queue of request copies and the thread that answers them."""

    def __init__(
        self,
        predict: Predict,
        builder: RecordBuilder,
        emit: Callable[[dict[str, Any]], None],
        count: Count,
        *,
        queue_size: int = 1000,
        seed: int | None = None,
    ) -> None:
        self._predict = predict
        self._builder = builder
        self._emit = emit
        self._count = count
        self._queue: queue.Queue[tuple[ModelVersion, RequestLog] | None] = queue.Queue(
            maxsize=queue_size
        )
        self._random = random.Random(seed)  # noqa: S311 - sampling, not security
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (lifespan startup; a mirror never started only drops)."""
        self._thread = threading.Thread(target=self._run, name="predlog-shadow", daemon=True)
        self._thread.start()

    def offer(self, primary: RequestLog, shadows: tuple[Shadow, ...]) -> None:
        """Queue a copy of ``primary`` for each shadow it is sampled for (request path)."""
        draw = self._random.random
        for shadow in shadows:
            if shadow.fraction < 1.0 and draw() >= shadow.fraction:
                continue
            version = shadow.version
            try:
                if self._thread is None:
                    raise queue.Full
                self._queue.put_nowait((version, primary))
            except queue.Full:
                self._count(version.name, version.version, "dropped")

    def stop(self, timeout: float = 5.0) -> None:
        """Answer what is queued within ``timeout``, then count the rest as dropped."""
        thread = self._thread
        if thread is None:
            return
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                continue
        thread.join(max(0.0, deadline - time.monotonic()))
        self._thread = None
        while True:  # what the thread did not reach
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._count(item[0].name, item[0].version, "dropped")

    @property
    def pending(self) -> int:
        """Copies queued and not answered yet."""
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            version, primary = item
            try:
                self._answer(version, primary)
            except Exception:  # a record that cannot be built: never the thread's end
                log.exception("shadow copy of job %s failed", primary.job_id)

    def _answer(self, version: ModelVersion, primary: RequestLog) -> None:
        copy = RequestLog(new_job_id(), primary.method, primary.endpoint)
        copy.event_time = primary.event_time
        copy.request_id = primary.request_id
        copy.model, copy.version, copy.routing = version.name, version.version, "shadow"
        copy.shadow_of = primary.job_id
        rows = primary.inputs or []
        status = 200
        try:
            width = version.manifest.n_features
            if any(len(row) != width for row in rows):
                raise InvalidInputError(f"the shadow version expects rows of {width} features")
            self._predict(copy, version, rows)
        except ServiceError as exc:
            status, copy.error = exc.status_code, f"shadow: {exc.message}"
        except Exception as exc:
            status, copy.error = 500, f"shadow: {exc!r}"
        latency_ms = (time.perf_counter() - copy.started) * 1000.0
        self._emit(self._builder.build(copy, status, latency_ms))
        self._count(version.name, version.version, "answered" if status == 200 else "failed")
