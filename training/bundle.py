"""Write a model bundle: a model's ONNX graph, a detector, labels, statistics, manifest.

The layout and the manifest are what ``api.runtime.bundle`` reads (docs/models.md). Files
are written deterministically (fixed ONNX opsets, no timestamps in the npz zip), the bundle
is built in a hidden sibling directory, loaded once through the api's own runtime and
compared with the scikit-learn model (when there is one), then renamed into place.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

from api.runtime.bundle import (
    MANIFEST,
    BundleManifest,
    DetectorSpec,
    FeatureStats,
    load_manifest,
    sha256_file,
)
from api.runtime.model import OnnxModelVersion
from api.runtime.outlier import unit_score
from training.detectors import FittedDetector
from training.graphs import LABEL_OUTPUT, OUTLIER_OUTPUT, SCORE_OUTPUT, combined_model

F64 = npt.NDArray[np.float64]
OPSETS = {"": 17, "ai.onnx.ml": 3}
"""Pinned so that the exported graphs do not change with the converter's newest opset."""
SAMPLE_ROWS = 200
"""How many real training rows a bundle carries (``sample_rows`` in its manifest)."""
HISTOGRAM_BINS = 10
"""Reference histogram bins per feature (``bin_edges``, from training quantiles)."""
TOLERANCE = 1e-4
"""Largest gap allowed between the bundle's answers and the estimator's on the training rows:
absolute for probabilities, relative to max(1, |value|) for a regressor's values."""
TRAINED_WITH = ("numpy", "scikit-learn", "pyod", "skl2onnx", "onnx")


@dataclass(frozen=True)
class BundleSpec:
    """What a bundle is called and what its inputs and classes mean (a regressor: no labels)."""

    name: str
    version: str
    description: str
    feature_names: list[str]
    labels: list[str]
    task: Literal["classification", "regression"] = "classification"


@dataclass(frozen=True)
class GraphIO:
    """The names of a model graph's float32 input and of the output ``predict`` answers."""

    input_name: str = "input"
    output_name: str = "probabilities"
    """A classifier's (n, n_labels) probabilities, or a regressor's (n, 1) values."""


def export_classifier(classifier: Any, n_features: int) -> bytes:
    """A fitted scikit-learn classifier as ONNX bytes: float32 ``input`` -> ``probabilities``."""
    return export_model(classifier, n_features)


def export_model(estimator: Any, n_features: int, regression: bool = False) -> bytes:
    """A fitted scikit-learn estimator as ONNX bytes: float32 ``input`` -> ``probabilities``
    (a classifier) or ``variable`` (a regressor's (n, 1) values)."""
    with warnings.catch_warnings():
        # skl2onnx reads SVC attributes that scikit-learn 1.9 marks as deprecated
        warnings.simplefilter("ignore", FutureWarning)
        onx = to_onnx(
            estimator,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            options=None if regression else {"zipmap": False},
            target_opset=OPSETS,
        )
    data: bytes = onx.SerializeToString()
    return data


