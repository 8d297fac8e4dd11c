"""Inference and metadata handlers: plain classes a test calls without HTTP.

A handler chooses the model version, validates the rows, runs the model, fills the request's
``RequestLog`` (what the record will say) and returns the response body as a dict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from api.errors import InvalidInputError
from api.inputs import decode, rows_of, to_array
from api.metrics import ApiMetrics
from api.records import RequestLog
from api.runtime.model import ModelVersion, Output
from api.runtime.registry import ModelRouter
from api.runtime.remote import RemoteModelVersion
from api.schemas import MAX_NAME

Answered = dict[str, Any] | Coroutine[Any, Any, dict[str, Any]]
"""A handler's answer: the body, or (a remote version, on the event loop) a coroutine that
awaits the upstream and gives the body."""
Shape = Callable[[RequestLog, ModelVersion], dict[str, Any]]


async def resolved(answered: Answered) -> dict[str, Any]:
    """The body of ``answered``, awaiting a remote version's upstream if need be."""
    return answered if isinstance(answered, dict) else await answered


@dataclass(frozen=True, slots=True)
class Limits:
    """Row limits per endpoint family."""

    max_rows: int
    max_batch_rows: int


class PredictionHandler:
    """Runs predictions for the /predict family and shapes their answers."""

    def __init__(
        self,
        registry: ModelRouter,
        limits: Limits,
        metrics: ApiMetrics,
        authorize: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.metrics = metrics
        self.authorize = authorize
        """(model, Authorization header) -> None, or 401/403 (a group's predict key)."""

    def route(self, log: RequestLog, model: str | None, version: str | None) -> ModelVersion:
        """The version that answers ``log``: pinned by the query or ``X-Model-Version``, else
        sticky or weighted; notes the choice in ``log``."""
        pinned = version if version is not None else log.pinned
        if pinned is not None and len(pinned) > MAX_NAME:
            raise InvalidInputError(f"X-Model-Version is longer than {MAX_NAME} characters")
        chosen, routing = self.registry.choose(model, pinned, log.sticky)
        log.model, log.version, log.routing = chosen.name, chosen.version, routing
        if self.authorize is not None:
            self.authorize(chosen.name, log.authorization)
        return chosen

    def accept(
        self,
        log: RequestLog,
        body: bytes,
        model: str | None,
        version: str | None,
        max_rows: int,
        needs_labels: bool = False,
    ) -> tuple[ModelVersion, list[list[float]]]:
        """Choose a version and validate ``body``'s rows against it; fills ``log``'s routing."""
        chosen = self.route(log, model, version)
        if needs_labels and chosen.manifest.is_regressor:
            raise InvalidInputError(
                f"model {chosen.name} version {chosen.version} is a regressor: no labels "
                "(POST /predict answers its values)"
            )
        return chosen, rows_of(decode(body), chosen.manifest.n_features, max_rows, log.endpoint)

    def answer(
        self, log: RequestLog, chosen: ModelVersion, rows: list[list[float]], shape: Shape
    ) -> Answered:
        """``shape``'s body once ``rows`` are predicted: at once by a local version, awaited
        (a coroutine for the event loop) by a remote one."""
        if chosen.remote:
            return self._later(log, chosen, rows, shape)
        self.infer_rows(log, chosen, rows)
        return shape(log, chosen)

    async def _later(
        self, log: RequestLog, chosen: ModelVersion, rows: list[list[float]], shape: Shape
    ) -> dict[str, Any]:
        await self.infer_remote(log, chosen, rows)
        return shape(log, chosen)

    def infer_rows(
        self, log: RequestLog, chosen: ModelVersion, rows: list[list[float]]
    ) -> tuple[ModelVersion, Output, int]:
        """Predict already-checked rows with ``chosen``; fills inputs, results and timings
        (a remote version blocks this thread: never call it so on the event loop)."""
        batch = to_array(rows)
        log.inputs = rows
        started = time.perf_counter()
        if chosen.remote:
            out, log.upstream_ms = chosen.call(batch)
        else:
            out = chosen.predict(batch)
        log.inference_ms = (time.perf_counter() - started) * 1000.0
        return chosen, out, self.fill(log, chosen, out)

    async def infer_remote(
        self, log: RequestLog, chosen: ModelVersion, rows: list[list[float]]
    ) -> tuple[ModelVersion, Output, int]:
        """``infer_rows`` for a remote version on the event loop: awaits the upstream."""
        batch = to_array(rows)
        log.inputs = rows
        started = time.perf_counter()
        out, log.upstream_ms = await chosen.acall(batch)
        log.inference_ms = (time.perf_counter() - started) * 1000.0
        return chosen, out, self.fill(log, chosen, out)

    def fill(self, log: RequestLog, chosen: ModelVersion, out: Output) -> int:
        """The record's results from ``out``; counts the rows; the number of rows."""
        labels = chosen.manifest.labels
        scores: list[Any] = out.outlier_score.tolist()
        flags: list[Any] = out.is_outlier.tolist()
        n = len(out.proba)
        if len(flags) == n:
            flagged = sum(flags)
        else:  # a version without a detector: no outlier fields
            scores = flags = [None] * n
            flagged = 0
        if chosen.manifest.is_regressor:  # one value per row, no label
            log.results = [
                {"prediction": p, "outlier_score": s, "is_outlier": f}
                for p, s, f in zip(out.proba.tolist(), scores, flags, strict=True)
            ]
        else:
            log.results = [
                {"prediction": p, "label": labels[k], "outlier_score": s, "is_outlier": f}
                for p, k, s, f in zip(
                    out.proba.tolist(), out.label_index.tolist(), scores, flags, strict=True
                )
            ]
        self.metrics.observe_rows(chosen.name, chosen.version, n, flagged)
        return n

    def predict(
        self, log: RequestLog, body: bytes, model: str | None, version: str | None
    ) -> Answered:
        """``POST /predict``: probabilities, outlier flag and score (per row if several)."""
        chosen, rows = self.accept(log, body, model, version, self.limits.max_rows)
        return self.answer(log, chosen, rows, _probabilities)

    def predict_label(
        self, log: RequestLog, body: bytes, model: str | None, version: str | None
    ) -> Answered:
        """``POST /predict/label``: the most probable label and its probability (a regressor
        has no labels: 422)."""
        chosen, rows = self.accept(
            log, body, model, version, self.limits.max_rows, needs_labels=True
        )
        return self.answer(log, chosen, rows, _labels)

    def predict_batch(
        self, log: RequestLog, body: bytes, model: str | None, version: str | None
    ) -> dict[str, Any]:
        """``POST /predict/batch``: one result object per row, up to ``max_batch_rows``
        (run in a thread: a remote version's call blocks it, not the event loop)."""
        chosen, rows = self.accept(log, body, model, version, self.limits.max_batch_rows)
        self.infer_rows(log, chosen, rows)
        return {
            "job_id": log.job_id,
            "model": chosen.name,
            "version": chosen.version,
            "results": log.results,
        }

    def predict_test(self, log: RequestLog, model: str | None, version: str | None) -> Answered:
        """``GET /predict/test``: ``/predict`` on the model's sample row."""
        chosen = self.route(log, model, version)
        return self.answer(log, chosen, [sample_row(chosen)], _probabilities)


def _probabilities(log: RequestLog, chosen: ModelVersion) -> dict[str, Any]:
    return _answer(log, chosen, [r["prediction"] for r in log.results or ()])


def _labels(log: RequestLog, chosen: ModelVersion) -> dict[str, Any]:
    predictions = [{"proba": max(r["prediction"]), "label": r["label"]} for r in log.results or ()]
    return _answer(log, chosen, predictions)


def _answer(log: RequestLog, chosen: ModelVersion, predictions: list[Any]) -> dict[str, Any]:
    """The prediction-log pattern's answer: flat fields for one row, lists for several."""
    results = log.results or []
    n = len(results)
    if n == 1:  # the prediction-log pattern's shape: one row, flat fields
        return {
            "job_id": log.job_id,
            "prediction": predictions[0],
            "is_outlier": results[0]["is_outlier"],
            "outlier_score": results[0]["outlier_score"],
            "model": chosen.name,
            "version": chosen.version,
        }
    return {
        "job_id": log.job_id,
        "prediction": predictions,
        "is_outlier": [r["is_outlier"] for r in results],
        "outlier_score": [r["outlier_score"] for r in results],
        "model": chosen.name,
        "version": chosen.version,
    }


def sample_row(version: ModelVersion) -> list[float]:
    """A typical input row: the training mean of each feature, rounded for readability."""
    return [round(s.mean, 1) for s in version.manifest.feature_stats]


class MetadataHandler:
    """Answers /metadata and /label from the registry (computed once per generation)."""

    def __init__(self, registry: ModelRouter) -> None:
        self.registry = registry
        self._metadata: tuple[int, dict[str, Any]] | None = None

    def labels(self, model: str | None = None, version: str | None = None) -> dict[str, str]:
        """``GET /label``: class index -> label of a model version (default: the default model)."""
        chosen, _ = self.registry.choose(model, version)
        return {str(i): label for i, label in enumerate(chosen.manifest.labels)}

    def metadata(self) -> dict[str, Any]:
        """``GET /metadata``: the pattern's fields for the default model, plus what is served."""
        generation = self.registry.generation
        if self._metadata is None or self._metadata[0] != generation:
            self._metadata = (generation, self._build())
        return self._metadata[1]

    def _build(self) -> dict[str, Any]:
        registry = self.registry
        default = registry.versions(registry.default_name)[0]
        manifest = default.manifest
        sample = sample_row(default)
        out = (
            default.probe_answer  # asked at load: /metadata never waits for an upstream
            if isinstance(default, RemoteModelVersion) and default.probe_answer is not None
            else default.predict(to_array([sample]))
        )
        # a regressor answers one value per row
        n_labels = 1 if manifest.is_regressor else len(manifest.labels)
        return {
            "data_type": manifest.dtype,
            "data_structure": f"(1,{manifest.n_features})",
            "data_sample": [sample],
            "prediction_type": "float32",
            "prediction_structure": f"(1,{n_labels})",
            "prediction_sample": out.proba[0].tolist(),
            "outlier_type": "bool, float32",
            "outlier_structure": "(1,2)",
            "outlier_sample": (  # none from a remote version without a detector
                [bool(out.is_outlier[0]), float(out.outlier_score[0])]
                if len(out.outlier_score)
                else [None, None]
            ),
            "default_model": registry.default_name,
            "feature_names": manifest.feature_names,
            "labels": {str(i): label for i, label in enumerate(manifest.labels)},
            "outlier_threshold": manifest.outlier_threshold,
            "models": {
                name: {
                    "versions": [v.version for v in registry.versions(name)],
                    "weights": registry.weights(name),
                }
                for name in registry.names()
            },
            # the drift histograms stay in the bundle: /metadata keeps its shape
            "feature_stats": [
                s.model_dump(exclude={"bin_edges", "bin_counts"}) for s in manifest.feature_stats
            ],
            "sample_rows": manifest.sample_rows,
        }
