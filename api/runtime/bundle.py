"""The model bundle on disk: ``<root>/<name>/<version>/`` with a manifest that lists its files.

Layout (see docs/models.md)::

    <root>/<name>/<version>/manifest.json   this model, the file checksums
                           /model.onnx      classifier: float32 (n, n_features) -> probabilities;
                                            regressor: -> values (n, 1) (and, when combined,
                                            label index, outlier score, flag)
                           /detector.npz    outlier detector parameters (or detector.onnx)
                           /labels.json     {"0": "setosa", ...} (classifiers only)
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from api.errors import BundleError

MANIFEST = "manifest.json"
ENDPOINT = r"^https?://[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(/[A-Za-z0-9._~\-/]*)?$"
"""A remote endpoint's base URL: scheme, host, port, an optional path prefix."""
SCHEMA_VERSION = 1


class FeatureStats(BaseModel):
    """Training statistics of one input feature (drift checks, load generation)."""

    model_config = ConfigDict(frozen=True)

    name: str
    mean: float
    std: float
    min: float
    max: float
    bin_edges: list[float] | None = None
    """Reference histogram for drift: increasing bin edges (``np.histogram``'s convention,
    the last bin closed); None in bundles written before they were kept."""
    bin_counts: list[int] | None = None
    """Training rows per bin of ``bin_edges`` (one fewer than the edges)."""

    @model_validator(mode="after")
    def _bins(self) -> FeatureStats:
        edges, counts = self.bin_edges, self.bin_counts
        if (edges is None) != (counts is None):
            raise ValueError(f"feature {self.name!r}: bin_edges and bin_counts go together")
        if edges is not None and counts is not None:
            if len(edges) < 2 or len(counts) != len(edges) - 1:
                raise ValueError(
                    f"feature {self.name!r}: {len(edges)} bin edges need {len(edges) - 1} "
                    f"counts, not {len(counts)}"
                )
            if any(b <= a for a, b in itertools.pairwise(edges)):
                raise ValueError(f"feature {self.name!r}: bin_edges must increase")
        return self


class DetectorSpec(BaseModel):
    """How the outlier detector is stored and how its raw score maps into [0, 1]."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    file: str
    """Bundle-relative path: ``*.npz`` (numpy parameters) or ``*.onnx`` (output 0 = raw score)."""
    kind: Literal["knn", "mahalanobis", "hbos", "onnx"]
    """Scoring function: the npz kinds are implemented in ``api.runtime.outlier``."""
    algorithm: str = ""
    """What it was trained with, for people (e.g. ``pyod.models.knn.KNN``)."""
    contamination: float = 0.0
    """The training-set outlier fraction the threshold was chosen from."""
    raw_threshold: float
    """The detector's threshold in raw-score space (pyod ``threshold_``)."""
    center: float
    """Raw score that maps to 0.5: ``score = 1 / (1 + exp(-slope * (raw - center)))``."""
    slope: float = Field(gt=0)
    """Steepness of that logistic map, in 1 / raw-score units."""


class RemoteSpec(BaseModel):
    """A remote version's backend: HTTP endpoints that serve the model (``predlog models
    deploy --remote``); the bundle then brings no graph, and a detector only if it wants
    one scored here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoints: list[Annotated[str, Field(pattern=ENDPOINT, max_length=256)]] = Field(
        min_length=1, max_length=32
    )
    """Base URLs, ``http://host:port`` (a path prefix allowed), one per upstream server."""
    protocol: Literal["oip", "predict"] = "oip"
    """``oip``: Open Inference Protocol v2 (``/v2/models/{model}/infer``, health
    ``/v2/health/ready``); ``predict``: the microservice pattern's ``/predict`` and ``/health``."""
    model: str | None = Field(default=None, min_length=1, max_length=128)
    """The model's name upstream (OIP's path); default: this version's model name."""
    model_version: str | None = Field(default=None, min_length=1, max_length=128)
    """The upstream version to call (OIP's ``/versions/{v}``); default: none named."""


