"""The Open Inference Protocol v2's data plane: a plain class a test calls without HTTP.

Inference goes through ``PredictionHandler`` as ``/predict`` does (``route``: weights,
pinning by the path's version, sticky; ``infer_rows``: the model, the record's inputs and
results, the metrics), so a call is routed and logged exactly like every other.
"""

from __future__ import annotations

from collections.abc import Coroutine
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson

from api.errors import InvalidInputError, ModelNotFoundError, ModelNotReadyError
from api.exchange import Reply
from api.handlers import PredictionHandler
from api.oip.reader import RequestReader
from api.oip.request import InferRequest, output_names
from api.oip.response import write_response
from api.oip.schemas import IS_OUTLIER, LABEL, OUTLIER_SCORE, PREDICTION, PROBABILITIES
from api.records import RequestLog
from api.runtime.model import ModelVersion, OnnxModelVersion
from api.runtime.registry import ModelRouter
from api.schemas import MAX_NAME

EXTENSIONS = ["binary_tensor_data"]
"""The protocol's extensions served (``GET /v2``)."""
BINARY = b"application/octet-stream"
HEADER_LENGTH = b"inference-header-content-length"


def _package_version() -> str:
    try:
        return version("predlog")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0"


class OipHandler:
    """Health, metadata and inference of ``/v2``."""

    def __init__(self, predictions: PredictionHandler, max_rows: int) -> None:
        self.predictions = predictions
        self.registry: ModelRouter = predictions.registry
        self.max_rows = max_rows
        self.reader = RequestReader(max_rows)
        self.server = {"name": "predlog", "version": _package_version(), "extensions": EXTENSIONS}

    def ready(self) -> None:
        """``GET /v2/health/ready``: every served version is loaded, else 503."""
        if not self.registry.ready:
            raise ModelNotReadyError("not every model version is loaded yet")

    def model_ready(self, name: str, version: str | None) -> dict[str, Any]:
        """``GET /v2/models/{name}[/versions/{v}]/ready``: 404 unknown, 503 not loaded."""
        versions = [self.version(name, version)] if version else self._versions(name)
        if not any(mv.ready for mv in versions):
            raise ModelNotReadyError(f"model {name} {_which(version)} is not loaded")
        return {"name": name, "ready": True}

    def model_metadata(self, name: str, version: str | None) -> dict[str, Any]:
        """``GET /v2/models/{name}[/versions/{v}]``: the input and output tensors (of the
        newest version when none is named)."""
        versions = self._versions(name)
        mv = self.version(name, version) if version else versions[-1]
        manifest = mv.manifest
        n_labels = 1 if manifest.is_regressor else len(manifest.labels)
        shapes = {
            PROBABILITIES: ("FP32", [-1, n_labels]),
            PREDICTION: ("FP32", [-1, 1]),
            LABEL: ("BYTES", [-1]),
            OUTLIER_SCORE: ("FP64", [-1]),
            IS_OUTLIER: ("BOOL", [-1]),
        }
        return {
            "name": name,
            "versions": [mv.version] if version else [v.version for v in versions],
            "platform": "onnxruntime_onnx" if isinstance(mv, OnnxModelVersion) else "predlog",
            "inputs": [
                {
                    "name": manifest.input_name,
                    "datatype": "FP32",
                    "shape": [-1, manifest.n_features],
                }
            ],
            "outputs": [
                {"name": out, "datatype": shapes[out][0], "shape": shapes[out][1]}
                for out in output_names(manifest)
            ],
            "parameters": {
                "version": mv.version,
                "feature_names": manifest.feature_names,
                "labels": manifest.labels,
                "outlier_threshold": manifest.outlier_threshold,
                "accepted_datatypes": ["FP32", "FP64"],
            },
        }

    def infer(
        self,
        log: RequestLog,
        body: bytes,
        header_length: int | None,
        model: str,
        version: str | None,
    ) -> Reply | Coroutine[Any, Any, Reply]:
        """``POST /v2/models/{name}[/versions/{v}]/infer``: route as ``/predict`` does (the
        path's version pins), check the tensors against the chosen version, predict (a
        remote version's answer: a coroutine that awaits its upstream)."""
        if len(model) > MAX_NAME or (version is not None and len(version) > MAX_NAME):
            raise InvalidInputError(
                f"the model name or version is longer than {MAX_NAME} characters"
            )
        header = self.reader.header(body, header_length)
        if log.request_id is None:  # X-Request-Id first, as on every route
            log.request_id = self.reader.request_id(header)
        chosen = self.predictions.route(log, model, version)
        request = self.reader.request(header, chosen.manifest)
        if chosen.remote:
            return self._infer_remote(log, chosen, request)
        self.predictions.infer_rows(log, chosen, request.rows)
        return self._reply(log, chosen, request)

    async def _infer_remote(
        self, log: RequestLog, chosen: ModelVersion, request: InferRequest
    ) -> Reply:
        await self.predictions.infer_remote(log, chosen, request.rows)
        return self._reply(log, chosen, request)

    @staticmethod
    def _reply(log: RequestLog, chosen: ModelVersion, request: InferRequest) -> Reply:
        answer, length = write_response(request, chosen.manifest, log.results or [], log.job_id)
        if length is None:
            return Reply(200, answer)
        return Reply(200, answer, [(HEADER_LENGTH, str(length).encode())], BINARY)

    def version(self, name: str, version: str) -> ModelVersion:
        """Version ``version`` of model ``name``; ModelNotFoundError when not served."""
        for mv in self._versions(name):
            if mv.version == version:
                return mv
        served = ", ".join(v.version for v in self._versions(name))
        raise ModelNotFoundError(f"model {name!r} has no version {version!r} (served: {served})")

    def _versions(self, name: str) -> list[ModelVersion]:
        return self.registry.versions(name)


def _which(version: str | None) -> str:
    return f"version {version}" if version else "(no version)"


def error_body(status: int, kind: str, message: str) -> bytes:
    """The protocol's error object, ``{"error": "<message>"}``."""
    return orjson.dumps({"error": message})


def is_oip_path(path: str) -> bool:
    """Whether ``path`` is under the protocol's ``/v2``."""
    return path == "/v2" or path.startswith("/v2/")
