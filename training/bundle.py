"""Write a model bundle: a model's ONNX graph, a detector, labels, statistics, manifest.

The layout and the manifest are what ``api.runtime.bundle`` reads (docs/models.md). Files
are written deterministically (fixed ONNX opsets: ``export``; no timestamps in the npz zip:
``contents``), the bundle is built in a hidden sibling directory, loaded once through the
api's own runtime and compared with the scikit-learn model, when there is one (``verify``),
then renamed into place.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from api.runtime.bundle import MANIFEST, BundleManifest, DetectorSpec, load_manifest, sha256_file
from training.contents import feature_stats, sample_rows, trained_with, write_json, write_npz
from training.detectors import FittedDetector
from training.export import OPSETS, default_opset, export_classifier
from training.graphs import LABEL_OUTPUT, OUTLIER_OUTPUT, SCORE_OUTPUT, combined_model
from training.verify import TOLERANCE, check_bundle

F64 = npt.NDArray[np.float64]


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
