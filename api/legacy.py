"""The call shapes of the systems predlog replaces, as plain handlers over ``PredictionHandler``.

- the horizontal-microservice pattern's fan-out, ``POST /predict/all``: every model (or a
  named list) answers the same rows, ``{"<model>": {"prediction": [...]}}``; each model's
  call is a record of its own, all with one request id;
- the model-service console's ``POST /predict/{model}/{version}``: ``{"type": "dense" |
  "libsvm", "feature_num", "data": {"insts": [...]}}`` in, ``{"message": "SUCCESS", "code":
  0, "data": {"insts": [...]}}`` out, errors as non-zero codes (the HTTP status);
- the router's ``GET /elb-healthcheck``: uptime, capacity, requests per model per worker.

Routing (weights, pins, sticky, shadow), checks and records are those of ``/predict``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import orjson

from api import stats
from api.errors import InvalidInputError, ServiceError
from api.exchange import error_shape
from api.handlers import Answered, PredictionHandler
from api.inputs import FLOAT32_MAX, decode, rows_of
from api.job_ids import new_job_id
from api.metrics import ApiMetrics
from api.records import RequestLog
from api.runtime.model import ModelVersion
from api.schemas import MAX_NAME

FAN_OUT = "/predict/all"
MAX_MODELS = 64
"""Most models one fan-out names."""
_CONSOLE = re.compile(r"/predict/[^/]+/[^/]+")
_PATTERN_PATHS = frozenset({"/predict/get/test", "/predict/post/test"})

Finish = Callable[[RequestLog, int, str, float], None]


def is_console_path(path: str) -> bool:
    """Whether ``path`` is the console's ``/predict/{model}/{version}``."""
    return _CONSOLE.fullmatch(path) is not None and path not in _PATTERN_PATHS


def console_error(status: int, kind: str, message: str) -> bytes:
    """The console's error answer: a non-zero code (the HTTP status) and the message."""
    return orjson.dumps({"message": message, "code": status, "data": None})


error_shape(is_console_path, console_error)


class LegacyHandler:
    """``POST /predict/all`` and the console's ``POST /predict/{model}/{version}``."""

    def __init__(self, predictions: PredictionHandler, finish: Finish) -> None:
        self.predictions = predictions
        self.max_rows = predictions.limits.max_rows
        self._finish = finish

    def predict_all(self, log: RequestLog, body: bytes) -> dict[str, Any]:
        """Every model (or ``"models": [...]``) on ``"data"``; one record per model, each
        with the request's id (the caller's ``X-Request-Id``, else this request's job_id)."""
        payload = decode(body)
        names = self._names(payload)
        log.request_id = log.request_id or log.job_id
        answers: dict[str, Any] = {}
        failed: ServiceError | None = None
        for name in names:
            child = _child(log)
            child.model = name  # the record names the model asked, even if it cannot answer
            status = 500
            try:
                chosen = self.predictions.route(child, name, None)
                rows = rows_of(payload, chosen.manifest.n_features, self.max_rows, FAN_OUT)
                self.predictions.infer_rows(child, chosen, rows)
                status = 200
                answers[name] = _fanned(child)
            except ServiceError as exc:
                status, child.error = exc.status_code, exc.message
                failed = failed or exc
                answers[name] = {"job_id": child.job_id, "error": _error(exc)}
            except Exception as exc:
                child.error = f"internal error: {exc!r}"
                raise
            finally:
                self._finish(child, status, FAN_OUT, time.perf_counter())
        if failed is not None and len(answers) == sum("error" in a for a in answers.values()):
            raise failed  # no model could answer: the request fails as the first did
        return answers

    def _names(self, payload: Any) -> list[str]:
        registry = self.predictions.registry
        wanted = payload.get("models") if type(payload) is dict else None
        if wanted is None:
            return registry.names()
        if (
            type(wanted) is not list
            or not 1 <= len(wanted) <= MAX_MODELS
            or any(type(n) is not str or not 1 <= len(n) <= MAX_NAME for n in wanted)
        ):
            raise InvalidInputError(
                f'"models" must be a list of 1 to {MAX_MODELS} model names (of at most '
                f"{MAX_NAME} characters)"
            )
        names = list(dict.fromkeys(wanted))
        for name in names:
            registry.versions(name)  # an unknown name: 404 before any model runs
        return names

    def console(self, log: RequestLog, body: bytes, model: str, version: str) -> Answered:
        """The console's call: instances of ``feature_num`` features, dense or libsvm."""
        payload = decode(body)
        if type(payload) is not dict:
            raise InvalidInputError('the body must be a JSON object with "type" and "data"')
        kind = payload.get("type", "dense")
        if kind not in ("dense", "libsvm"):
            raise InvalidInputError(f'"type" must be "dense" or "libsvm", not {kind!r}'[:200])
        data = payload.get("data")
        insts = data.get("insts") if type(data) is dict else None
        if type(insts) is not list or not 1 <= len(insts) <= self.max_rows:
            raise InvalidInputError(
                f'"data.insts" must be a list of 1 to {self.max_rows} instances'
            )
        chosen = self.predictions.route(log, model, version)
        width = chosen.manifest.n_features
        feature_num = payload.get("feature_num", width)
        if feature_num != width or type(feature_num) is not int:
            raise InvalidInputError(
                f'"feature_num" is {feature_num!r}; model {chosen.name} version '
                f"{chosen.version} takes {width} features"[:300]
            )
        if kind == "dense":
            rows = rows_of({"data": insts}, width, self.max_rows, log.endpoint)
        else:
            rows = [_libsvm(i, inst, width) for i, inst in enumerate(insts)]
        return self.predictions.answer(log, chosen, rows, _console_answer)