def write_npz(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Like ``np.savez`` but byte-for-byte reproducible (fixed zip timestamps, sorted names)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            zf.writestr(
                zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue()
            )


def write_json(path: Path, data: object) -> None:
    """Indented JSON with a final newline."""
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def feature_stats(x: F64, names: list[str], bins: int = HISTOGRAM_BINS) -> list[FeatureStats]:
    """Mean, population std, min, max and the reference histogram of every column."""
    stats = []
    for name, col in zip(names, x.T, strict=True):
        edges = reference_edges(col, bins)
        counts, _ = np.histogram(col, bins=np.asarray(edges))
        stats.append(
            FeatureStats(
                name=name,
                mean=float(col.mean()),
                std=float(col.std()),
                min=float(col.min()),
                max=float(col.max()),
                bin_edges=edges,
                bin_counts=[int(c) for c in counts],
            )
        )
    return stats


def reference_edges(col: F64, bins: int = HISTOGRAM_BINS) -> list[float]:
    """Up to ``bins`` + 1 increasing edges at the column's quantiles (so that the training rows
    spread evenly); repeated quantiles of a discrete column merge; a constant column gets
    one bin of width 1 around its value, as ``np.histogram`` would."""
    edges = np.unique(np.quantile(col, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return [float(e) for e in edges]


def sample_rows(x: F64, n: int = SAMPLE_ROWS) -> list[list[float]]:
    """Up to ``n`` training rows, drawn without replacement with a fixed seed (reproducible).

    Rounded to 6 decimals: the float32 training data widened to float64 would otherwise read
    5.099999904632568 for 5.1.
    """
    if len(x) > n:
        x = x[np.sort(np.random.default_rng(0).choice(len(x), size=n, replace=False))]
    return np.round(x, 6).tolist()  # type: ignore[no-any-return]


def trained_with() -> dict[str, str]:
    """Versions of the packages that trained and exported the bundle."""
    found = {}
    for package in TRAINED_WITH:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


def write_bundle(
    root: Path,
    spec: BundleSpec,
    x: F64,
    classifier: Any,
    detector: FittedDetector,
    detector_format: Literal["npz", "onnx"] = "npz",
    combined: bool = True,
) -> Path:
    """Export a fitted classifier and detector to ``root/<name>/<version>/``; returns that path.

    ``x`` is the training data (for the feature statistics and the export check). With
    ``combined`` (the default), ``model.onnx`` also embeds the detector and the threshold, so
    that the api answers a request with one onnxruntime call; the detector file is written
    either way (the runtime scores with it alone and checks the graph against it).
    """
    n_features = len(spec.feature_names)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(f"x has shape {x.shape}, expected (n, {n_features})")
    final = Path(root) / spec.name / spec.version
    graph = export_classifier(classifier, n_features)
    expected = np.asarray(classifier.predict_proba(x), dtype=np.float64)
    path, _ = build_bundle(
        final,
        spec,
        x,
        graph,
        detector,
        expected=expected,
        detector_format=detector_format,
        combined=combined,
    )
    return path


def build_bundle(
    final: Path,
    spec: BundleSpec,
    x: F64,
    graph: bytes,
    detector: FittedDetector,
    *,
    expected: F64 | None,
    tolerance: float = TOLERANCE,
    io: GraphIO | None = None,
    detector_format: Literal["npz", "onnx"] = "npz",
    combined: bool = True,
    training_metrics: dict[str, float] | None = None,
) -> tuple[Path, float | None]:
    """Write the bundle of an ONNX model graph and a fitted detector to the directory ``final``
    (replacing a bundle there); returns it and the largest gap to ``expected``.

    ``expected`` is what the estimator answers for ``x`` (a classifier's probabilities, a
    regressor's values); the bundle's answers must agree within ``tolerance`` (see TOLERANCE)
    or nothing is written. None: there is no estimator to compare with (the gap is None).
    The graph is combined with the detector when the detector has ONNX nodes and the graph's
    default opset is the one those nodes are written for.
    """
    n_features = len(spec.feature_names)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(f"x has shape {x.shape}, expected (n, {n_features})")
    io = io or GraphIO(output_name="variable" if spec.task == "regression" else "probabilities")
    regression = spec.task == "regression"
    if detector_format == "onnx" and not detector.has_onnx:
        raise ValueError(f"a {detector.kind} detector has no ONNX form: write it as npz")
    combined = combined and detector.has_onnx and default_opset(graph) == OPSETS[""]
    final = Path(final)
    work = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        if combined:
            graph = combined_model(graph, detector, io.input_name, io.output_name, regression)
        (work / "model.onnx").write_bytes(graph)
        detector_file = f"detector.{detector_format}"
        if detector_format == "onnx":
            (work / detector_file).write_bytes(detector.to_onnx())
        else:
            write_npz(work / detector_file, detector.params)
        files = ["model.onnx", detector_file]
        if not regression:
            labels = {str(i): label for i, label in enumerate(spec.labels)}
            write_json(work / "labels.json", labels)
            files.append("labels.json")
        manifest = BundleManifest(
            name=spec.name,
            version=spec.version,
            description=spec.description,
            task=spec.task,
            feature_names=spec.feature_names,
            input_shape=[None, n_features],
            dtype="float32",
            labels=[] if regression else spec.labels,
            outlier_threshold=detector.threshold,
            feature_stats=feature_stats(x, spec.feature_names),
            sample_rows=sample_rows(x),
            files={name: sha256_file(work / name) for name in files},
            input_name=io.input_name,
            proba_output="probabilities" if regression else io.output_name,
            value_output=io.output_name if regression else "variable",
            label_output=LABEL_OUTPUT if combined and not regression else None,
            score_output=SCORE_OUTPUT if combined else None,
            outlier_output=OUTLIER_OUTPUT if combined else None,
            detector=DetectorSpec(
                file=detector_file,
                kind="onnx" if detector_format == "onnx" else detector.kind,
                algorithm=detector.algorithm,
                contamination=detector.contamination,
                raw_threshold=detector.raw_threshold,
                center=detector.center,
                slope=detector.slope,
            ),
            trained_with=trained_with(),
            training_metrics=training_metrics or {},
        )
        write_json(work / MANIFEST, manifest.model_dump(mode="json"))
        gap = check_bundle(work, x, detector, expected, tolerance)
        _replace_dir(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final, gap


def default_opset(graph: bytes) -> int | None:
    """The default-domain opset a serialized ONNX graph imports (None: it imports none)."""
    model = onnx.load_model_from_string(graph)
    return next((op.version for op in model.opset_import if op.domain in ("", "ai.onnx")), None)


def check_bundle(
    bundle_dir: Path,
    x: F64,
    detector: FittedDetector,
    expected: F64 | None = None,
    tolerance: float = TOLERANCE,
) -> float | None:
    """Load the bundle with the api's runtime and compare it with the estimator's answers
    (``expected``, when given) and the pyod detector; returns the largest answer gap."""
    served = OnnxModelVersion(bundle_dir, load_manifest(bundle_dir))
    served.load()
    try:
        out = served.predict(x.astype(np.float32))
        gap = None
        if expected is not None:
            gaps = _gaps(served.manifest, out.proba, expected)
            gap = float(gaps.max())
            if not gap <= tolerance:
                what = "values" if served.manifest.is_regressor else "probabilities"
                row = int(np.argmax(gaps))
                raise RuntimeError(
                    f"{bundle_dir}: the ONNX graph's {what} differ from the estimator's by up "
                    f"to {gap:.3g} (training row {row}: ONNX {out.proba[row].tolist()}, "
                    f"estimator {np.asarray(expected)[row].tolist()}), more than the tolerance "
                    f"{tolerance:g}"
                )
        raw = served.manifest.detector
        assert raw is not None, "training always writes a detector"
        ref = detector.decision_function(x.astype(np.float32).astype(np.float64))
        ref_score = unit_score(ref, raw.center, raw.slope)
        # predict (the combined graph, when there is one) and the detector file alone
        for scores in (out.outlier_score, served.score_outliers(x.astype(np.float32))):
            score_gap = float(np.abs(scores - ref_score).max())
            if score_gap > 1e-6:
                raise RuntimeError(f"{bundle_dir}: outlier scores differ by {score_gap} from pyod")
        if (
            not served.manifest.is_regressor
            and not (out.label_index == out.proba.argmax(axis=1)).all()
        ):
            raise RuntimeError(f"{bundle_dir}: label_index is not the most probable class")
    finally:
        served.unload()
    return gap


def _gaps(manifest: BundleManifest, served: npt.NDArray[Any], expected: F64) -> F64:
    """Per row, how far the bundle's answer is from the estimator's (see TOLERANCE)."""
    served64 = np.asarray(served, dtype=np.float64)
    reference = np.asarray(expected, dtype=np.float64).reshape(served64.shape)
    diff = np.abs(served64 - reference)
    if manifest.is_regressor:
        diff = diff / np.maximum(1.0, np.abs(reference))
    out: F64 = diff.max(axis=1)
    return out


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``, replacing an older bundle there with two renames."""
    if dst.exists():
        old = dst.parent / f".{dst.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
        src.rename(dst)
        shutil.rmtree(old)
    else:
        src.rename(dst)


def describe(bundle_dir: Path) -> str:
    """A few lines for people: where the bundle is, what it holds, its outlier threshold."""
    manifest = load_manifest(bundle_dir)
    kind = "regressor" if manifest.is_regressor else f"labels {manifest.labels}"
    detector = manifest.detector
    assert detector is not None, "training always writes a detector"
    lines = [
        f"{manifest.name}:{manifest.version} -> {bundle_dir}",
        f"  {manifest.description}",
        f"  features {manifest.feature_names}, {kind}",
        f"  outlier threshold {manifest.outlier_threshold:.3f} ({detector.algorithm}, "
        f"contamination {detector.contamination})",
    ]
    lines += [
        f"  {name:<14} {(bundle_dir / name).stat().st_size:>8} B  sha256 {digest[:16]}"
        for name, digest in manifest.files.items()
    ]
    return "\n".join(lines)
