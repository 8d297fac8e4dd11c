"""The model bundle on disk: ``<root>/<name>/<version>/`` with a manifest that lists its files.

Layout (see docs/models.md)::

    <root>/<name>/<version>/manifest.json   this model, the file checksums
                           /model.onnx      classifier: float32 (n, n_features) -> probabilities
                                            (and, when combined, label index, outlier score, flag)
                           /detector.npz    outlier detector parameters (or detector.onnx)
                           /labels.json     {"0": "setosa", ...}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from api.errors import BundleError

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1


class FeatureStats(BaseModel):
    """Training statistics of one input feature (drift checks, load generation)."""

    model_config = ConfigDict(frozen=True)

    name: str
    mean: float
    std: float
    min: float
    max: float


class DetectorSpec(BaseModel):
    """How the outlier detector is stored and how its raw score maps into [0, 1]."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    file: str
    """Bundle-relative path: ``*.npz`` (numpy parameters) or ``*.onnx`` (output 0 = raw score)."""
    kind: Literal["knn", "mahalanobis", "onnx"]
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


class BundleManifest(BaseModel):
    """``manifest.json``: what a bundle holds and what its files' checksums are."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = SCHEMA_VERSION
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    feature_names: list[str] = Field(min_length=1)
    input_shape: list[int | None]
    dtype: Literal["float32"] = "float32"
    labels: list[str] = Field(min_length=1)
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
    label_output: str | None = None
    """Graph output with the most probable class index, int64 (n,); None: argmax of the
    probabilities."""
    score_output: str | None = None
    """Graph output with the outlier score in [0, 1], float64 (n,), when the graph embeds the
    detector (one onnxruntime call per request); None: the detector file scores."""
    outlier_output: str | None = None
    """Graph output with the outlier flag, bool (n,), ``score >= outlier_threshold`` (only with
    ``score_output``); None: compared here."""
    detector: DetectorSpec
    trained_with: dict[str, str] = Field(default_factory=dict)
    """Package versions the bundle was trained and exported with."""

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return len(self.feature_names)

    @model_validator(mode="after")
    def _consistent(self) -> BundleManifest:
        if self.input_shape[1:] != [self.n_features]:
            raise ValueError(f"input_shape {self.input_shape} does not match feature_names")
        if [s.name for s in self.feature_stats] != self.feature_names:
            raise ValueError("feature_stats must list feature_names in order")
        if self.outlier_output is not None and self.score_output is None:
            raise ValueError("outlier_output needs score_output")
        for required in (self.model_file, self.labels_file, self.detector.file):
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
    """``labels.json`` as a list ordered by class index; BundleError if it disagrees."""
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