def _console_answer(log: RequestLog, chosen: ModelVersion) -> dict[str, Any]:
    """The console's success answer."""
    return {
        "message": "SUCCESS",
        "code": 0,
        "data": {"insts": log.results},
        "job_id": log.job_id,
        "model": chosen.name,
        "version": chosen.version,
    }


def elb_healthcheck(
    predictions: PredictionHandler, metrics: ApiMetrics, host: str
) -> tuple[int, dict[str, Any]]:
    """``GET /elb-healthcheck``: 200 while every version is loaded (else 503), with uptime,
    capacity (workers, ready versions, rows per request) and requests per model per worker."""
    registry = predictions.registry
    ready = registry.ready
    report = stats.stats(metrics, host)
    versions = {
        name: [mv.version for mv in registry.versions(name) if mv.ready]
        for name in (registry.names() if ready else [])
    }
    answer = {
        "status": "ok" if ready else "unavailable",
        "host": host,
        "uptime_seconds": report["uptime_seconds"],
        "capacity": {
            "workers": len(report["workers"]),
            "models": versions,
            "max_rows": predictions.limits.max_rows,
        },
        "requests": report["requests"],
        "requests_total": report["requests_total"],
        "workers": report["workers"],
    }
    return (200 if ready else 503), answer


def _child(parent: RequestLog) -> RequestLog:
    """One model's call of a fan-out: a job_id of its own, the parent's id and headers."""
    child = RequestLog(new_job_id(), parent.method, parent.endpoint)
    child.request_id = parent.request_id
    child.sticky = parent.sticky
    child.authorization = parent.authorization
    child.content_type = parent.content_type
    return child


def _fanned(child: RequestLog) -> dict[str, Any]:
    results = child.results or []
    one = len(results) == 1
    predictions = [r["prediction"] for r in results]
    return {
        "prediction": predictions[0] if one else predictions,
        "is_outlier": results[0]["is_outlier"] if one else [r["is_outlier"] for r in results],
        "outlier_score": (
            results[0]["outlier_score"] if one else [r["outlier_score"] for r in results]
        ),
        "version": child.version,
        "job_id": child.job_id,
    }


def _error(exc: ServiceError) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": exc.message, "status": exc.status_code}


def _libsvm(i: int, inst: Any, width: int) -> list[float]:
    """``"1:5.1 3:1.4"`` (1-based indexes; features left out are 0; a leading label is
    ignored) as a row of ``width`` values."""
    if type(inst) is not str:
        raise InvalidInputError(f'data.insts[{i}] must be a libsvm string such as "1:5.1 2:3.5"')
    row = [0.0] * width
    seen: set[int] = set()
    tokens = inst.split()
    if tokens and ":" not in tokens[0]:
        tokens = tokens[1:]  # the label of a libsvm line
    for token in tokens:
        index, _, text = token.partition(":")
        try:
            k, value = int(index), float(text)
        except ValueError:
            raise InvalidInputError(f"data.insts[{i}]: {token[:40]!r} is not index:value") from None
        if not 1 <= k <= width or k in seen:
            raise InvalidInputError(
                f"data.insts[{i}]: feature index {k} is repeated or outside 1..{width}"
            )
        if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise InvalidInputError(
                f"data.insts[{i}]: feature {k} = {text[:20]} is not a finite float32"
            )
        seen.add(k)
        row[k - 1] = value
    return row
