"""The model runtime interface (load / predict / unload / ready) and its ONNX backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from api.errors import BundleError, ModelNotReadyError
from api.runtime.bundle import BundleManifest, load_manifest
from api.runtime.outlier import OutlierScorer, load_scorer
from api.runtime.session import open_session

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

NO_LABELS: I64 = np.empty(0, dtype=np.int64)
"""A regressor's ``label_index``: no classes, so no index (and nothing to index labels with)."""
NO_LABELS.flags.writeable = False


@dataclass(frozen=True, slots=True)
class Output:
    """What one ``predict`` call returns, one entry per input row."""

    proba: F32
    """A classifier's float32 (n, n_labels) class probabilities; a regressor's float32 (n, 1)
    predicted values (the row's ``prediction`` either way)."""
    label_index: I64
    """int64 (n,) index into ``manifest.labels`` (the most probable class); a regressor's is
    ``NO_LABELS``, empty."""
    outlier_score: F64
    """float64 (n,) in [0, 1], higher = more unusual."""
    is_outlier: Bools
    """bool (n,): ``outlier_score >= manifest.outlier_threshold``."""


class ModelVersion:
    """One servable version of one model; one subclass per backend.

    The api builds every version when it starts, calls ``load`` once per worker process
    (in the lifespan), ``predict`` for every request while ``ready``, and ``unload`` at
    shutdown or when the version is retired.
    """

    remote = False
    """True for a version answered by upstream servers: the handlers then await ``acall``
    on the event loop (or block in ``call`` on a thread) instead of calling ``predict``."""

    def __init__(self, manifest: BundleManifest) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.version = manifest.version
        self.ready = False

    def load(self) -> None:
        """Called once per worker at startup: open what ``predict`` needs, then set ``ready``."""
        self.ready = True

    def predict(self, batch: F32) -> Output:
        """Called per request with a validated float32 (n, n_features) batch, only when ready."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)  # no copy when it already is
        proba, label_index = self.classify(batch)
        score = self.score_outliers(batch)
        return Output(proba, label_index, score, score >= self.manifest.outlier_threshold)

    def classify(self, batch: F32) -> tuple[F32, I64]:
        """Class probabilities (n, n_labels) and the most probable class index per row; a
        regressor's values (n, 1) and ``NO_LABELS``."""
        raise NotImplementedError

    def score_outliers(self, batch: F32) -> F64:
        """Outlier scores in [0, 1] per row."""
        raise NotImplementedError

    def unload(self) -> None:
        """Called at shutdown or when the version is retired: release resources, clear ``ready``."""
        self.ready = False

    def call(self, batch: F32) -> tuple[Output, float]:
        """A remote version's blocking call from a thread: the output and the upstream's ms."""
        raise NotImplementedError

    async def acall(self, batch: F32) -> tuple[Output, float]:
        """A remote version's call awaited on the event loop: the output and the upstream's ms."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}:{self.version} ready={self.ready}>"


class OnnxModelVersion(ModelVersion):
    """A bundle directory served with onnxruntime: classifier (or regressor) graph plus
    outlier detector.

    When the manifest names the graph's label, score and flag outputs (a combined graph, as
    ``predlog train`` writes), ``predict`` is one onnxruntime call; otherwise the detector
    file scores the rows and numpy fills in what the graph does not answer.
    """

    def __init__(self, bundle_dir: Path, manifest: BundleManifest | None = None) -> None:
        self.bundle_dir = Path(bundle_dir)
        super().__init__(manifest if manifest is not None else load_manifest(self.bundle_dir))
        self._graph: _Graph | None = None
        self._scorer: OutlierScorer | None = None

    def load(self) -> None:
        """Open the onnxruntime session and the detector; check the graph against the manifest."""
        if self.ready:
            return
        scorer = load_scorer(self.bundle_dir, self.manifest)
        graph = _Graph(self.bundle_dir, self.manifest, scorer)
        graph.check(self.bundle_dir, self.manifest)
        self._graph, self._scorer = graph, scorer
        self.ready = True

    def predict(self, batch: F32) -> Output:
        graph = self._graph
        if graph is None:
            raise ModelNotReadyError(f"model {self.name} version {self.version} is not loaded")
        return graph.predict(np.ascontiguousarray(batch, dtype=np.float32))

    def classify(self, batch: F32) -> tuple[F32, I64]:
        if self._graph is None:
            raise ModelNotReadyError(f"model {self.name} version {self.version} is not loaded")
        return self._graph.classify(np.ascontiguousarray(batch, dtype=np.float32))

    def score_outliers(self, batch: F32) -> F64:
        """Outlier scores from the detector file (the combined graph's are checked against it)."""
        if self._scorer is None:
            raise ModelNotReadyError(f"model {self.name} version {self.version} is not loaded")
        return self._scorer.score(np.ascontiguousarray(batch, dtype=np.float32))

    def unload(self) -> None:
        """Drop the session and the detector (requests in flight keep their own references)."""
        self.ready = False
        self._graph = None
        self._scorer = None


class _Graph:
    """An onnxruntime session bound to the manifest's input and output names."""

    def __init__(self, bundle_dir: Path, manifest: BundleManifest, scorer: OutlierScorer) -> None:
        self.session = open_session(bundle_dir / manifest.model_file)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        optional = (manifest.label_output, manifest.score_output, manifest.outlier_output)
        wanted = [manifest.prediction_output, *(name for name in optional if name is not None)]
        if inputs != [manifest.input_name] or not set(wanted) <= set(outputs):
            raise BundleError(
                f"{bundle_dir}: graph inputs {inputs} / outputs {outputs} do not match the "
                f"manifest ({manifest.input_name!r} -> {wanted})"
            )
        self.input_name = manifest.input_name
        self.scorer = scorer
        self.threshold = manifest.outlier_threshold
        # Fetch only what the manifest names: onnxruntime skips copying the other outputs.
        self.names = wanted
        self.classify_names = wanted[: 1 + (manifest.label_output is not None)]
        self.has_label = manifest.label_output is not None
        self.has_score = manifest.score_output is not None
        self.has_flag = manifest.outlier_output is not None
        self.regressor = manifest.is_regressor
        self.complete = self.has_label and self.has_score and self.has_flag
        self.complete_regressor = self.regressor and self.has_score and self.has_flag
        self.run = self.session.run

    def predict(self, batch: F32) -> Output:
        outs = self.run(self.names, {self.input_name: batch})
        if self.complete:  # the combined graph: everything came from the one call
            return Output(outs[0], outs[1], outs[2], outs[3])
        if self.complete_regressor:
            return Output(outs[0], NO_LABELS, outs[1], outs[2])
        proba = outs[0]
        label = NO_LABELS if self.regressor else outs[1] if self.has_label else proba.argmax(axis=1)
        if self.has_score:
            score = outs[1 + self.has_label]
            flag = outs[2 + self.has_label] if self.has_flag else score >= self.threshold
        else:
            score = self.scorer.score(batch)
            flag = score >= self.threshold
        return Output(proba, label, score, flag)

    def classify(self, batch: F32) -> tuple[F32, I64]:
        outs = self.run(self.classify_names, {self.input_name: batch})
        if self.regressor:
            return outs[0], NO_LABELS
        return outs[0], outs[1] if self.has_label else outs[0].argmax(axis=1)

    def check(self, bundle_dir: Path, manifest: BundleManifest) -> None:
        """Run a few rows once (onnxruntime allocates lazily: keep that off the first request)
        and check shapes, dtypes, and that an embedded detector agrees with the detector file."""
        stats = manifest.feature_stats
        mean = np.array([s.mean for s in stats])
        std = np.array([s.std for s in stats])
        probe = np.array([mean, np.zeros_like(mean), mean + 4 * std], dtype=np.float32)
        for rows in (probe[:1], probe):
            out = self.predict(rows)
            n = len(rows)
            # a regressor answers one value per row and no label index
            width, n_index = (1, 0) if manifest.is_regressor else (len(manifest.labels), n)
            expected: dict[str, tuple[npt.NDArray[Any], type[np.generic], tuple[int, ...]]] = {
                manifest.prediction_output: (out.proba, np.float32, (n, width)),
                manifest.label_output or "argmax": (out.label_index, np.int64, (n_index,)),
                manifest.score_output or "score": (out.outlier_score, np.float64, (n,)),
                manifest.outlier_output or "flag": (out.is_outlier, np.bool_, (n,)),
            }
            for name, (value, dtype, shape) in expected.items():
                if value.dtype != dtype or value.shape != shape:
                    raise BundleError(
                        f"{bundle_dir}: output {name!r} is {value.dtype} {value.shape}, "
                        f"expected {np.dtype(dtype)} {shape}"
                    )
            if self.has_score:
                gap = float(np.abs(out.outlier_score - self.scorer.score(rows)).max())
                if not gap <= 1e-6:
                    raise BundleError(
                        f"{bundle_dir}: the graph's {manifest.score_output!r} differs by {gap} "
                        f"from the detector file {manifest.detector and manifest.detector.file!r}"
                    )
            if not (out.is_outlier == (out.outlier_score >= self.threshold)).all():
                raise BundleError(
                    f"{bundle_dir}: the outlier flag disagrees with outlier_score >= "
                    f"{self.threshold}"
                )