class BundleManifest(BaseModel):
    """``manifest.json``: what a bundle holds and what its files' checksums are."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = SCHEMA_VERSION
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    task: Literal["classification", "regression"] = "classification"
    """A classifier answers class probabilities and a label per row; a regressor one value."""
    feature_names: list[str] = Field(min_length=1)
    input_shape: list[int | None]
    dtype: Literal["float32"] = "float32"
    labels: list[str] = Field(default_factory=list)
    """Class names by index (a classifier has at least one; a regressor none)."""
    outlier_threshold: float = Field(ge=0, le=1)
    """``is_outlier = outlier_score >= outlier_threshold`` (score space, [0, 1])."""
    feature_stats: list[FeatureStats]
    sample_rows: list[list[float]] = Field(default_factory=list)
    """Real training rows (at most a few hundred): the load generator's normal rows."""
    files: dict[str, str]
    """Bundle-relative path -> sha256 hex digest, for every file but the manifest."""
    model_file: str = "model.onnx"
    labels_file: str = "labels.json"
    input_name: str = "input"
    """Name of the classifier graph's float32 input."""
    proba_output: str = "probabilities"
    """Name of the classifier graph's (n, n_labels) probability output."""
    value_output: str = "variable"
    """Name of the regressor graph's float32 (n, 1) output of predicted values."""
    label_output: str | None = None
    """Graph output with the most probable class index, int64 (n,); None: argmax of the
    probabilities."""
    score_output: str | None = None
    """Graph output with the outlier score in [0, 1], float64 (n,), when the graph embeds the
    detector (one onnxruntime call per request); None: the detector file scores."""
    outlier_output: str | None = None
    """Graph output with the outlier flag, bool (n,), ``score >= outlier_threshold`` (only with
    ``score_output``); None: compared here."""
    detector: DetectorSpec | None = None
    """The outlier detector; only a remote version may have none (its rows then carry no
    outlier score)."""
    remote: RemoteSpec | None = None
    """Set for a remote version: the endpoints that answer instead of ``model_file``."""
    trained_with: dict[str, str] = Field(default_factory=dict)
    """Package versions the bundle was trained and exported with."""
    training_metrics: dict[str, float] = Field(default_factory=dict)
    """Scores on the training data when its target was given: ``accuracy`` (classifier),
    ``r2`` and ``mae`` (regressor); empty otherwise."""

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return len(self.feature_names)

    @property
    def is_regressor(self) -> bool:
        """Whether the model answers one value per row (no labels)."""
        return self.task == "regression"

    @property
    def prediction_output(self) -> str:
        """The graph output ``predict`` answers: probabilities, or a regressor's values."""
        return self.value_output if self.is_regressor else self.proba_output

    @model_validator(mode="after")
    def _consistent(self) -> BundleManifest:
        if self.input_shape[1:] != [self.n_features]:
            raise ValueError(f"input_shape {self.input_shape} does not match feature_names")
        if [s.name for s in self.feature_stats] != self.feature_names:
            raise ValueError("feature_stats must list feature_names in order")
        if self.outlier_output is not None and self.score_output is None:
            raise ValueError("outlier_output needs score_output")
        if self.is_regressor and (self.labels or self.label_output is not None):
            raise ValueError("a regressor has no labels (nor a label_output)")
        if not self.is_regressor and not self.labels:
            raise ValueError("a classifier needs labels")
        if self.detector is None and self.remote is None:
            raise ValueError("a bundle served here needs a detector (only a remote one may not)")
        required_files = [] if self.remote is not None else [self.model_file]
        if self.detector is not None:
            required_files.append(self.detector.file)
        if not self.is_regressor:
            required_files.append(self.labels_file)
        for required in required_files:
            if required not in self.files:
                raise ValueError(f"files has no checksum for {required!r}")
        return self


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(bundle_dir: Path) -> BundleManifest:
    """Parse ``manifest.json`` without looking at the other files; BundleError if unreadable."""
    path = bundle_dir / MANIFEST
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        return BundleManifest.model_validate(raw)
    except FileNotFoundError as exc:
        raise BundleError(f"{bundle_dir}: no {MANIFEST}") from exc
    except (OSError, ValueError, ValidationError) as exc:
        # ValidationError is a ValueError; both mean a manifest that cannot be served
        raise BundleError(f"{path}: invalid manifest: {exc}") from exc


def verify_files(bundle_dir: Path, manifest: BundleManifest) -> None:
    """Check that every listed file exists inside the bundle and has its recorded sha256."""
    root = bundle_dir.resolve()
    for rel, expected in manifest.files.items():
        path = (bundle_dir / rel).resolve()
        if not path.is_relative_to(root):
            raise BundleError(f"{bundle_dir}: file {rel!r} lies outside the bundle")
        if not path.is_file():
            raise BundleError(f"{bundle_dir}: missing file {rel!r}")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"{bundle_dir}: checksum mismatch for {rel!r} (manifest {expected[:12]}..., "
                f"file {actual[:12]}...)"
            )


def read_labels(bundle_dir: Path, manifest: BundleManifest) -> list[str]:
    """``labels.json`` as a list ordered by class index; BundleError if it disagrees.

    A regressor has no labels file: its labels are the empty list."""
    if manifest.is_regressor:
        return []
    path = bundle_dir / manifest.labels_file
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        labels = [str(raw[str(i)]) for i in range(len(raw))]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path}: not a {{'0': label, ...}} map: {exc}") from exc
    if labels != manifest.labels:
        raise BundleError(f"{path}: labels {labels} differ from the manifest's {manifest.labels}")
    return labels


def load_manifest(bundle_dir: Path) -> BundleManifest:
    """Read a bundle's manifest and verify its files and labels; raise BundleError if not sound."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    verify_files(bundle_dir, manifest)
    read_labels(bundle_dir, manifest)
    return manifest


def find_bundles(root: Path) -> list[Path]:
    """Bundle directories ``root/<name>/<version>/`` that hold a manifest, sorted."""
    found = (p.parent for p in Path(root).glob(f"*/*/{MANIFEST}"))
    # dot-directories are bundles being written (training builds them aside, then renames)
    return sorted(
        p for p in found if not p.name.startswith(".") and not p.parent.name.startswith(".")
    )
