"""What one request leaves in the log: the per-request context and the record it becomes.

The record is a plain dict with exactly the fields of ``sidecar.record.PredictionRecord``
(built without pydantic: this runs once per request). The sidecar validates it on arrival.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

from sidecar.record import SCHEMA_VERSION, Routing

MAX_ENDPOINT = 128
MAX_REQUEST_ID = 256
MAX_ERROR = 4096


class RequestLog:
    """What is known about one request so far; the middleware creates it, handlers fill it."""

    __slots__ = (
        "authorization",
        "content_length",
        "content_type",
        "endpoint",
        "error",
        "event_time",
        "inference_ms",
        "inputs",
        "job_id",
        "method",
        "model",
        "pinned",
        "request_id",
        "results",
        "routing",
        "seq",
        "shadow_of",
        "started",
        "sticky",
        "upstream_ms",
        "version",
    )

    def __init__(self, job_id: str, method: str, endpoint: str) -> None:
        self.job_id = job_id
        self.started = time.perf_counter()
        self.event_time = time.time()
        self.method = method
        self.endpoint = endpoint
        self.request_id: str | None = None
        self.pinned: str | None = None
        """The version the ``X-Model-Version`` header asks for, if any."""
        self.sticky: str | None = None
        """The value of the configured sticky-routing header, if the request carries it."""
        self.authorization: str | None = None
        """The Authorization header, for a group's predict key; never in the record."""
        self.content_type: str | None = None
        self.content_length: int | None = None
        self.model: str | None = None
        self.version: str | None = None
        self.routing: Routing | None = None
        self.shadow_of: str | None = None
        """For a shadow version's copy of a request: the job_id of the primary's record."""
        self.inputs: list[list[float]] | None = None
        self.results: list[dict[str, Any]] | None = None
        self.inference_ms: float | None = None
        self.upstream_ms: float | None = None
        """A remote version's upstream call, in milliseconds (None for a local one)."""
        self.error: str | None = None
        self.seq: int | None = None
        """The record's seq, once reserved as the answer goes out (``RecordBuilder.reserve``)."""


class RecordBuilder:
    """Turns a finished request into a record dict, numbering records per process from 1."""

    def __init__(
        self, host: str | None = None, pid: int | None = None, run_id: str | None = None
    ) -> None:
        self.host = (host or socket.gethostname())[:255]
        self.pid = os.getpid() if pid is None else pid
        # A new run of this process: a restart with the same pid (a container restarted in
        # its pod) numbers its records from 1 again, under another run_id.
        self.run_id = secrets.token_hex(8) if run_id is None else run_id
        self._seq: Iterator[int] = itertools.count(1)

    def count_with(self, seqs: Iterator[int]) -> None:
        """Take seqs from ``seqs`` from now on (before the first record): an
        ``api.runmark.RunMark``, which publishes each one for the gap accounting."""
        self._seq = seqs

    def reserve(self, log: RequestLog) -> None:
        """Give ``log`` its record's seq now, before its answer is written: a process killed
        between the answer and the record then leaves a counted gap, not an answered request
        with no seq at all."""
        log.seq = next(self._seq)

    def build(self, log: RequestLog, status: int, latency_ms: float) -> dict[str, Any]:
        """The record of ``log``, answered with ``status`` after ``latency_ms``."""
        error = log.error
        if error is not None and len(error) > MAX_ERROR:
            error = error[: MAX_ERROR - 1] + "…"
        request_id = log.request_id
        if request_id is not None and len(request_id) > MAX_REQUEST_ID:
            request_id = request_id[:MAX_REQUEST_ID]
        return {
            "schema_version": SCHEMA_VERSION,
            "job_id": log.job_id,
            "request_id": request_id,
            "event_time": log.event_time,
            "endpoint": log.endpoint[:MAX_ENDPOINT],
            "method": log.method[:8],
            "status": status,
            "model": log.model,
            "version": log.version,
            "routing": log.routing,
            "shadow_of": log.shadow_of,
            "inputs": log.inputs,
            "results": log.results,
            "latency_ms": latency_ms,
            "inference_ms": log.inference_ms,
            "upstream_ms": log.upstream_ms,
            "host": self.host,
            "pid": self.pid,
            "run_id": self.run_id,
            "seq": next(self._seq) if log.seq is None else log.seq,
            "error": error,
        }
