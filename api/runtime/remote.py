"""A remote version: the model runs on other servers, predlog routes, balances and logs.

The manifest's ``remote`` section names the endpoints and their protocol: the Open
Inference Protocol v2 (``POST /v2/models/{model}[/versions/{v}]/infer``, health
``/v2/health/ready``) or the microservice pattern's ``POST /predict`` (health ``/health``).
The bundle brings no graph; it may bring a detector, which then scores the rows here.
Without one the rows' outlier fields stay empty (``NO_SCORES``).

On the event loop the handlers await ``acall``; a thread (the shadow thread, the batch
route's thread pool) may block in ``call``. ``predict`` is the blocking call for the load
check only: on the event loop's thread ``call`` refuses, so a route that has no async path
never stalls the loop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from api.errors import BundleError, ServiceError, UpstreamError
from api.runtime.bundle import BundleManifest, RemoteSpec
from api.runtime.model import F32, F64, NO_LABELS, Bools, ModelVersion, Output
from api.runtime.outlier import OutlierScorer, load_scorer
from api.runtime.upstream import Answer, Upstreams

NO_SCORES: F64 = np.empty(0, dtype=np.float64)
"""A version without a detector: no outlier scores (its rows' fields are None)."""
NO_SCORES.flags.writeable = False
NO_FLAGS: Bools = np.empty(0, dtype=np.bool_)
NO_FLAGS.flags.writeable = False
HEALTH = {"oip": "/v2/health/ready", "predict": "/health"}
"""The health path probed, by protocol."""


class NotOnThisRouteError(ServiceError):
    """A remote version asked for on a route that has no async path (the legacy shapes)."""

    status_code = 501


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    """How every remote version of a process calls its upstreams (the api's settings)."""

    timeout: float = 2.0
    """Seconds a call may take before the caller gets 504."""
    probe_interval: float = 1.0
    """Seconds between health probes of each endpoint."""


class RemoteModelVersion(ModelVersion):
    """A version answered by HTTP endpoints (OIP v2 or the pattern's ``/predict``)."""

    remote = True

    def __init__(
        self,
        manifest: BundleManifest,
        bundle_dir: Path | None = None,
        options: RemoteOptions | None = None,
    ) -> None:
        super().__init__(manifest)
        if manifest.remote is None:
            raise BundleError(f"{manifest.name}/{manifest.version}: the manifest names no remote")
        self.spec: RemoteSpec = manifest.remote
        self.bundle_dir = bundle_dir
        self.options = options or RemoteOptions()
        self.upstreams: Upstreams | None = None
        self.scorer: OutlierScorer | None = None
        self.probe_answer: Output | None = None
        """The answer to the first sample row at load: what ``/metadata`` shows."""
        model = self.spec.model or manifest.name
        if self.spec.protocol == "oip":
            upstream_version = self.spec.model_version
            pinned = "" if upstream_version is None else f"/versions/{upstream_version}"
            self.path = f"/v2/models/{model}{pinned}/infer"
        else:
            self.path = "/predict"

    def load(self) -> None:
        """Open the detector if the bundle has one, probe the endpoints, ask one row."""
        if self.ready:
            return
        if self.manifest.detector is not None:
            if self.bundle_dir is None:
                raise BundleError(f"{self.name}/{self.version}: a detector needs its bundle")
            self.scorer = load_scorer(self.bundle_dir, self.manifest)
        upstreams = Upstreams(
            self.spec.endpoints,
            HEALTH[self.spec.protocol],
            timeout=self.options.timeout,
            probe_interval=self.options.probe_interval,
        )
        upstreams.start()
        self.upstreams = upstreams
        try:
            rows = self.manifest.sample_rows[:1] or [[s.mean for s in self.manifest.feature_stats]]
            self.probe_answer, _ = self._blocking(np.asarray(rows, dtype=np.float32))
        except Exception:
            upstreams.stop()
            self.upstreams = None
            raise
        self.ready = True

    def unload(self) -> None:
        """Stop probing; close the kept-alive connections."""
        self.ready = False
        if self.upstreams is not None:
            self.upstreams.stop()

    def predict(self, batch: F32) -> Output:
        """A blocking call (a thread's, never the event loop's)."""
        return self.call(batch)[0]

    def call(self, batch: F32) -> tuple[Output, float]:
        """The output and the upstream's milliseconds, blocking the calling thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop runs in this thread: blocking is fine
            return self._blocking(batch)
        raise NotOnThisRouteError(
            f"model {self.name} version {self.version} is remote: this route does not reach "
            "remote versions (use /predict, /predict/label, /predict/batch or /v2 infer)"
        )

    async def acall(self, batch: F32) -> tuple[Output, float]:
        """The output and the upstream's milliseconds, awaited on the event loop."""
        upstreams = self._upstreams()
        body = self._request(batch)
        started = time.perf_counter()
        answer = await upstreams.call(self.path, body, "application/json")
        upstream_ms = (time.perf_counter() - started) * 1000.0
        return self._output(answer, batch), upstream_ms

    def _blocking(self, batch: F32) -> tuple[Output, float]:
        upstreams = self._upstreams()
        body = self._request(batch)
        started = time.perf_counter()
        answer = upstreams.call_sync(self.path, body, "application/json")
        upstream_ms = (time.perf_counter() - started) * 1000.0
        return self._output(answer, batch), upstream_ms

    def _upstreams(self) -> Upstreams:
        if self.upstreams is None:
            raise UpstreamError(f"model {self.name} version {self.version} is not loaded")
        return self.upstreams

    def _request(self, batch: F32) -> bytes:
        rows = batch.tolist()
        if self.spec.protocol == "predict":
            return orjson.dumps({"data": rows})
        n, width = batch.shape
        flat = [v for row in rows for v in row]
        tensor = {"name": self.manifest.input_name, "shape": [n, width], "datatype": "FP32"}
        return orjson.dumps({"inputs": [{**tensor, "data": flat}]})

    def _output(self, answer: Answer, batch: F32) -> Output:
        where = f"upstream {answer.endpoint}"
        if answer.status != 200:
            raise UpstreamError(
                f"{where} answered {answer.status}: {answer.body[:300].decode('utf-8', 'replace')}"
            )
        try:
            payload: Any = orjson.loads(answer.body)
            values = (
                _predict_values(payload, len(batch))
                if self.spec.protocol == "predict"
                else _oip_values(payload, self.manifest)
            )
            proba = np.asarray(values, dtype=np.float32)
        except (ValueError, TypeError, KeyError) as exc:
            raise UpstreamError(f"{where} answered what predlog cannot read: {exc}"[:500]) from exc
        width = 1 if self.manifest.is_regressor else len(self.manifest.labels)
        if proba.shape != (len(batch), width) or not np.isfinite(proba).all():
            raise UpstreamError(
                f"{where} answered shape {list(proba.shape)}, expected [{len(batch)}, {width}] "
                "finite values"
            )
        label = NO_LABELS if self.manifest.is_regressor else proba.argmax(axis=1).astype(np.int64)
        if self.scorer is None:
            return Output(proba, label, NO_SCORES, NO_FLAGS)
        score = self.scorer.score(np.ascontiguousarray(batch, dtype=np.float32))
        return Output(proba, label, score, score >= self.manifest.outlier_threshold)


def _oip_values(payload: Any, manifest: BundleManifest) -> list[list[float]]:
    """The probabilities (a regressor's values) from an OIP infer answer."""
    outputs = payload["outputs"]
    wanted = ("prediction", "variable") if manifest.is_regressor else ("probabilities",)
    found = [o for o in outputs if o.get("name") in wanted] or [
        o for o in outputs if o.get("datatype") in ("FP32", "FP64")
    ]
    if not found:
        raise KeyError("no FP32 output tensor")
    tensor = found[0]
    shape = tensor["shape"]
    data = tensor["data"]
    if len(shape) == 1:  # one value per row
        return [[float(v)] for v in data]
    width = int(shape[-1])
    return [data[i : i + width] for i in range(0, len(data), width)]


def _predict_values(payload: Any, n: int) -> list[list[float]]:
    """The probabilities from the pattern's ``/predict`` answer (one row: flat, or nested)."""
    prediction = payload["prediction"]
    if n == 1 and prediction and not isinstance(prediction[0], list):
        return [prediction]
    return list(prediction)
