"""The model runtime interface (load / predict / unload / ready) and its ONNX backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True, slots=True)
class Output:
    """What one ``predict`` call returns, one entry per input row."""

    proba: F32
    """float32 (n, n_labels) class probabilities."""
    label_index: I64
    """int64 (n,) index into ``manifest.labels`` (the most probable class)."""
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
        """Class probabilities (n, n_labels) and the most probable class index per row."""
        raise NotImplementedError

    def score_outliers(self, batch: F32) -> F64:
        """Outlier scores in [0, 1] per row."""
        raise NotImplementedError

    def unload(self) -> None:
        """Called at shutdown or when the version is retired: release resources, clear ``ready``."""
        self.ready = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}:{self.version} ready={self.ready}>"


class OnnxModelVersion(ModelVersion):
    """A bundle directory served with onnxruntime: classifier graph plus outlier detector."""

    def __init__(self, bundle_dir: Path, manifest: BundleManifest | None = None) -> None:
        self.bundle_dir = Path(bundle_dir)
        super().__init__(manifest if manifest is not None else load_manifest(self.bundle_dir))
        self._run_classifier: _Classifier | None = None
        self._scorer: OutlierScorer | None = None

    def load(self) -> None:
        """Open the onnxruntime session and the detector; check the graph against the manifest."""
        if self.ready:
            return
        classifier = _Classifier(self.bundle_dir, self.manifest)
        scorer = load_scorer(self.bundle_dir, self.manifest)
        # one warm-up call: onnxruntime allocates its arenas lazily, keep that off the first request
        probe = np.zeros((1, self.manifest.n_features), dtype=np.float32)
        proba, _ = classifier(probe)
        if proba.shape != (1, len(self.manifest.labels)):
            raise BundleError(
                f"{self.bundle_dir}: {self.manifest.proba_output} has shape {proba.shape}, "
                f"expected (1, {len(self.manifest.labels)})"
            )
        scorer.score(probe)
        self._run_classifier, self._scorer = classifier, scorer
        self.ready = True

    def classify(self, batch: F32) -> tuple[F32, I64]:
        if self._run_classifier is None:
            raise ModelNotReadyError(f"model {self.name} version {self.version} is not loaded")
        return self._run_classifier(batch)

    def score_outliers(self, batch: F32) -> F64:
        if self._scorer is None:
            raise ModelNotReadyError(f"model {self.name} version {self.version} is not loaded")
        return self._scorer.score(batch)

    def unload(self) -> None:
        """Drop the session and the detector (requests in flight keep their own references)."""
        self.ready = False
        self._run_classifier = None
        self._scorer = None


class _Classifier:
    """An onnxruntime session bound to its input and probability output names."""

    def __init__(self, bundle_dir: Path, manifest: BundleManifest) -> None:
        self.session = open_session(bundle_dir / manifest.model_file)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [manifest.input_name] or manifest.proba_output not in outputs:
            raise BundleError(
                f"{bundle_dir}: graph inputs {inputs} / outputs {outputs} do not match the "
                f"manifest ({manifest.input_name!r} -> {manifest.proba_output!r})"
            )
        self.input_name = manifest.input_name
        # asking for the probabilities alone lets onnxruntime skip the label branch's output copy
        self.output_names = [manifest.proba_output]

    def __call__(self, batch: F32) -> tuple[F32, I64]:
        (proba,) = self.session.run(self.output_names, {self.input_name: batch})
        return proba, proba.argmax(axis=1)
